"""The torch side of the checkpoint contract (:mod:`medinterp.models.checkpoint`): a network's
``state_dict`` as the file's arrays.

Later stages (interpretation, export, inference) call :func:`load_checkpoint`, which rebuilds the
network from the registry without downloading anything and loads the weights. Besides the common
``info``, a torch checkpoint records ``head`` (the replaced final block).

:func:`checkpoint_adapter` is the torch side of ``medinterp.models.loading.load_adapter``: a
checkpoint behind a :class:`~medinterp.models.torch.adapter.TorchAdapter`, with its fine-tuned
weights or with the weights its fine-tuning started from (:func:`initial_network`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from medinterp import registry
from medinterp.models import checkpoint as checkpoint_files
from medinterp.models.torch.adapter import TorchAdapter
from medinterp.models.torch.build import build

FAMILY = "torch"


def save_checkpoint(path: str | Path, model: nn.Module, info: dict[str, Any]) -> None:
    """Write ``model``'s weights and ``info`` (plain JSON-like values) to ``path`` atomically."""
    checkpoint_files.save(path, info, {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The network of a checkpoint, on the CPU and in eval mode, and its ``info``."""
    info, arrays = checkpoint_files.read(path)
    checkpoint_files.require_family(info, FAMILY, path)
    spec = registry.get(info["architecture"], FAMILY)
    model = build(spec, int(info["num_outputs"]), "random", float(info["dropout"])).model
    checkpoint_files.match_arrays(list(model.state_dict()), arrays, path)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    return model.eval(), info


def initial_network(info: dict[str, Any]) -> nn.Module:
    """The network a checkpoint's fine-tuning started from, in eval mode: the registry's network
    with the same initialisation (``settings.weights``) under the same seed, as
    ``isic_classifier.train_classifier`` builds it; the global random state is left as it was."""
    spec = registry.get(info["architecture"], info["family"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(info["seed"]))
        model = build(spec, int(info["num_outputs"]), str(info["settings"]["weights"]), float(info["dropout"])).model
    return model.eval()


def checkpoint_adapter(path: str | Path, initial: bool = False) -> tuple[TorchAdapter, dict[str, Any]]:
    """``medinterp.models.loading.load_adapter``'s torch side."""
    module, info = load_checkpoint(path)
    if initial:
        module = initial_network(info)
    normalisation = info["normalisation"]
    return TorchAdapter(module, normalisation["mean"], normalisation["std"], int(info["image_size"])), info
