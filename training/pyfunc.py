"""The MLflow pyfunc wrapper around a saved ``Predictor``."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd


class StanceFramingModel(mlflow.pyfunc.PythonModel):
    """Input: a table with a ``text`` column. Output: one row per passage with, for every frame,
    ``frame.<id>.score`` and ``frame.<id>.label``, and for every stance target
    ``stance.<id>.label`` and ``stance.<id>.<class>`` probabilities."""

    def load_context(self, context):
        """Load the predictor with the runtime the service uses: int8 where the model's own check
        allowed it (``STANCE_PYFUNC_INT8=false`` keeps plain fp32 torch)."""
        import os

        from stance_model.offline import force_offline
        from stance_model.predictor import Predictor

        force_offline()
        self.predictor = Predictor.load(context.artifacts["predictor"])
        self.predictor.optimize_for_inference(int8=os.environ.get("STANCE_PYFUNC_INT8", "true").lower() != "false")

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """``model_input`` is what MLflow passes after applying the signature: a table; a list of
        strings or a dict of columns is accepted too. (The DataFrame hint asks MLflow for no
        type-hint validation of its own: the signature already describes the input.)"""
        texts = to_texts(model_input)
        targets = None
        if params and params.get("targets"):
            targets = [t.strip() for t in str(params["targets"]).split(",") if t.strip()]
        return self.predictor.predict_frame(texts, targets)


def to_texts(model_input: Any) -> list[str]:
    """Texts from a DataFrame with a ``text`` column, a list of strings or a dict of columns."""
    if isinstance(model_input, pd.DataFrame):
        if "text" not in model_input.columns:
            raise ValueError(f"input needs a 'text' column, got columns {list(model_input.columns)}")
        col = model_input["text"]
    elif isinstance(model_input, dict) and "text" in model_input:
        col = pd.Series(model_input["text"])
    elif isinstance(model_input, (list, tuple)):
        col = pd.Series(list(model_input))
    else:
        raise ValueError(f"unsupported input type {type(model_input).__name__}; pass a table with a 'text' column")
    texts = col.tolist()
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise ValueError(f"row(s) {bad[:10]}: 'text' must be a non-empty string")
    return texts
