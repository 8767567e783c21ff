"""Export of a trained fine-tune as the int8 ONNX graph that ``stance_model.onnx_runtime`` runs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from stance_model.onnx_runtime import INPUTS, ONNX_FILE


class _Graph(torch.nn.Module):
    """The model with plain tensor inputs (masks as int64) for the exporter; its outputs are the
    frame and stance logits and the passage features (``MultiTaskModel.with_features``)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, token_type_ids, attention_mask, passage_mask, target_masks):
        return self.model.with_features({"input_ids": input_ids, "token_type_ids": token_type_ids,
                                         "attention_mask": attention_mask, "passage_mask": passage_mask.bool(),
                                         "target_masks": target_masks.bool()})


def export_int8(model: torch.nn.Module, example: dict[str, torch.Tensor], dest: Path) -> Path:
    """Write ``model`` (in eval mode, on the CPU) as an int8 ONNX graph to ``dest``."""
    import logging
    import warnings

    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = model.eval()
    dynamic = {k: {0: "batch", 1: "length"} for k in INPUTS[:4]}
    dynamic["target_masks"] = {0: "batch", 2: "length"}
    with tempfile.TemporaryDirectory(prefix="onnx-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp32 = Path(tmp) / "fp32.onnx"
        with torch.no_grad():
            torch.onnx.export(_Graph(model), tuple(example[k].to(torch.int64) for k in INPUTS), str(fp32),
                              input_names=list(INPUTS), output_names=["frames", "stance", "passage"],
                              dynamic_axes={**dynamic, "frames": {0: "batch"}, "stance": {0: "batch"},
                                            "passage": {0: "batch"}},
                              opset_version=17, dynamo=False)
        level = logging.getLogger().level
        # the quantiser logs every node at INFO, and on every run a WARNING recommending its optional
        # pre-processing step; the graph is checked without it (the run's int8 check)
        logging.getLogger().setLevel(logging.ERROR)
        try:
            partial = Path(tmp) / ONNX_FILE
            quantize_dynamic(str(fp32), str(partial), per_channel=True, weight_type=QuantType.QInt8,
                             op_types_to_quantize=["MatMul"])
        finally:
            logging.getLogger().setLevel(level)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial.replace(dest)
    return dest
