"""The torch side of ``medinterp.models.loading.load_adapter``: a checkpoint (``checkpoint.py``) behind a
:class:`~medinterp.models.torch.adapter.TorchAdapter`, with its fine-tuned weights or with the
weights its fine-tuning started from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from medinterp import registry
from medinterp.models.torch.adapter import TorchAdapter
from medinterp.models.torch.build import build
from medinterp.models.torch.checkpoint import load_checkpoint


def initial_network(info: dict[str, Any]) -> nn.Module:
    """The network a checkpoint's fine-tuning started from, in eval mode: the registry's network
    with the same initialisation (``settings.weights``) under the same seed, as
    ``classifier.train_classifier`` builds it; the global random state is left as it was."""
    spec = registry.get(info["architecture"], info["family"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(info["seed"]))
        model = build(spec, int(info["num_outputs"]), str(info["settings"]["weights"]), float(info["dropout"])).model
    return model.eval()


def checkpoint_adapter(path: str | Path, initial: bool = False) -> tuple[TorchAdapter, dict[str, Any]]:
    module, info = load_checkpoint(path)
    if initial:
        module = initial_network(info)
    normalisation = info["normalisation"]
    return TorchAdapter(module, normalisation["mean"], normalisation["std"], int(info["image_size"])), info
