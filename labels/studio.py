"""Label Studio: the labelling interface generated from the codebook, tasks with the model's answers as
pre-annotations, and the few API calls the annotation loop makes (create a project, import tasks,
submit and export annotations).

Control names are the contract between export and import: ``frames`` (multiple choice),
``stance_<target>`` (one single choice per stance target), ``kind`` (single choice of the corpus's
kinds) and ``notes`` (free text), all on the text ``text``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from labels.codebook import Codebook
from labels.corpus import KINDS

TEXT = "text"
FRAMES = "frames"
KIND = "kind"
NOTES = "notes"
STANCE_PREFIX = "stance_"
KIND_HINTS = {
    "wire": "agency or news report in the reporter's voice",
    "quotes": "mostly quoted or paraphrased speech",
    "analysis": "explanatory or analytical piece",
    "oped": "opinion, editorial or column",
    "headline": "a headline with its standfirst",
    "liveblog": "a live-blog entry",
    "caption": "a photo or video caption",
}


class LabelStudioError(RuntimeError):
    """Label Studio refused a request or could not be reached; the message says which and why."""


def stance_control(target_id: str) -> str:
    return STANCE_PREFIX + target_id


def _hint(text: str) -> str:
    return " ".join(text.split())


def label_config(codebook: Codebook) -> str:
    """The labelling interface as Label Studio XML: the passage, the frames as multiple choice, one
    required single choice per stance target, the passage kind (required) and optional notes. The
    codebook's definitions are the choices' hover hints and the targets' descriptions their headers."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value=f"Passage (codebook {codebook.version})")
    ET.SubElement(view, "Text", name=TEXT, value="$text")
    ET.SubElement(view, "Header", value="Frames: every frame the passage itself conveys (none is an answer)")
    frames = ET.SubElement(view, "Choices", name=FRAMES, toName=TEXT, choice="multiple", showInline="false")
    for f in codebook.frames:
        ET.SubElement(frames, "Choice", value=f.id, hint=_hint(f"{f.name}: {f.definition}"))
    for t in codebook.targets:
        ET.SubElement(view, "Header", value=f"Stance: {t.name}. {_hint(t.description)}")
        choices = ET.SubElement(view, "Choices", name=stance_control(t.id), toName=TEXT, choice="single",
                                showInline="true", required="true")
        for label in codebook.stance_labels:
            ET.SubElement(choices, "Choice", value=label, hint=f"{label} towards: {t.name}")
    ET.SubElement(view, "Header", value="Kind of passage")
    kinds = ET.SubElement(view, "Choices", name=KIND, toName=TEXT, choice="single", showInline="true",
                          required="true")
    for k in KINDS:
        ET.SubElement(kinds, "Choice", value=k, hint=KIND_HINTS.get(k, k))
    ET.SubElement(view, "Header", value="Notes (optional): why, for a hard call")
    ET.SubElement(view, "TextArea", name=NOTES, toName=TEXT, rows="2", maxSubmissions="1", editable="true")
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def _choice(control: str, values: list[str], rid: str) -> dict[str, Any]:
    return {"id": rid, "from_name": control, "to_name": TEXT, "type": "choices", "value": {"choices": values}}


def task(row: dict[str, Any], codebook: Codebook) -> dict[str, Any]:
    """One Label Studio task from a batch row (``selection.Candidate.row``): the passage and where it
    came from as data, and the pre-annotation as a prediction whose score is the model's confidence
    (1 - uncertainty), so the least sure tasks sort first in Label Studio."""
    pre = row["pre_annotation"]
    result = []
    frames = [f for f in codebook.frame_ids if f in pre["frames"]]
    if frames:
        result.append(_choice(FRAMES, frames, f"{row['passage_id']}-frames"))
    for t in codebook.target_ids:
        if t in pre["stance"]:
            result.append(_choice(stance_control(t), [pre["stance"][t]], f"{row['passage_id']}-{t}"))
    model = row["model"]
    data = {"text": row["text"], "passage_id": row["passage_id"], "date": row["date"],
            "origin": json.dumps(row["origin"], ensure_ascii=False, sort_keys=True),
            "reason": row["reason"], "model_ref": json.dumps(model, sort_keys=True)}
    return {"data": data, "predictions": [{"model_version": f"{model['name']}/{model['version']}",
                                           "score": round(1.0 - row["score"], 4), "result": result}]}


def write_project(folder: Path, rows: list[dict[str, Any]], codebook: Codebook) -> tuple[Path, Path]:
    """Write ``label_config.xml`` and ``tasks.json`` into ``folder`` (created); return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    config, tasks = folder / "label_config.xml", folder / "tasks.json"
    config.write_text(label_config(codebook), encoding="utf-8")
    tasks.write_text(json.dumps([task(r, codebook) for r in rows], ensure_ascii=False, indent=1), encoding="utf-8")
    return config, tasks


class LabelStudio:
    """A small client of Label Studio's REST API.

    ``token`` is either a legacy API token (sent as ``Token``) or a personal access token, a JWT
    refresh token exchanged at ``/api/token/refresh`` for an access token (sent as ``Bearer``)."""

    def __init__(self, url: str, token: str, timeout: float = 60.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)
        if token.count(".") == 2:
            access = self._call("POST", "/api/token/refresh/", json={"refresh": token})["access"]
            self._http.headers["Authorization"] = f"Bearer {access}"
        else:
            self._http.headers["Authorization"] = f"Token {token}"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise LabelStudioError(f"{method} {self.url}{path}: {exc}") from exc
        if resp.status_code >= 400:
            raise LabelStudioError(f"{method} {self.url}{path}: HTTP {resp.status_code}: {resp.text[:500]}")
        return resp.json() if resp.content else None

    def create_project(self, title: str, config: str) -> int:
        """Create a project with this labelling interface; return its id."""
        return int(self._call("POST", "/api/projects", json={"title": title, "label_config": config})["id"])

    def import_tasks(self, project: int, tasks: list[dict[str, Any]]) -> int:
        """Import tasks (with their predictions); return how many Label Studio took."""
        got = self._call("POST", f"/api/projects/{project}/import", json=tasks)
        return int(got.get("task_count", len(tasks)))

    def annotate(self, task_id: int, result: list[dict[str, Any]], ground_truth: bool = False,
                 cancelled: bool = False) -> int:
        """Submit an annotation of a task; return its id."""
        body = {"result": result, "ground_truth": ground_truth, "was_cancelled": cancelled}
        return int(self._call("POST", f"/api/tasks/{task_id}/annotations", json=body)["id"])

    def export(self, project: int) -> list[dict[str, Any]]:
        """Every task of the project (annotated or not) with its annotations, in Label Studio's JSON export
        format."""
        return list(self._call("GET", f"/api/projects/{project}/export",
                               params={"exportType": "JSON", "download_all_tasks": "true"}))

    def project_url(self, project: int) -> str:
        return f"{self.url}/projects/{project}/data"

    def close(self) -> None:
        self._http.close()
