"""Export a checkpoint's network to ONNX (dynamic batch), with the metadata every exported model
carries (``export.metadata``) and a parity check against PyTorch (``export.parity``).

The ONNX model takes the normalised ``(N, 3, S, S)`` input of ``transforms.to_input`` and returns
logits ``(N, K)``; the metadata says how to get there from an image file and which activation turns
the logits into probabilities. :func:`eager_runner` is PyTorch's own forward pass of an exported
checkpoint, for the inference benchmark.

This uses PyTorch's TorchScript-based exporter (``dynamo=False``): the newer ``torch.export`` one
needs the ``onnxscript`` package, which this environment does not carry.
"""

from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medinterp.export import metadata
from medinterp.export.parity import checked, parity
from medinterp.io import atomic_path
from medinterp.models import checkpoint as checkpoint_files
from medinterp.models.torch.checkpoint import load_checkpoint
from medinterp.models.torch.train import predict_logits
from medinterp.models.torch.transforms import to_input

INPUT, OUTPUT = "input", "logits"  # the names export.metadata.for_checkpoint records


def pool_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """``(size_out, size_in)`` averaging weights of adaptive average pooling along one axis: output
    ``i`` averages inputs ``floor(i * size_in / size_out)`` to ``ceil((i + 1) * size_in / size_out)``."""
    weights = torch.zeros(size_out, size_in)
    for i in range(size_out):
        start, end = (i * size_in) // size_out, math.ceil((i + 1) * size_in / size_out)
        weights[i, start:end] = 1.0 / (end - start)
    return weights


class FixedSizeAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` for one input size, as two matrix products.

    The TorchScript exporter refuses adaptive pooling whose output size is not a divisor of its
    input size: VGG16's 7 x 7 pool after the 2 x 2 feature maps of 64 px inputs, AlexNet's 6 x 6
    after 1 x 1. Averaging over a rectangle is averaging over rows, then columns, so the same
    numbers come out of ``rows @ x @ cols``.
    """

    def __init__(self, size_in: tuple[int, int], size_out: tuple[int, int]):
        super().__init__()
        self.register_buffer("rows", pool_matrix(size_in[0], size_out[0]))
        self.register_buffer("cols", pool_matrix(size_in[1], size_out[1]).T.contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rows @ x @ self.cols


def exportable(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """``model``, or a copy of it whose adaptive average pools that the exporter cannot write are
    replaced by :class:`FixedSizeAdaptiveAvgPool2d` for the input size of ``example``."""
    sizes: dict[str, tuple[int, int]] = {}
    hooks = [
        module.register_forward_hook(lambda m, args, out, name=name: sizes.__setitem__(name, tuple(args[0].shape[-2:])))
        for name, module in model.named_modules()
        if isinstance(module, nn.AdaptiveAvgPool2d)
    ]
    with torch.no_grad():
        model(example)
    for hook in hooks:
        hook.remove()
    replace = {}
    for name, size_in in sizes.items():
        out = model.get_submodule(name).output_size
        out = out if isinstance(out, tuple) else (out, out)
        size_out = tuple(s if o is None else o for s, o in zip(size_in, out))
        if any(i % o for i, o in zip(size_in, size_out)):
            replace[name] = FixedSizeAdaptiveAvgPool2d(size_in, size_out)
    if not replace:
        return model
    model = copy.deepcopy(model)
    for name, module in replace.items():
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, module)
    return model


def export_onnx(model: nn.Module, path: str | Path, image_size: int, opset: int = 17) -> None:
    """Write ``model`` (eval mode, CPU) to ``path`` with a dynamic batch dimension."""
    example = torch.zeros(2, 3, image_size, image_size)
    model = exportable(model.eval().cpu(), example)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # the legacy exporter announces its retirement
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
        )


def export_checked(
    model: nn.Module,
    info: dict[str, Any],
    path: str | Path,
    meta: dict,
    images: np.ndarray,
    tolerance: float,
    opset: int = 17,
) -> tuple[dict, dict]:
    """Export, compare ONNX Runtime's logits on ``images`` (``uint8`` NHWC) with PyTorch's, attach
    ``meta`` with the parity record (``export.parity.checked``); returns that record and the
    measurement for the run log. Raises ``RuntimeError`` when they differ by more than ``tolerance``."""
    export_onnx(model, path, int(info["image_size"]), opset)
    reference = predict_logits(model, images)
    measured = parity(path, to_input(images).numpy(), reference)
    record = checked(path, measured, tolerance, "PyTorch")
    metadata.attach(path, {**meta, "metrics": {**meta["metrics"], "onnx_parity": record}})
    return record, measured


def export_checkpoint(
    checkpoint: str | Path,
    onnx_path: str | Path,
    fields: dict[str, Any],
    images: np.ndarray,
    tolerance: float,
    opset: int = 17,
) -> tuple[dict, dict]:
    """A checkpoint (``checkpoint.load_checkpoint``) as ONNX with the metadata ``export.metadata.for_checkpoint``
    makes of its info and ``fields``, checked against PyTorch on ``images`` (``uint8`` NHWC)."""
    model, info = load_checkpoint(checkpoint)
    meta = metadata.for_checkpoint(info, framework=metadata.framework_info("torch", torch.__version__), **fields)
    return export_checked(model, info, onnx_path, meta, images, tolerance, opset)


def eager_runner(onnx_path: str | Path, meta: dict[str, Any]):
    """PyTorch's own forward pass of the checkpoint an ONNX file was exported from (the
    ``checkpoint.npz`` beside ``model.onnx``), on the CPU, taking the ONNX model's input; and the framework."""
    model, _ = load_checkpoint(checkpoint_files.path_in(Path(onnx_path).parent))

    def run(inputs):
        with torch.inference_mode():
            return model(torch.from_numpy(inputs)).numpy()

    return run, metadata.framework_info("torch", torch.__version__)
