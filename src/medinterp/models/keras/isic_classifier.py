"""Fine-tuning a Keras classifier for the ISIC tasks: the Keras counterpart of
``medinterp.models.torch.isic_classifier``, so ``model=nasnet_mobile`` (or ``family=keras``) runs the
thesis's protocol with the same settings, loop, checkpoint contract and interpretation code.

- Network: ``build.build_finetune``, on the registry's ``keras.applications`` backbone
  (``build.build_backbone``: input ``(N, S, S, 3)`` in [0, 1], normalisation inside).
- Loss: the class-weighted mean ``sum(w[y] * loss) / sum(w[y])`` of binary cross-entropy on one
  logit or cross-entropy on K, the torch side's arithmetic (tests check it against each other's
  reference); Adam at the task's learning rate; the epoch loop, plateau and early stopping of
  ``training.loop.fit``.
- Augmentation: ``transforms.augment_batch``, from ``isic.augment``.
- Checkpoint: ``models.checkpoint`` with each Keras variable's ``path`` as its array's name
  (``checkpoint.save_checkpoint``).
- Precision: ``settings.precision`` (``isic.precision``) is the Keras dtype policy the network is
  built under (``train.precision``); the logits and the loss stay float32.
- Resume: ``train_classifier(resume=...)`` continues an interrupted fit (``training.resume``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from medinterp.evaluation.scalars import scalars
from medinterp.models.keras.build import HEAD, build_finetune
from medinterp.models.keras.checkpoint import save_checkpoint
from medinterp.models.keras.optimizers import FusedOptimizer
from medinterp.models.keras.train import KerasTrainable, configure_tensorflow, precision, run_batched
from medinterp.models.keras.transforms import augment_batch
from medinterp.params import TaskSettings
from medinterp.registry import ModelSpec
from medinterp.training.classifier import Throughput, TrainingData, checkpoint_info, num_outputs, probabilities
from medinterp.training.loop import FitConfig, FitResult, MetricLogger, fit
from medinterp.training.resume import ResumeFile, SeededBatches

NORMALISATION = {"layout": "NHWC", "mean": None, "std": None}  # [0, 1] in, the network normalises inside


def targets(labels: np.ndarray, outputs: int) -> np.ndarray:
    """The loss's targets: ``(N, 1)`` labels for one logit, one-hot ``(N, K)`` otherwise."""
    labels = np.asarray(labels, dtype=np.int64)
    if outputs == 1:
        return labels.reshape(-1, 1).astype(np.float32)
    return np.eye(outputs, dtype=np.float32)[labels]


def weighted_loss(class_weights: np.ndarray):
    """``loss(targets, logits)``: the class-weighted mean of binary cross-entropy (one logit) or
    cross-entropy (K logits), on tensors or numpy arrays."""
    weights = np.asarray(class_weights, dtype=np.float32)

    def loss(y, logits):
        y, logits = ops.convert_to_tensor(y, "float32"), ops.convert_to_tensor(logits, "float32")
        if logits.shape[-1] == 1:
            per_image = ops.binary_crossentropy(y, logits, from_logits=True)[:, 0]
            w = y[:, 0] * weights[1] + (1.0 - y[:, 0]) * weights[0]
        else:
            per_image = ops.categorical_crossentropy(y, logits, from_logits=True)
            w = ops.matmul(y, weights)
        return ops.sum(w * per_image) / ops.sum(w)

    return loss


class FineTuning(KerasTrainable):
    """:class:`KerasTrainable` that also reports the training epoch's metrics (from the augmented
    batches' logits of that epoch, as the torch side does) and its throughput."""

    def __init__(self, model, loss, optimizer, batches, val_x, val_labels, batch_size, class_names: list[str]):
        self.class_names = class_names
        self.throughput = Throughput()

        def metrics(_, logits):
            return scalars(val_labels, probabilities(logits), class_names)

        super().__init__(
            model, loss, optimizer, batches, val_x, targets(val_labels, model.output_shape[-1]), batch_size, metrics
        )

    def train_epoch(self, epoch: int) -> dict[str, float]:
        start = time.perf_counter()
        seen_y, seen_logits = [], []
        for x, y in self.batches(epoch):
            _, logits = self._step(x, y)
            seen_logits.append(logits.numpy())
            seen_y.append(y)
        y, logits = np.concatenate(seen_y), np.concatenate(seen_logits)
        self.throughput.add(len(y), time.perf_counter() - start)
        labels = y[:, 0].astype(np.int64) if y.shape[1] == 1 else y.argmax(axis=1)
        return {"loss": float(self.loss(y, logits)), **scalars(labels, probabilities(logits), self.class_names)}


def training_batches(
    images: np.ndarray, index: np.ndarray, labels: np.ndarray, outputs: int, settings: TaskSettings, seed: int
) -> SeededBatches:
    """An epoch-batch source: rows ``index`` of ``uint8`` ``images`` shuffled and augmented, the
    draws starting from ``seed``; a last batch of one image is dropped (batch normalisation)."""
    y = targets(labels, outputs)

    def epoch(_: int, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = rng.permutation(len(index))
        for start in range(0, len(order), settings.batch_size):
            rows = order[start : start + settings.batch_size]
            if len(rows) < 2:
                continue
            x = np.asarray(images[index[rows]], dtype=np.float32) / 255.0
            yield augment_batch(x, settings.augment, rng), y[rows]

    return SeededBatches(np.random.default_rng(seed), epoch)


@dataclass
class TrainedKeras:
    spec: ModelSpec
    settings: TaskSettings
    model: keras.Model
    init_used: str
    frozen: tuple[str, ...]
    fit: FitResult
    class_names: list[str]
    class_weights: list[float]
    seed: int
    train_images_per_second: float
    forward: Any  # the model's traced inference function (``train.inference_function``)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities: ``(N,)`` P(class 1) for a binary model, ``(N, K)`` otherwise."""
        return probabilities(
            run_batched(self.forward, np.asarray(images, dtype=np.float32) / 255.0, self.settings.batch_size)
        )

    def info(self, **extra: Any) -> dict[str, Any]:
        return checkpoint_info(
            self.spec,
            self.settings,
            self.class_names,
            self.init_used,
            self.seed,
            NORMALISATION,
            self.fit,
            self.class_weights,
            head=HEAD,
            frozen_layers=list(self.frozen),
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
) -> TrainedKeras:
    """The torch side's ``train_classifier`` in Keras (see :mod:`medinterp.training.classifier`)."""
    configure_tensorflow(seed)
    outputs = num_outputs(class_names)
    with precision(settings.precision):
        model, used, frozen = build_finetune(
            spec, settings.image_size, outputs, settings.weights, settings.dropout, settings.freeze
        )
    trainable = FineTuning(
        model,
        weighted_loss(class_weights),
        FusedOptimizer("adam", settings.learning_rate),
        training_batches(data.images, np.asarray(data.train_index), data.train_labels, outputs, settings, seed),
        np.asarray(data.val_images, dtype=np.float32) / 255.0,
        np.asarray(data.val_labels),
        settings.batch_size,
        class_names,
    )
    result = fit(trainable, FitConfig.of(settings), logger, prefix=prefix, desc=desc, resume=resume)
    return TrainedKeras(
        spec,
        settings,
        model,
        used,
        frozen,
        result,
        class_names,
        [float(w) for w in class_weights],
        seed,
        trainable.throughput.per_second,
        trainable.forward,
    )
