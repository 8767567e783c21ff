"""The MLflow scoring-server input formats, so MLflow clients can call this service."""

from __future__ import annotations

from typing import Any


class InvocationError(ValueError):
    """The body is not a valid MLflow scoring request; the message says why."""


def parse_invocation(body: Any) -> tuple[list[Any], dict[str, Any]]:
    """Texts and params from ``dataframe_split``, ``dataframe_records``, ``inputs`` or ``instances``."""
    if not isinstance(body, dict):
        raise InvocationError("body must be a JSON object with one of dataframe_split, dataframe_records, "
                              "inputs or instances")
    keys = [k for k in ("dataframe_split", "dataframe_records", "inputs", "instances") if k in body]
    if len(keys) != 1:
        raise InvocationError("body must have exactly one of dataframe_split, dataframe_records, inputs, instances")
    extra = set(body) - {keys[0], "params"}
    if extra:
        raise InvocationError(f"unexpected field(s) {sorted(extra)}")
    params = body.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvocationError("params must be an object")
    targets = params.get("targets")
    if targets is not None and not isinstance(targets, str) and not (
            isinstance(targets, list) and all(isinstance(t, str) for t in targets)):
        raise InvocationError(f"params.targets must be a comma-separated string or a list of strings, "
                              f"got {type(targets).__name__}")
    data = body[keys[0]]
    if keys[0] == "dataframe_split":
        if not isinstance(data, dict) or not isinstance(data.get("columns"), list) or not isinstance(data.get("data"), list):
            raise InvocationError("dataframe_split needs 'columns' (list) and 'data' (list of rows)")
        if "text" not in data["columns"]:
            raise InvocationError(f"dataframe_split needs a 'text' column, got {data['columns']}")
        col = data["columns"].index("text")
        texts = []
        for i, row in enumerate(data["data"]):
            if not isinstance(row, list) or len(row) != len(data["columns"]):
                raise InvocationError(f"dataframe_split.data[{i}] must be a list of {len(data['columns'])} values")
            texts.append(row[col])
        return texts, params
    if keys[0] == "dataframe_records":
        if not isinstance(data, list) or not all(isinstance(r, dict) and "text" in r for r in data):
            raise InvocationError("dataframe_records must be a list of objects with a 'text' field")
        return [r["text"] for r in data], params
    # inputs / instances: a list of strings, a list of {"text": ...}, or {"text": [...]}
    if isinstance(data, dict):
        if not isinstance(data.get("text"), list):
            raise InvocationError(f"{keys[0]} as an object needs a 'text' list")
        return list(data["text"]), params
    if isinstance(data, list):
        if all(isinstance(x, dict) for x in data):
            if not all("text" in x for x in data):
                raise InvocationError(f"every {keys[0]} item needs a 'text' field")
            return [x["text"] for x in data], params
        return list(data), params
    if isinstance(data, str):
        return [data], params
    raise InvocationError(f"{keys[0]} must be a list or an object with a 'text' list")
