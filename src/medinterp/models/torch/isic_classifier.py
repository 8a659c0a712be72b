"""Fine-tuning a torchvision classifier for the ISIC tasks: :func:`train_classifier` builds the
network (``build``), trains it with the shared epoch loop (``train.TorchTrainable``,
``training.loop.fit``) and returns it at its best epoch as a :class:`TrainedClassifier`, whose
checkpoint (``checkpoint.save_checkpoint``) says what ``training.classifier.checkpoint_info`` says
for both families.

The loss, the training batches, the memory format and the precision are ``train``'s
(:mod:`medinterp.models.torch.train`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medinterp.models.torch.build import Built, build
from medinterp.models.torch.checkpoint import save_checkpoint
from medinterp.models.torch.data import training_batches
from medinterp.models.torch.train import MEMORY_FORMATS, TorchTrainable, device, predict_logits
from medinterp.models.torch.transforms import IMAGENET_MEAN, IMAGENET_STD
from medinterp.params import TaskSettings
from medinterp.registry import ModelSpec
from medinterp.training.classifier import TrainingData, checkpoint_info, num_outputs, probabilities
from medinterp.training.loop import FitConfig, FitResult, MetricLogger, fit
from medinterp.training.resume import ResumeFile


@dataclass
class TrainedClassifier:
    spec: ModelSpec
    settings: TaskSettings
    built: Built
    fit: FitResult
    class_names: list[str]
    class_weights: list[float]
    seed: int
    train_images_per_second: float

    @property
    def model(self) -> nn.Module:
        return self.built.model

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities: ``(N,)`` P(class 1) for a binary model, ``(N, K)`` otherwise."""
        return probabilities(
            predict_logits(
                self.model, images, precision=self.settings.precision, memory_format=self.settings.memory_format
            )
        )

    @property
    def init_used(self) -> str:
        return self.built.init_used

    def info(self, **extra: Any) -> dict[str, Any]:
        """The checkpoint ``info`` of this model (``models.checkpoint``), plus ``extra`` entries."""
        normalisation = {"layout": "NCHW", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
        return checkpoint_info(
            self.spec,
            self.settings,
            self.class_names,
            self.built.init_used,
            self.seed,
            normalisation,
            self.fit,
            self.class_weights,
            head=self.built.head,
            frozen_parameters=list(self.built.frozen),
            **extra,
        )

    def save(self, path: str | Path, **extra: Any) -> None:
        save_checkpoint(path, self.model, self.info(**extra))


def train_classifier(
    spec: ModelSpec,
    settings: TaskSettings,
    class_names: list[str],
    class_weights: np.ndarray,
    data: TrainingData,
    seed: int,
    logger: MetricLogger | None = None,
    prefix: str = "",
    desc: str = "train",
    resume: ResumeFile | None = None,
) -> TrainedClassifier:
    """Build ``spec`` (seeded), fine-tune it on ``data``'s training rows and return it at the epoch
    with the best ``settings.monitor`` on its validation images; with ``resume``, an interrupted
    run continues from its last completed epoch (``training.loop.fit``)."""
    torch.manual_seed(seed)
    run_on, memory_format = device(), MEMORY_FORMATS[settings.memory_format]
    built = build(spec, num_outputs(class_names), settings.weights, settings.dropout, settings.freeze)
    built.model.to(run_on, memory_format=memory_format)
    batches = training_batches(
        data.images,
        data.train_index,
        data.train_labels,
        settings.batch_size,
        settings.loader_workers,
        settings.image_size,
        settings.augment,
        seed,
        run_on,
        memory_format,
    )
    trainable = TorchTrainable(
        built.model,
        batches,
        data.val_images,
        data.val_labels,
        class_weights,
        class_names,
        desc,
        settings.precision,
        settings.memory_format,
    )
    result = fit(trainable, FitConfig.of(settings), logger, prefix=prefix, desc=desc, resume=resume)
    return TrainedClassifier(
        spec,
        settings,
        built,
        result,
        class_names,
        [float(w) for w in class_weights],
        seed,
        trainable.throughput.per_second,
    )
