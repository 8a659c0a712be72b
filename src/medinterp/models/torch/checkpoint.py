"""The checkpoint contract of the torch family: one file with the weights and what they are.

``models/isic/binary/model.pt`` and ``models/isic/multiclass/model.pt`` are such files. Later
stages (interpretation, export, inference) call :func:`load_checkpoint`, which rebuilds the network
from the registry without downloading anything and loads the weights.

``info`` holds at least: ``architecture`` (registry name), ``family`` (``torch``), ``task``
(``binary`` | ``multiclass``), ``class_names`` (output order), ``num_outputs`` (1 for the binary
task's single logit), ``image_size``, ``normalisation`` (``mean``, ``std``, applied after dividing
by 255), ``init_used``, ``seed``, ``settings`` (the resolved task settings), ``head`` (name of the
replaced final block) and ``dropout``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.export.metadata import framework_info
from medinterp.io import atomic_path
from medinterp.models.torch.build import build, read_torch_file

FORMAT = "medinterp-torch-classifier"
VERSION = 1
REQUIRED_INFO = ("architecture", "family", "task", "class_names", "num_outputs", "image_size",
                 "normalisation", "init_used", "seed", "settings", "dropout")


def save_checkpoint(path: str | Path, model: nn.Module, info: dict[str, Any]) -> None:
    """Write ``model``'s weights and ``info`` (plain JSON-like values) to ``path`` atomically."""
    missing = [k for k in REQUIRED_INFO if k not in info]
    if missing:
        raise ValueError(f"checkpoint info lacks {missing}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, "info": info, "state_dict": state}, tmp)


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The network of a checkpoint, on the CPU and in eval mode, and its ``info``."""
    path = Path(path)
    saved = read_torch_file(path, "checkpoint not found; run the stage that makes it (dvc repro)", "checkpoint")
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a {FORMAT} checkpoint")
    if saved.get("version") != VERSION:
        raise ConfigError(f"{path}: checkpoint version {saved.get('version')} is not supported (expected {VERSION})")
    info = saved["info"]
    spec = registry.get(info["architecture"], info["family"])
    model = build(spec, int(info["num_outputs"]), "random", float(info["dropout"])).model
    model.load_state_dict(saved["state_dict"])
    return model.eval(), info


def eager_runner(onnx_path: str | Path, meta: dict[str, Any]):
    """PyTorch's own forward pass of the checkpoint an ONNX file was exported from (``model.pt``
    beside ``model.onnx``), on the CPU, taking the ONNX model's input; and the framework."""
    model, _ = load_checkpoint(Path(onnx_path).with_suffix(".pt"))

    def run(inputs):
        with torch.inference_mode():
            return model(torch.from_numpy(inputs)).numpy()

    return run, framework_info("torch", torch.__version__)
