// The analyst's page: label an article with POST /v1/articles and show its framing; send corrections with
// POST /v1/corrections. Plain script, no dependencies: every text from the article or the service is set with
// textContent, never parsed as HTML.
"use strict";

const TOKEN_KEY = "stance-annotation-token";
const MAX_RETRIES = 10;
const state = { codebook: null, modelInfo: null, corrections: false, request: null, answer: null };

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const pct = (x) => `${Math.round(x * 100)}%`;
const num = (x) => x.toFixed(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function setStatus(text) { $("status").textContent = text; }

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = !text;
}

function detailText(body, fallback) {
  if (!body || body.detail === undefined) return fallback;
  const d = body.detail;
  if (typeof d === "string") return d;
  if (Array.isArray(d)) return d.map((e) => (e.field ? `${e.field}: ${e.message}` : JSON.stringify(e))).join("; ");
  return JSON.stringify(d);
}

// fetch JSON; 503 (model not ready, overloaded) is retried after Retry-After with a countdown on the page
async function call(method, path, body, headers = {}) {
  for (let attempt = 0; ; attempt++) {
    let res;
    try {
      res = await fetch(path, {
        method, headers: { "content-type": "application/json", ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new Error(`The service cannot be reached (${err.message}). Is it still running?`);
    }
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (res.status === 503 && attempt < MAX_RETRIES) {
      const wait = Math.max(1, parseInt(res.headers.get("retry-after") || "2", 10));
      for (let s = wait; s > 0; s--) {
        setStatus(`The service is not ready: ${detailText(data, "503")}. Retrying in ${s} s…`);
        await sleep(1000);
      }
      continue;
    }
    if (!res.ok) {
      const err = new Error(explain(res.status, detailText(data, res.statusText)));
      err.status = res.status;
      throw err;
    }
    return data;
  }
}

function explain(status, detail) {
  if (status === 413) return `The article is too long for the service: ${detail}`;
  if (status === 422) return `The service refused the input: ${detail}`;
  if (status === 503) return `The service is still not ready after ${MAX_RETRIES} tries: ${detail}`;
  if (status === 504) return `The service took too long: ${detail}`;
  return `The service answered ${status}: ${detail}`;
}

function modelLine(m) {
  const run = m.run_id ? `, run ${m.run_id}` : "";
  return `${m.name} version ${m.version}${m.alias ? ` (@${m.alias})` : ""}${run}`;
}

async function init() {
  wireInput();
  try {
    setStatus("Loading the model's description…");
    const [info, codebook, corr] = await Promise.all([
      call("GET", "/v1/model"), call("GET", "/v1/labels"), call("GET", "/v1/corrections")]);
    state.modelInfo = info;
    state.codebook = codebook;
    state.corrections = corr.enabled;
    $("model").textContent = `Model: ${modelLine(info)} · codebook ${info.codebook_version}` +
      (state.corrections ? " · corrections on" : "");
    drawLegend();
    setStatus("Ready. Paste an article or drop a file.");
  } catch (err) {
    $("model").textContent = "Model: unknown";
    setStatus("");
    showError(err.message);
  }
}

function frameIndex(id) { return state.codebook.frames.findIndex((f) => f.id === id); }
function frameName(id) { const f = state.codebook.frames.find((x) => x.id === id); return f ? f.name : id; }
function targetName(id) { const t = state.codebook.targets.find((x) => x.id === id); return t ? t.name : id; }
function frameClass(id, kind) { const i = frameIndex(id); return `${kind} f${i % 7} p${i % 3}`; }

function drawLegend() {
  const legend = $("legend");
  legend.replaceChildren(...state.codebook.frames.map((f) =>
    el("span", {}, el("span", { class: frameClass(f.id, "swatch"), "aria-hidden": "true" }), f.name)));
}

function wireInput() {
  const form = $("article-form");
  form.addEventListener("submit", (e) => { e.preventDefault(); run(); });
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); }
  });
  $("title").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); }
  });
  $("download").addEventListener("click", download);
  $("clear").addEventListener("click", () => {
    $("title").value = ""; $("text").value = ""; $("date").value = "";
    $("result").hidden = true; $("download").disabled = true; state.answer = null;
    showError(""); setStatus("Cleared."); $("text").focus();
  });
  $("file").addEventListener("change", () => { if ($("file").files[0]) readFile($("file").files[0]); });
  for (const ev of ["dragenter", "dragover"]) {
    form.addEventListener(ev, (e) => { e.preventDefault(); form.classList.add("dragging"); });
  }
  for (const ev of ["dragleave", "drop"]) {
    form.addEventListener(ev, () => form.classList.remove("dragging"));
  }
  form.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) readFile(file);
  });
  $("correct-form").addEventListener("submit", sendCorrection);
}

// A .md file's first "# " heading, or a .txt file's first line when a blank line follows it, becomes the title.
async function readFile(file) {
  showError("");
  if (!/\.(txt|md|markdown)$/i.test(file.name) && !/^text\//.test(file.type)) {
    showError(`${file.name} is not a .txt or .md file.`);
    return;
  }
  const raw = (await file.text()).replace(/\r\n?/g, "\n");
  let title = "", text = raw.trim();
  const md = text.match(/^#\s+(.+)\n+([\s\S]*)$/);
  const txt = text.match(/^([^\n]{1,300})\n\s*\n([\s\S]*)$/);
  if (md) { title = md[1].trim(); text = md[2].trim(); } else if (txt) { title = txt[1].trim(); text = txt[2].trim(); }
  $("title").value = title;
  $("text").value = text;
  setStatus(`Read ${file.name}: ${text.length} characters.`);
}

async function run() {
  showError("");
  const title = $("title").value.trim();
  const text = $("text").value;
  if (!text.trim()) {
    showError("Paste an article's text (or drop a .txt or .md file) before labelling.");
    $("text").focus();
    return;
  }
  const body = { title: title || null, text };
  $("run").disabled = true;
  setStatus("Labelling the article…");
  const started = performance.now();
  try {
    const answer = await call("POST", "/v1/articles", body);
    state.request = { ...body, date: $("date").value || null };
    state.answer = answer;
    render(answer, body);
    $("download").disabled = false;
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    setStatus(`Labelled ${answer.passages.length} passages in ${secs} s.`);
  } catch (err) {
    setStatus("");
    showError(err.message);
  } finally {
    $("run").disabled = false;
  }
}

function render(answer, body) {
  $("answered-by").textContent = `Answered by ${modelLine(answer.model)}`;
  if (state.modelInfo && state.modelInfo.version !== answer.model.version) {
    $("model").textContent = `Model: ${modelLine(answer.model)} (reloaded since the page opened)`;
  }
  $("summary").replaceChildren(frameCard(answer), ...Object.entries(answer.summary.stance).map(
    ([target, s]) => stanceCard(target, s, answer)));
  const list = $("passages");
  const frag = document.createDocumentFragment();
  const marks = evidenceMarks(answer.summary);
  for (const p of answer.passages) frag.append(passageItem(p, marks.get(p.index) || [], body));
  list.replaceChildren(frag);
  $("result").hidden = false;
}

function frameCard(answer) {
  const s = answer.summary;
  const rows = Object.entries(s.frames).map(([id, f]) => el("tr", { "data-frame": id },
    el("th", { scope: "row" }, el("span", { class: frameClass(id, "swatch"), "aria-hidden": "true" }), frameName(id)),
    el("td", { class: "share", text: pct(f.share) }),
    el("td", { text: `max ${num(f.max_score)}` }),
    el("td", {}, evidenceList(f.evidence, null))));
  const scope = s.in_scope_share === null || s.in_scope_share === undefined ? null :
    el("p", { class: s.in_scope_share < 0.5 ? "warning" : "hint",
      text: `In scope: ${pct(s.in_scope_share)} of passages are about the war or European security.` });
  return el("div", { class: "card", id: "frames-card" }, el("h3", { text: `Frames (${s.passages} passages)` }),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "Frame" }), el("th", { text: "Share" }),
      el("th", { text: "Strongest" }), el("th", { text: "Evidence" }))), el("tbody", {}, ...rows)), scope);
}

function stanceCard(target, s, answer) {
  const margin = s.margin === null ? "" : ` (margin ${num(s.margin)})`;
  const weights = Object.entries(s.weights).map(([k, v]) => `${k} ${num(v)}`).join(", ");
  return el("div", { class: "card", "data-target": target },
    el("h3", { text: targetName(target) }),
    el("p", {}, "Article: ", el("span", { class: `article-stance label-${s.label.replace(" ", "-")}`, text: s.label }),
      margin),
    el("p", { class: "hint", text: `Weights: ${weights}. Passages: ` +
      Object.entries(s.counts).map(([k, v]) => `${v} ${k}`).join(", ") + "." }),
    evidenceList(s.evidence, answer));
}

function evidenceList(items, answer) {
  if (!items.length) return el("span", { class: "hint", text: "none" });
  const list = el("ul", { class: "evidence" });
  for (const ev of items) {
    const side = ev.label ? `${ev.label} ` : "";
    for (const sent of ev.sentences.length ? ev.sentences : [null]) {
      const href = sent ? `#ev-${ev.passage}-${sent.start}` : `#passage-${ev.passage}`;
      const quote = sent ? sent.text : `passage ${ev.passage}`;
      list.append(el("li", {}, `${side}${num(sent ? sent.score : ev.score)} · `,
        el("a", { href, text: quote.length > 140 ? quote.slice(0, 137) + "…" : quote })));
    }
  }
  return list;
}

// passage index -> sorted, non-overlapping sentence spans to mark in its text
function evidenceMarks(summary) {
  const spans = new Map();
  const add = (ev) => {
    for (const s of ev.sentences) {
      const list = spans.get(ev.passage) || [];
      if (!list.some((x) => x.start === s.start)) list.push(s);
      spans.set(ev.passage, list);
    }
  };
  Object.values(summary.frames).forEach((f) => f.evidence.forEach(add));
  Object.values(summary.stance).forEach((s) => s.evidence.forEach(add));
  for (const list of spans.values()) list.sort((a, b) => a.start - b.start);
  return spans;
}

function passageText(p, marks) {
  const node = el("p", { class: "text" });
  let at = 0;
  for (const m of marks) {
    const a = m.start - p.start, b = m.end - p.start;
    if (a < at || b > p.text.length) continue;
    node.append(p.text.slice(at, a), el("mark", { id: `ev-${p.index}-${m.start}`, text: p.text.slice(a, b) }));
    at = b;
  }
  node.append(p.text.slice(at));
  return node;
}

function passageItem(p, marks, body) {
  const carried = Object.entries(p.frames).filter(([, f]) => f.label).map(([id]) => id);
  const stripes = el("div", { class: "stripes", "aria-hidden": "true" },
    ...carried.map((id) => el("span", { class: frameClass(id, "stripe"), title: frameName(id) })));
  const badges = el("div", { class: "badges" }, ...(carried.length ? carried.map((id) => el("span", {
    class: frameClass(id, "badge"), "data-frame": id,
    text: `${frameName(id)} ${num(p.frames[id].score)}${p.frames[id].confident === false ? " (unsure)" : ""}`,
  })) : [el("span", { class: "hint", text: "no frame" })]));
  const stance = el("div", { class: "stance" }, ...Object.entries(p.stance).map(([t, s]) => el("span", {
    "data-target": t, "data-label": s.label,
  }, `${targetName(t)}: `, el("span", { class: `label-${s.label}`, text: s.label }),
  ` ${num(s.scores[s.label])}`, s.confident === false ? el("span", { class: "unsure", text: " (unsure)" }) : null)));
  const where = p.source === "title" ? "title" : `characters ${p.start}–${p.end}`;
  const scope = p.in_scope !== null && p.in_scope !== undefined && p.in_scope < 0.5 ?
    el("span", { class: "warning", text: ` · probably off topic (in_scope ${num(p.in_scope)})` }) : null;
  const content = el("div", {},
    el("div", { class: "meta" }, `Passage ${p.index} · ${where}`, scope),
    badges, passageText(p, marks), stance);
  if (state.corrections) {
    content.append(el("div", { class: "actions" }, el("button", {
      type: "button", class: "correct", "aria-label": `Correct passage ${p.index}`,
      onclick: () => openCorrection(p, body), text: "Correct…" })));
  }
  return el("li", { class: "passage", id: `passage-${p.index}`, "data-index": String(p.index) }, stripes, content);
}

function download() {
  if (!state.answer) return;
  const blob = new Blob([JSON.stringify(state.answer, null, 1)], { type: "application/json" });
  const slug = (state.request.title || "article").toLowerCase().replace(/[^a-z0-9]+/g, "-").slice(0, 50);
  const a = el("a", { href: URL.createObjectURL(blob), download: `${slug}-framing-v${state.answer.model.version}.json` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// ---- corrections ----

let correcting = null;

function openCorrection(p, body) {
  correcting = { passage: p, body };
  $("correct-index").textContent = String(p.index);
  $("correct-text").textContent = p.text;
  $("correct-note").value = "";
  $("correct-message").hidden = true;
  const frames = $("correct-frames");
  frames.replaceChildren(el("legend", { text: "Frames the passage carries" }), ...state.codebook.frames.map((f) => {
    const box = el("input", { type: "checkbox", name: "frame", value: f.id, id: `cf-${f.id}` });
    box.checked = p.frames[f.id].label;
    return el("label", { class: "choice", for: `cf-${f.id}` }, box, ` ${f.name}`);
  }));
  const stance = $("correct-stance");
  stance.replaceChildren(el("legend", { text: "Stance per target" }), ...Object.keys(p.stance).map((t) => {
    const select = el("select", { id: `cs-${t}`, name: t }, ...state.codebook.stance_labels.map(
      (lab) => el("option", { value: lab, text: lab })));
    select.value = p.stance[t].label;
    return el("label", { class: "choice", for: `cs-${t}` }, targetName(t), select);
  }));
  $("correct-dialog").showModal();
}

function askToken() {
  return new Promise((resolve) => {
    const dialog = $("token-dialog");
    $("token").value = "";
    dialog.addEventListener("close", () => {
      const token = dialog.returnValue === "ok" ? $("token").value.trim() : "";
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      resolve(token);
    }, { once: true });
    dialog.showModal();
  });
}

async function sendCorrection(e) {
  if (e.submitter && e.submitter.value === "cancel") return;
  e.preventDefault();
  const { passage: p, body } = correcting;
  const correction = { frames: {}, stance: {} };
  for (const f of state.codebook.frames) {
    const checked = $(`cf-${f.id}`).checked;
    if (checked !== p.frames[f.id].label) correction.frames[f.id] = checked;
  }
  for (const t of Object.keys(p.stance)) {
    const value = $(`cs-${t}`).value;
    if (value !== p.stance[t].label) correction.stance[t] = value;
  }
  const message = $("correct-message");
  if (!Object.keys(correction.frames).length && !Object.keys(correction.stance).length) {
    message.textContent = "Nothing was changed: change a frame or a stance before sending.";
    message.hidden = false;
    return;
  }
  let token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    $("correct-dialog").close();
    token = await askToken();
    if (!token) return;
    $("correct-dialog").showModal();
  }
  const payload = { text: p.text, title: body.title, date: state.request.date, correction,
    note: $("correct-note").value.trim() || null };
  try {
    $("correct-send").disabled = true;
    const saved = await call("POST", "/v1/corrections", payload, { authorization: `Bearer ${token}` });
    $("correct-dialog").close();
    const item = $(`passage-${p.index}`);
    item.querySelector(".actions").append(el("span", { class: "saved", role: "status",
      text: `Correction saved (${saved.id.slice(0, 8)}).` }));
    setStatus(`Correction of passage ${p.index} saved to the queue.`);
  } catch (err) {
    if (err.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    message.textContent = err.status === 401 ? "The token was refused; send again to enter it." : err.message;
    message.hidden = false;
  } finally {
    $("correct-send").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", init);
