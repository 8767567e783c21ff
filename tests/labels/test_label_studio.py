"""The annotation loop against a real Label Studio: select with the tiny registered model, export into a
project created through the API, annotate through the API (a disagreement, a ground truth, a cancelled
task), export, import into a copy of the corpus, validate, and find the new passages in train."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from labels.codebook import load_codebook
from labels.corpus import DEFAULT_DATA_DIR, read_corpus
from labels.splits import assign_splits
from labels.studio import LabelStudio, stance_control
from tests.conftest import TINY_REALDEV, write_jsonl
from tests.serving.live import free_port

REPO = Path(__file__).resolve().parents[2]
LABEL_STUDIO = REPO / "var" / "label-studio-venv" / "bin" / "label-studio"
EMAIL, PASSWORD = "annotator@example.com", "loop-test-password-1"
START_TIMEOUT_S = 300

ARTICLES = [
    {"id": "w1", "published": "2026-11-28", "title": "Harbour talks stall",
     "text": "Negotiators in the Black Sea port of Constanta ended a third day without agreement on grain "
             "corridor inspections, delegates said late on Thursday.\n"
             "A Ukrainian delegate told reporters that any freeze of the southern front would leave Kherson's "
             "left bank under occupation for a generation, which Kyiv would never sign.\n"
             "Romanian coastguard officers described drones crossing into their waters twice in one week, and "
             "asked allies for radar aircraft to watch the delta."},
    {"id": "w2", "published": "2026-11-29",
     "text": "Parliament in Tallinn approved a bill to fund bunkers along the eastern border, arguing that "
             "deterrence starts with concrete and not with communiques.\n"
             "Opposition members warned the spending would be wasted unless allied brigades rotated through "
             "the new positions every winter."},
    {"id": "w3", "published": "2026-11-30",
     "text": "A retired general wrote in a Lisbon weekly that Western capitals should stop promising membership "
             "they cannot deliver and offer Kyiv neutrality backed by bilateral treaties.\n"
             "His column drew an angry reply from a former foreign minister, who called the proposal a reward "
             "for invasion and a lesson for every autocrat watching."},
    {"id": "w4", "text": "An undated wire item about railway timetables changing in the western region this "
                         "winter, with no date given by the archive."},
]
CORRECTION_TEXT = ("Officials in Chisinau said they feared the Transnistrian enclave could be used to open a new "
                   "front if talks over Ukraine's borders collapsed this winter.")


def need_label_studio() -> None:
    if not LABEL_STUDIO.exists():
        if os.environ.get("CI"):
            pytest.fail("Label Studio is missing; scripts/setup.sh --label-studio installs it")
        pytest.skip("Label Studio is not installed (bash scripts/setup.sh --label-studio)")


def outside_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    return [a for a in out if "." in a and not a.startswith("127.")]


def personal_access_token(url: str) -> str:
    """Log in as the test user through the login form and create its personal access token, as a user
    would on the Account & Settings page."""
    with httpx.Client(base_url=url, follow_redirects=True, timeout=60) as c:
        c.get("/user/login/")
        c.post("/user/login/", data={"email": EMAIL, "password": PASSWORD,
                                     "csrfmiddlewaretoken": c.cookies.get("csrftoken")})
        resp = c.post("/api/token/", headers={"X-CSRFToken": c.cookies.get("csrftoken")})
        resp.raise_for_status()
        return resp.json()["token"]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    need_label_studio()
    root = tmp_path_factory.mktemp("label-studio")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LABEL_STUDIO_PORT": str(port), "LABEL_STUDIO_DATA": str(root / "data"),
           "LABEL_STUDIO_USERNAME": EMAIL, "LABEL_STUDIO_PASSWORD": PASSWORD,
           "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true"}
    log = (root / "label-studio.log").open("w")
    proc = subprocess.Popen(["bash", str(REPO / "scripts" / "label_studio.sh")], cwd=root, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    started = time.perf_counter()
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.perf_counter() - started > START_TIMEOUT_S:
                pytest.fail(f"Label Studio did not start: {(root / 'label-studio.log').read_text()[-2000:]}")
            time.sleep(1)
        print(f"Label Studio up in {time.perf_counter() - started:.0f}s")
        for address in outside_addresses():  # loopback only
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=2).close()
        yield {"url": url, "token": personal_access_token(url)}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def run_labels(args: list[str], env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "labels", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False, cwd=REPO)
    assert proc.returncode in (0, 1, 2, 3), proc.stderr
    return proc


def labels_of(prediction: list[dict], kind: str, **stance: str) -> list[dict]:
    """An annotation: the pre-annotation's choices, ``stance`` overriding targets, and the kind."""
    result = [r for r in prediction if r["from_name"] not in {stance_control(t) for t in stance}]
    result = [{k: r[k] for k in ("from_name", "to_name", "type", "value")} for r in result]
    result += [{"from_name": stance_control(t), "to_name": "text", "type": "choices", "value": {"choices": [v]}}
               for t, v in stance.items()]
    result.append({"from_name": "kind", "to_name": "text", "type": "choices", "value": {"choices": [kind]}})
    return result


@pytest.mark.slow
def test_the_annotation_loop_through_label_studio(label_studio, registered_store, tmp_path):
    codebook = load_codebook()
    t0 = codebook.target_ids[0]
    data_dir = shutil.copytree(DEFAULT_DATA_DIR, tmp_path / "data")
    articles = write_jsonl(tmp_path / "articles.jsonl", ARTICLES)
    queue = tmp_path / "queue"
    write_jsonl(queue / "corrections.jsonl", [{
        "id": "c0ffee", "created_at": "2026-12-05T09:00:00Z", "text": CORRECTION_TEXT, "title": None, "date": None,
        "model": {"name": registered_store["name"], "version": registered_store["version"], "alias": "champion",
                  "run_id": registered_store["run_id"], "digest": "d"},
        "codebook_version": codebook.version,
        "answer": {"frames": {f: {"score": 0.1, "label": False} for f in codebook.frame_ids},
                   "stance": {t: {"label": "neutral", "scores": {"favor": 0.2, "against": 0.2, "neutral": 0.6}}
                              for t in codebook.target_ids}},
        "correction": {"frames": {"escalation_risk": True}}, "note": "a new front is escalation"}])
    env = {**os.environ, "STANCE_CACHE_DIR": str(tmp_path / "cache")}
    common = ["--data-dir", str(data_dir), "annotate"]
    batch = tmp_path / "batch.jsonl"

    started = time.perf_counter()
    sel = run_labels([*common, "select", str(articles), "-n", "6", "--queue", str(queue), "--out", str(batch),
                      "--model-uri", f"models:/{registered_store['name']}@champion",
                      "--tracking-uri", registered_store["uri"], "--realdev", str(TINY_REALDEV)], env)
    assert sel.returncode == 0, sel.stderr
    rows = [json.loads(line) for line in batch.read_text().splitlines()]
    assert len(rows) == 6 and rows[0]["origin"]["correction"] == "c0ffee"
    assert "escalation_risk" in rows[0]["pre_annotation"]["frames"]
    assert all(r["origin"]["article_id"] != "w4" for r in rows[1:])  # undated: the corpus needs a date
    assert {r["model"]["version"] for r in rows[1:]} == {registered_store["version"]}
    assert [r["score"] for r in rows[1:]] == sorted((r["score"] for r in rows[1:]), reverse=True)

    exp = run_labels([*common, "export", str(batch), "--out", str(tmp_path / "project"), "--label-studio-url",
                      label_studio["url"], "--label-studio-token", label_studio["token"], "--title", "loop test"], env)
    assert exp.returncode == 0, exp.stderr
    assert (tmp_path / "project" / "label_config.xml").is_file()
    project = int(re.search(r"Label Studio project (\d+) with 6 tasks: (\S+)", exp.stdout).group(1))

    ls = LabelStudio(label_studio["url"], label_studio["token"])
    tasks = {t["data"]["passage_id"]: t for t in ls.export(project)}
    assert set(tasks) == {r["passage_id"] for r in rows}
    ids = [tasks[r["passage_id"]]["id"] for r in rows]
    assert all(len(t["predictions"]) == 1 for t in tasks.values())  # the pre-annotations came in
    exported = {t["data"]["passage_id"]: t for t in json.loads((tmp_path / "project" / "tasks.json").read_text())}
    p = [exported[r["passage_id"]]["predictions"][0]["result"] for r in rows]
    ls.annotate(ids[0], labels_of(p[0], "quotes"))  # the correction, taken as pre-annotated
    ls.annotate(ids[1], labels_of(p[1], "wire", **{t0: "favor"}))  # two annotators disagree: rejected
    ls.annotate(ids[1], labels_of(p[1], "wire", **{t0: "against"}))
    ls.annotate(ids[2], labels_of(p[2], "analysis", **{t0: "favor"}))  # a disagreement settled by a ground truth
    ls.annotate(ids[2], labels_of(p[2], "analysis", **{t0: "neutral"}), ground_truth=True)
    ls.annotate(ids[3], labels_of(p[3], "oped"))  # two annotators agree
    ls.annotate(ids[3], labels_of(p[3], "oped"))
    ls.annotate(ids[4], labels_of(p[4], "wire"), cancelled=True)
    ls.annotate(ids[5], labels_of(p[5], "wire")[:-1])  # no kind chosen
    export = tmp_path / "export.json"
    export.write_text(json.dumps(ls.export(project)))
    ls.close()

    rejects = tmp_path / "loop.rejects.jsonl"
    imp = run_labels([*common, "import", str(export), "--name", "loop", "--realdev", str(TINY_REALDEV),
                      "--rejects", str(rejects)], env)
    assert imp.returncode == 0, imp.stdout + imp.stderr
    print(f"select, export, annotate, import: {time.perf_counter() - started:.0f}s")
    reasons = {r["passage_id"]: r["reason"] for r in map(json.loads, rejects.read_text().splitlines())}
    assert set(reasons) == {rows[i]["passage_id"] for i in (1, 4, 5)}
    assert f"disagree on ['stance:{t0}']" in reasons[rows[1]["passage_id"]]
    assert reasons[rows[4]["passage_id"]].startswith("no annotation")
    assert "no kind chosen" in reasons[rows[5]["passage_id"]]
    assert re.search(rf"stance:{t0}\s+3\s+2\s+-?\d\.\d{{3}}", imp.stdout)  # tasks, conflicts, kappa

    added = [json.loads(line) for line in (data_dir / "loop.jsonl").read_text().splitlines()]
    by_pid = {r["annotation"]["passage_id"]: r for r in added}
    assert set(by_pid) == {rows[i]["passage_id"] for i in (0, 2, 3)}
    assert by_pid[rows[0]["passage_id"]]["date"] == "2026-12-05" and "escalation_risk" in by_pid[
        rows[0]["passage_id"]]["frames"]
    assert by_pid[rows[2]["passage_id"]]["stance"][t0] == "neutral"  # the ground truth won
    assert all(r["article_id"].startswith("ann-loop-a") for r in added)

    assert run_labels(["--data-dir", str(data_dir), "validate"], env).returncode == 0
    passages, problems = read_corpus(data_dir, codebook)
    assert problems == []
    split = assign_splits(passages)
    assert {split[r["article_id"]] for r in added} == {"train"}
    before, _ = read_corpus(DEFAULT_DATA_DIR, codebook)
    assert {a: s for a, s in split.items() if not a.startswith("ann-")} == assign_splits(before)
