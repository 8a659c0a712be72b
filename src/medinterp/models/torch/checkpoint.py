"""The torch side of the checkpoint contract (:mod:`medinterp.models.checkpoint`): a network's
``state_dict`` as the file's arrays.

Later stages (interpretation, export, inference) call :func:`load_checkpoint`, which rebuilds the
network from the registry without downloading anything and loads the weights. Besides the common
``info``, a torch checkpoint records ``head`` (the replaced final block).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medinterp import registry
from medinterp.export.metadata import framework_info
from medinterp.models import checkpoint as C
from medinterp.models.torch.build import build

FAMILY = "torch"


def to_numpy(value: Any) -> Any:
    """``value`` with every tensor in it (nested in dicts, lists, tuples) copied to a numpy array."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_numpy(v) for v in value)
    return value


def to_torch(value: Any) -> Any:
    """The inverse of :func:`to_numpy`."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, dict):
        return {k: to_torch(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_torch(v) for v in value)
    return value


def random_state() -> dict[str, Any]:
    """torch's CPU and CUDA random streams (dropout) as numpy arrays, for a resumable training state."""
    return {"cpu": torch.get_rng_state().numpy(),
            "cuda": [s.numpy() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else []}


def set_random_state(state: dict[str, Any]) -> None:
    """The inverse of :func:`random_state`; a CUDA stream saved elsewhere is ignored without CUDA."""
    torch.set_rng_state(torch.from_numpy(state["cpu"]))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.from_numpy(s) for s in state["cuda"]])


def save_checkpoint(path: str | Path, model: nn.Module, info: dict[str, Any]) -> None:
    """Write ``model``'s weights and ``info`` (plain JSON-like values) to ``path`` atomically."""
    C.save(path, info, {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The network of a checkpoint, on the CPU and in eval mode, and its ``info``."""
    info, arrays = C.read(path)
    C.require_family(info, FAMILY, path)
    spec = registry.get(info["architecture"], FAMILY)
    model = build(spec, int(info["num_outputs"]), "random", float(info["dropout"])).model
    C.match_arrays(list(model.state_dict()), arrays, path)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    return model.eval(), info


def eager_runner(onnx_path: str | Path, meta: dict[str, Any]):
    """PyTorch's own forward pass of the checkpoint an ONNX file was exported from (the
    ``checkpoint.npz`` beside ``model.onnx``), on the CPU, taking the ONNX model's input; and the framework."""
    model, _ = load_checkpoint(C.path_in(Path(onnx_path).parent))

    def run(inputs):
        with torch.inference_mode():
            return model(torch.from_numpy(inputs)).numpy()

    return run, framework_info("torch", torch.__version__)
