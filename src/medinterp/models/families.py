"""Which module of which family does a job, imported only when asked: a stage loads one framework
(the two must not share a process), and the stages say what they need, not where each family keeps it."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medinterp import numerics
from medinterp.errors import ConfigError

# TensorFlow's CUDA build needs CUDA 12 wheels that clash with torch's CUDA 13 ones, so it has an
# environment of its own (docs/gpu.md), which a Keras job moves to on a GPU machine.
KERAS_GPU_ENVIRONMENT = Path(".venv-keras-gpu")

# job -> family -> (module, function); every function of one job has the same signature
JOBS = {
    "train_classifier": {
        "torch": ("medinterp.models.torch.isic_classifier", "train_classifier"),
        "keras": ("medinterp.models.keras.isic_classifier", "train_classifier"),
    },
    "export_checkpoint": {
        "torch": ("medinterp.models.torch.export", "export_checkpoint"),
        "keras": ("medinterp.models.keras.export", "export_checkpoint"),
    },
    "checkpoint_adapter": {
        "torch": ("medinterp.models.torch.checkpoint", "checkpoint_adapter"),
        "keras": ("medinterp.models.keras.checkpoint", "checkpoint_adapter"),
    },
    # the eager forward pass of an ISIC checkpoint's ONNX file (checkpoint.npz beside it)
    "checkpoint_eager_runner": {
        "torch": ("medinterp.models.torch.export", "eager_runner"),
        "keras": ("medinterp.models.keras.export", "eager_runner"),
    },
    # the paper's stages: a class whose instances have the same methods in both families
    "paper_networks": {
        "torch": ("medinterp.models.torch.paper_networks", "PaperNetworks"),
        "keras": ("medinterp.models.keras.paper_networks", "PaperNetworks"),
    },
    # the eager forward pass of a paper ONNX file's weights (its weights file beside it)
    "paper_eager_runner": {
        "torch": ("medinterp.models.torch.paper_networks", "eager_runner"),
        "keras": ("medinterp.models.keras.paper_networks", "eager_runner"),
    },
}


def family_function(job: str, family: str) -> Callable[..., Any]:
    """The function that does ``job`` for ``family``, its framework imported now (in the family's
    GPU environment where there is one: :func:`move_to_family_environment`)."""
    try:
        module, name = JOBS[job][family]
    except KeyError:
        raise ConfigError(f"no '{job}' for family '{family}' (families: {sorted(JOBS.get(job, {}))})") from None
    move_to_family_environment(family)
    return getattr(importlib.import_module(module), name)


def move_to_family_environment(family: str, environment: Path = KERAS_GPU_ENVIRONMENT) -> None:
    """Restart this process (same arguments) under ``environment``'s Python when a Keras job is asked
    for with ``MEDINTERP_NUMERICS=fast`` (the GPU mode) and that environment exists; otherwise, or
    when already there, return. A stage asks before it writes anything, so nothing is lost."""
    python = environment / "bin" / "python"
    if family != "keras" or numerics.mode() != "fast" or not python.is_file():
        return
    if Path(sys.prefix).resolve() == environment.resolve():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(python, [str(python), *sys.orig_argv[1:]])
