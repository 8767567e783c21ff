"""Split a whole article into passages, and a passage into sentences, with character offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Sentence ends: ., ! or ? (optionally followed by a closing quote or bracket) then space and a
# capital, digit or opening quote. Common abbreviations are not sentence ends.
_SENT_END = re.compile(r"(?<=[.!?])(?P<close>[\"'\u201d\u2019)\]]?)\s+(?=[A-Z0-9\"'\u201c\u2018(\[])")
_ABBREV = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof|Gen|Lt|Col|Sen|Rep|Gov|St|Jr|Sr|U\.S|U\.K|No|vs|e\.g|i\.e)\.$")
MAX_WORDS = 100  # ~128 word pieces: a passage longer than this is split at sentence boundaries
MIN_WORDS = 8  # a paragraph shorter than this (a dateline, a subhead, a one-line list item) joins the next one


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    source: str  # "title" or "text"


def sentences(text: str, base: int = 0) -> list[Span]:
    """Sentence spans of ``text`` (offsets shifted by ``base``); a line break always ends a sentence."""
    spans: list[Span] = []
    for line in re.finditer(r"[^\r\n]+", text):
        lead = len(line.group(0)) - len(line.group(0).lstrip())
        spans += _line_sentences(line.group(0)[lead:], base + line.start() + lead)
    return spans


def _line_sentences(text: str, base: int) -> list[Span]:
    spans, start = [], 0
    for m in _SENT_END.finditer(text):
        if _ABBREV.search(text[start:m.start()]):
            continue
        end = m.start() + len(m["close"])
        if text[start:end].strip():
            spans.append(Span(base + start, base + end, "text"))
        start = m.end()
    if text[start:].strip():
        spans.append(Span(base + start, base + len(text.rstrip()), "text"))
    return spans


def _chunks(text: str, base: int, max_words: int) -> list[Span]:
    """Split one paragraph into spans of whole sentences of at most ``max_words`` (a longer
    sentence stands alone; the model truncates it)."""
    if len(text.split()) <= max_words:
        return [Span(base, base + len(text), "text")]
    out: list[Span] = []
    cur_start = cur_end = None
    words = 0
    for s in sentences(text, base):
        n = len(text[s.start - base:s.end - base].split())
        if cur_start is not None and words + n > max_words:
            out.append(Span(cur_start, cur_end, "text"))
            cur_start = None
        if cur_start is None:
            cur_start, words = s.start, 0
        cur_end = s.end
        words += n
    if cur_start is not None:
        out.append(Span(cur_start, cur_end, "text"))
    return out


def split_article(text: str, max_words: int = MAX_WORDS, min_words: int = MIN_WORDS) -> list[Span]:
    """Passages of an article: its paragraphs (separated by line breaks), long ones split at
    sentence boundaries, and short ones joined to their neighbours as a reader would read them.

    A run of paragraphs under ``min_words`` words (datelines, subheads, list items, stray lines)
    joins the paragraph that follows it (a run at the end of the article: the one before it, if
    the run is still under ``min_words``), as long as the passage stays within ``max_words``. Offsets index into ``text``; blank paragraphs are
    skipped.
    """
    pieces: list[tuple[Span, int]] = []
    for m in re.finditer(r"[^\r\n]+", text):
        para = m.group(0)
        stripped = para.strip()
        if not stripped:
            continue
        lead = len(para) - len(para.lstrip())
        for s in _chunks(stripped, m.start() + lead, max_words):
            pieces.append((s, len(text[s.start:s.end].split())))
    merged: list[tuple[Span, int]] = []
    short_run = False  # the last passage is made only of short paragraphs so far
    for span, n in pieces:
        if merged and short_run and merged[-1][1] + n <= max_words:
            last, words = merged[-1]
            merged[-1] = (Span(last.start, span.end, "text"), words + n)
            short_run = n < min_words
        else:
            merged.append((span, n))
            short_run = n < min_words
    if short_run and len(merged) > 1 and merged[-1][1] < min_words and merged[-2][1] + merged[-1][1] <= max_words:
        (before, n1), (last, n2) = merged[-2], merged.pop()
        merged[-1] = (Span(before.start, last.end, "text"), n1 + n2)
    return [span for span, _ in merged]


def article_passages(title: str | None, text: str) -> list[dict]:
    """The passages an article is labelled in, each with ``start``, ``end``, ``source`` and ``text``:
    the title first when there is one (offsets in the title), then ``split_article``'s passages."""
    passages: list[dict] = []
    if title and title.strip():
        passages.append({"start": 0, "end": len(title), "source": "title", "text": title})
    passages += [{"start": s.start, "end": s.end, "source": "text", "text": text[s.start:s.end]}
                 for s in split_article(text)]
    return passages
