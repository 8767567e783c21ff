"""The service's state and operations, independent of HTTP: the model in use, batching, reload."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from serving.articles import article_passages
from serving.batching import Batcher
from serving.metrics import ServiceMetrics
from serving.model import LoadedModel, ModelLoadError
from serving.summary import attach, plan_evidence, summarise_article
from serving.validation import InputError

log = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """No model is loaded yet."""


def _infer(model: LoadedModel, texts: list[str], targets: list[str] | None) -> list[dict[str, Any]]:
    return model.predictor.predict(texts, targets)


TRIM_EVERY_S = 5.0
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 60.0
"""Backoff of load attempts after a failed start: the first wait, then doubling up to the cap."""


@functools.cache
def _glibc() -> Any:
    """The C library if it is glibc, else ``None`` (the allocator tuning below is glibc's)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def limit_malloc_arenas(n: int = 2) -> None:
    """Cap glibc's per-thread malloc arenas; call it before any worker thread exists.

    Each thread that allocates gets its own arena by default (up to 8 per core), and freed tensor
    memory stays spread over them: under a 5-minute soak the service's resident memory kept
    creeping up; capped at 2 arenas it was about 50 MB lower and flat after warm-up
    (experiments/benchmarks/RELIABILITY.md). ``MALLOC_ARENA_MAX`` in the environment wins.
    """
    libc = _glibc()
    if libc is not None and "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(-8, n)  # M_ARENA_MAX


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise: RSS would only ever grow)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _thread_setter(threads: tuple[int, int]) -> Callable[[bool], None]:
    """Set the calling worker thread's torch intra-op threads (thread-local under OpenMP/MKL), and
    trim the heap every few seconds of work."""
    alone_n, shared_n = threads
    last_trim = [time.monotonic()]

    def prepare(alone: bool) -> None:
        import torch

        n = alone_n if alone else shared_n
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        if time.monotonic() - last_trim[0] > TRIM_EVERY_S:
            last_trim[0] = time.monotonic()
            release_free_memory()

    return prepare


class Service:
    def __init__(self, loader: Callable[[bool], LoadedModel], max_batch_size: int, max_queue: int,
                 metrics: ServiceMetrics | None = None, workers: int = 1,
                 threads: tuple[int, int] | None = None) -> None:
        """``threads``: (torch threads for a batch running alone, for one of several at once)."""
        self.loader = loader
        self.metrics = metrics or ServiceMetrics()
        self.model: LoadedModel | None = None
        self.last_error: str | None = None
        self.load_attempts = 0
        self.next_retry_at: float | None = None  # monotonic time of the next load attempt, while not ready
        self._retry_task: asyncio.Task | None = None
        self._reload_lock = asyncio.Lock()
        self._next_reload: asyncio.Future | None = None  # a reload waiting for the lock, shared by new calls
        self.batcher = Batcher(_infer, max_batch_size, max_queue, on_batch=self.metrics.batch_size.observe,
                               workers=workers, prepare=_thread_setter(threads) if threads else None)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self.batcher.start()
        if not await self.try_load():
            self._retry_task = asyncio.create_task(self._retry_until_loaded())

    async def stop(self) -> None:
        if self._retry_task is not None:
            self._retry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry_task
        await self.batcher.stop()

    async def _retry_until_loaded(self) -> None:
        """After a failed start, try again with exponential backoff until a model is served."""
        delay = RETRY_FIRST_S
        while self.model is None:
            self.next_retry_at = time.monotonic() + delay
            await asyncio.sleep(delay)
            if self.model is not None:  # an admin reload got there first
                break
            async with self._reload_lock:
                if self.model is None and await self.try_load():
                    break
            delay = min(delay * 2, RETRY_MAX_S)
        self.next_retry_at = None

    def readiness(self) -> dict[str, Any]:
        """Why the service is not ready: the last load error, attempts so far, when it tries again."""
        out: dict[str, Any] = {"status": "not ready", "error": self.last_error or "model is loading",
                               "attempts": self.load_attempts}
        if self.next_retry_at is not None:
            out["next_attempt_in_s"] = round(max(0.0, self.next_retry_at - time.monotonic()), 1)
        return out

    async def try_load(self) -> bool:
        """Load (the local copy is allowed); keep ``last_error`` on failure."""
        self.load_attempts += 1
        try:
            model = await asyncio.to_thread(self.loader, True)
        except Exception as exc:  # noqa: BLE001 - reported by /readyz
            self.last_error = str(exc)
            log.error("model load failed (attempt %d): %s", self.load_attempts, exc)
            return False
        self._swap(model)
        release_free_memory()  # loading leaves large freed buffers behind
        return True

    def _swap(self, model: LoadedModel) -> None:
        self.model = model  # one reference assignment: requests in flight keep the old object
        self.last_error = None
        self.metrics.set_model(model.name, model.version, model.source)
        log.info("serving %s version %s (from %s)", model.name, model.version, model.source)

    async def reload(self) -> tuple[LoadedModel | None, LoadedModel]:
        """Re-resolve the URI in the registry and swap atomically; on failure keep the old model.

        Calls that arrive while a reload is waiting to start share that reload (one started before
        a call cannot have seen an alias moved just before it, so it is not shared). A caller that
        goes away does not stop it. Returns (previous, current). Raises ``ModelLoadError`` if the
        new model cannot be loaded.
        """
        if self._next_reload is None:
            self._next_reload = asyncio.ensure_future(self._reload_once())
            self._next_reload.add_done_callback(lambda t: t.cancelled() or t.exception())  # read even if unawaited
        return await asyncio.shield(self._next_reload)

    async def _reload_once(self) -> tuple[LoadedModel | None, LoadedModel]:
        async with self._reload_lock:
            self._next_reload = None  # from now on, a new call waits for a reload of its own
            previous = self.model
            try:
                model = await asyncio.to_thread(self.loader, False)
            except ModelLoadError:
                self.metrics.reloads.labels(outcome="failed").inc()
                raise
            except Exception as exc:
                self.metrics.reloads.labels(outcome="failed").inc()
                raise ModelLoadError(str(exc)) from exc
            self._swap(model)
            self.metrics.reloads.labels(outcome="ok").inc()
            return previous, model

    def current(self) -> LoadedModel:
        if self.model is None:
            raise NotReady(self.last_error or "model is loading")
        return self.model

    # -- operations -----------------------------------------------------------------------
    async def classify(self, model: LoadedModel, texts: list[str], targets: list[str] | None) -> list[dict[str, Any]]:
        self.metrics.queue.set(self.batcher.pending + len(texts))
        try:
            results = await self.batcher.submit(model, texts, targets)
        finally:
            self.metrics.queue.set(self.batcher.pending)  # what still waits once this request is done
        self.metrics.passages.inc(len(texts))
        return results

    async def article(self, model: LoadedModel, title: str | None, text: str, targets: list[str] | None,
                      max_passages: int, evidence_sentences: bool = True) -> dict[str, Any]:
        """Label every passage of an article and summarise it, with evidence (``serving.summary``);
        without ``evidence_sentences`` the evidence names passages only and no sentence is labelled.

        Raises ``InputError`` (413) if the article splits into more than ``max_passages`` passages."""
        passages = await asyncio.to_thread(article_passages, title, text)  # a long split stays off the event loop
        if not passages:
            raise InputError("the article has no text to label", field="text")
        if len(passages) > max_passages:
            raise InputError(f"the article splits into {len(passages)} passages (its title, its paragraphs, long "
                             f"ones cut at sentence ends and short ones joined to the next); the limit is "
                             f"{max_passages} per request: send it in parts", status=413, field="text")
        results = await self.classify(model, [p["text"] for p in passages], targets)
        codebook = model.predictor.codebook
        used = model.predictor.check_targets(targets)
        sents, pending = plan_evidence(passages, results, codebook, used) if evidence_sentences else ({}, [])
        if pending:
            attach(sents, pending, await self.classify(model, [span["text"] for _, span in pending], used))
        summary = summarise_article(passages, results, sents, codebook, used)
        out = [{"index": i, **p, **r} for i, (p, r) in enumerate(zip(passages, results, strict=True))]
        return {"passages": out, "summary": summary}
