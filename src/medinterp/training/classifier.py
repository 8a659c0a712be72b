"""An image classifier's training as the stages see it, whatever its family: what a run learns
from (:class:`TrainingData`), what it offers once trained (:class:`Trained`), how fast it trained
(:class:`Throughput`) and what its checkpoint records (:func:`checkpoint_info`).

Each family's ``isic_classifier`` module (``medinterp.models.torch.isic_classifier``,
``medinterp.models.keras.isic_classifier``) provides
``train_classifier(spec, settings, class_names, class_weights, data, seed, logger, prefix, desc, resume)``
returning a :class:`Trained`, and both call :func:`checkpoint_info`, so the two families'
checkpoints say the same things in the same words (:mod:`medinterp.models.checkpoint`).
:func:`run_resume` gives a run its resume file (:mod:`medinterp.training.resume`). Framework-free,
like the rest of :mod:`medinterp.training`: the family packages build on it, the ISIC stages
(:mod:`medinterp.isic`, ``medinterp.stages.isic_*``) call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy.special import expit, softmax

from medinterp.params import TaskSettings
from medinterp.registry import ModelSpec
from medinterp.training.loop import FitResult
from medinterp.training.resume import ResumeFile, array_inputs, resume_file


@dataclass(frozen=True)
class TrainingData:
    """One run's data: rows ``train_index`` of ``images`` (``(N, H, W, 3) uint8``, typically
    memory-mapped) with their ``train_labels``, and the validation images and labels."""

    images: np.ndarray
    train_index: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray


@dataclass
class Throughput:
    """Training images per second over the epochs run (reading, augmenting, forward and backward pass)."""

    images: int = 0
    seconds: float = 0.0

    def add(self, images: int, seconds: float) -> None:
        self.images += images
        self.seconds += seconds

    @property
    def per_second(self) -> float:
        return float(self.images / self.seconds) if self.seconds else float("nan")


class Trained(Protocol):
    fit: FitResult
    class_weights: list[float]  # of the loss, per class
    train_images_per_second: float

    @property
    def init_used(self) -> str:
        """The initialisation really used: ``random``, ``imagenet`` or a weights file."""

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities of ``(N, H, W, 3) uint8`` images: ``(N,)`` P(class 1) for a binary
        model, ``(N, K)`` otherwise."""

    def save(self, path: str | Path, **extra: Any) -> None:
        """Write the model's checkpoint, its :func:`checkpoint_info` extended by ``extra``."""


def run_resume(
    stage: str, run: str, spec: ModelSpec, settings: TaskSettings, class_weights: np.ndarray, seed: int, table: str
) -> ResumeFile:
    """The resume file of run ``run`` (``fold2``, ``model``) of an ISIC stage training on the arrays of ``table``."""
    described = {
        "model": spec.name,
        "family": spec.family,
        "task": settings.as_dict(),
        "class_weights": [float(w) for w in class_weights],
    }
    return resume_file(stage, run, described, seed, {"arrays": array_inputs(table)})


def num_outputs(class_names: list[str]) -> int:
    """One logit for two classes (the binary task), one per class otherwise."""
    return 1 if len(class_names) == 2 else len(class_names)


def probabilities(logits: np.ndarray) -> np.ndarray:
    """P(class 1) ``(N,)`` from one logit per image, or softmax ``(N, K)`` from K logits."""
    logits = np.asarray(logits, dtype=np.float64)
    return expit(logits[:, 0]) if logits.shape[1] == 1 else softmax(logits, axis=1)


def checkpoint_info(
    spec: ModelSpec,
    settings: TaskSettings,
    class_names: list[str],
    init_used: str,
    seed: int,
    normalisation: dict[str, Any],
    fit: FitResult,
    class_weights: list[float],
    **extra: Any,
) -> dict[str, Any]:
    """The ``info`` of a checkpoint (``models.checkpoint``): ``normalisation`` gives the network's
    input ``layout`` and the ``mean``/``std`` applied after dividing by 255 (``None`` when the
    network normalises inside)."""
    return {
        "architecture": spec.name,
        "family": spec.family,
        "task": settings.task,
        "class_names": list(class_names),
        "num_outputs": num_outputs(class_names),
        "image_size": settings.image_size,
        "normalisation": normalisation,
        "init_used": init_used,
        "seed": seed,
        "settings": settings.as_dict(),
        "dropout": settings.dropout,
        "class_weights": [float(w) for w in class_weights],
        "best_epoch": fit.best_epoch,
        "epochs_run": fit.epochs_run,
        "best": fit.best,
        **extra,
    }
