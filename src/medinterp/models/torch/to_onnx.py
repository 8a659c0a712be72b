"""Export a checkpoint's network to ONNX (dynamic batch), with the metadata every exported model
carries (``export.metadata``) and a parity check against PyTorch (``export.parity``).

The ONNX model takes the normalised ``(N, 3, S, S)`` input of ``transforms.to_input`` and returns
logits ``(N, K)``; the metadata says how to get there from an image file and which activation turns
the logits into probabilities.

This uses PyTorch's TorchScript-based exporter (``dynamo=False``): the newer ``torch.export`` one
needs the ``onnxscript`` package, which this environment does not carry.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medinterp.export import metadata as M
from medinterp.export.parity import parity
from medinterp.io import atomic_path
from medinterp.models.torch.classifier import predict_logits
from medinterp.models.torch.transforms import to_input

INPUT, OUTPUT = "input", "logits"


def export_onnx(model: nn.Module, path: str | Path, image_size: int, opset: int = 17) -> None:
    """Write ``model`` (eval mode, CPU) to ``path`` with a dynamic batch dimension."""
    model = model.eval().cpu()
    example = torch.zeros(2, 3, image_size, image_size)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)   # the legacy exporter announces its retirement
        torch.onnx.export(model, (example,), str(tmp), dynamo=False, opset_version=opset, input_names=[INPUT],
                          output_names=[OUTPUT], dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})


def metadata(info: dict[str, Any], name: str, dataset: str, split: str, metrics: dict[str, float], params: dict[str, Any]) -> dict:
    """The metadata record of a checkpoint's ONNX export (see ``export.metadata``)."""
    norm = info["normalisation"]
    return M.make(
        name=name, architecture=info["architecture"], family=info["family"], task=info["task"], dataset=dataset,
        split=split, class_names=list(info["class_names"]),
        input=M.input_spec(int(info["image_size"]), "NCHW", list(norm["mean"]), list(norm["std"]), name=INPUT),
        output=M.output_spec("logits", "sigmoid" if int(info["num_outputs"]) == 1 else "softmax", name=OUTPUT),
        metrics=metrics, init_used=info["init_used"], git_revision=M.git_revision(), params=params,
        framework=M.framework_info("torch", torch.__version__),
    )


def export_checked(model: nn.Module, info: dict[str, Any], path: str | Path, meta: dict, images: np.ndarray,
                   tolerance: float, opset: int = 17) -> dict:
    """Export, attach ``meta``, and compare ONNX Runtime's logits on ``images`` (``uint8`` NHWC) with
    PyTorch's; raises ``RuntimeError`` when they differ by more than ``tolerance``."""
    export_onnx(model, path, int(info["image_size"]), opset)
    M.attach(path, meta)
    reference = predict_logits(model, images)
    result = parity(path, to_input(images).numpy(), reference)
    if not result["max_abs_diff"] <= tolerance:
        raise RuntimeError(f"{path}: ONNX Runtime and PyTorch logits differ by up to {result['max_abs_diff']:.3g} "
                             f"(tolerance {tolerance:g}) on {result['samples']} images")
    return result
