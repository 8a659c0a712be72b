"""Which module of which family does a job, imported only when asked: a stage loads one framework
(the two must not share a process), and the stages say what they need, not where each family keeps it."""

from __future__ import annotations

import importlib
from typing import Any, Callable

from medinterp.errors import ConfigError

# job -> family -> (module, function); every function of one job has the same signature
JOBS = {
    "train_classifier": {"torch": ("medinterp.models.torch.classifier", "train_classifier"),
                         "keras": ("medinterp.models.keras.finetune", "train_classifier")},
    "export_checkpoint": {"torch": ("medinterp.models.torch.to_onnx", "export_checkpoint"),
                          "keras": ("medinterp.models.keras.finetune", "export_checkpoint")},
    "checkpoint_adapter": {"torch": ("medinterp.models.torch.interpret", "checkpoint_adapter"),
                           "keras": ("medinterp.models.keras.finetune", "checkpoint_adapter")},
    "checkpoint_eager_runner": {"torch": ("medinterp.models.torch.checkpoint", "eager_runner"),
                                "keras": ("medinterp.models.keras.finetune", "eager_runner")},
    # the paper's stages: a class whose instances have the same methods in both families
    "paper_networks": {"torch": ("medinterp.models.torch.paper_networks", "PaperNetworks"),
                       "keras": ("medinterp.models.keras.paper_networks", "PaperNetworks")},
    # the eager forward pass of a paper ONNX file's weights (its weights file beside it)
    "paper_eager_runner": {"torch": ("medinterp.models.torch.paper_networks", "eager_runner"),
                           "keras": ("medinterp.models.keras.export", "eager_runner")},
}


def family_function(job: str, family: str) -> Callable[..., Any]:
    """The function that does ``job`` for ``family``, its framework imported now."""
    try:
        module, name = JOBS[job][family]
    except KeyError:
        raise ConfigError(f"no '{job}' for family '{family}' (families: {sorted(JOBS.get(job, {}))})") from None
    return getattr(importlib.import_module(module), name)
