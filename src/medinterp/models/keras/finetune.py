"""Fine-tuning a Keras classifier for the ISIC tasks: the Keras counterpart of
``medinterp.models.torch.classifier``, so ``model=nasnet_mobile`` (or ``family=keras``) runs the
thesis's protocol with the same settings, loop, checkpoint contract and interpretation code.

- Network: the registry's ``keras.applications`` backbone (``backbones.build_backbone``: input
  ``(N, S, S, 3)`` in [0, 1], normalisation inside), global average pooling, dropout ``dropout``
  and a dense layer ``head_logits`` of one logit (binary) or one per class: the torch side's "final
  layer replaced by dropout and a linear layer". ``freeze`` lists layer-name prefixes that do not
  train; ``classifier`` names the classifier block, which for an application without its top is the
  new final layer alone, so by default nothing is frozen (as for torchvision's ResNet50).
- Loss: the class-weighted mean ``sum(w[y] * loss) / sum(w[y])`` of binary cross-entropy on one
  logit or cross-entropy on K, the torch side's arithmetic (tests check it against each other's
  reference); Adam at the task's learning rate; the epoch loop, plateau and early stopping of
  ``training.loop.fit``.
- Augmentation: ``transforms.augment_batch``, from ``isic.augment``.
- Checkpoint: ``models.checkpoint`` with each Keras variable's ``path`` as its array's name.
- Precision: ``settings.precision`` (``isic.precision``) is the Keras dtype policy the network is
  built under (``training.precision``); the logits and the loss stay float32.
- Resume: ``train_classifier(resume=...)`` continues an interrupted fit (``training.resume``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import keras
import numpy as np
from keras import ops

from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.evaluation.scalars import scalars
from medinterp.export import metadata as M
from medinterp.params import TaskSettings
from medinterp.isic.trained import Throughput, TrainingData, checkpoint_info, num_outputs, probabilities
from medinterp.models import checkpoint as C
from medinterp.models.keras.adapter import KerasAdapter
from medinterp.models.keras.backbones import build_backbone
from medinterp.models.keras.export import OPSET, OnnxExporter, framework
from medinterp.models.keras.optimizers import FusedOptimizer
from medinterp.models.keras.training import KerasTrainable, configure_tensorflow, precision, run_batched
from medinterp.models.keras.transforms import augment_batch
from medinterp.registry import ModelSpec
from medinterp.training.loop import FitConfig, FitResult, MetricLogger, fit
from medinterp.training.resume import ResumeFile, SeededBatches

FAMILY = "keras"
HEAD = "head_logits"
CLASSIFIER = "classifier"   # in ``freeze``: the classifier block, here the new final layer alone
NORMALISATION = {"layout": "NHWC", "mean": None, "std": None}   # [0, 1] in, the network normalises inside


def build_finetune(spec: ModelSpec, size: int, outputs: int, weights: str = "random", dropout: float = 0.1,
                   freeze: tuple[str, ...] | list[str] = ()) -> tuple[keras.Model, str, tuple[str, ...]]:
    """The classifier, the initialisation really used, and the names of its frozen layers."""
    backbone, used = build_backbone(spec, size, weights)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(backbone.output)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    logits = keras.layers.Dense(outputs, name=HEAD, dtype="float32")(x)   # float32 logits under mixed precision too
    model = keras.Model(backbone.input, logits, name=f"{spec.name}_isic")
    return model, used, _freeze(model, tuple(freeze), spec.name)


def _freeze(model: keras.Model, prefixes: tuple[str, ...], model_name: str) -> tuple[str, ...]:
    prefixes = tuple(p for p in prefixes if p != CLASSIFIER)
    weighted = [layer for layer in model.layers if layer.weights and layer.name != HEAD]
    for prefix in prefixes:
        if not any(layer.name.startswith(prefix) for layer in weighted):
            raise ConfigError(f"freeze: '{prefix}' names no layer of the Keras {model_name} (a prefix of its layer "
                              f"names, e.g. {[layer.name for layer in weighted[:3]]})")
    frozen = []
    for layer in weighted:
        if any(layer.name.startswith(prefix) for prefix in prefixes):
            layer.trainable = False
            frozen.append(layer.name)
    return tuple(frozen)


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
        metrics = lambda _, logits: scalars(val_labels, probabilities(logits), class_names)
        super().__init__(model, loss, optimizer, batches, val_x, targets(val_labels, model.output_shape[-1]), batch_size, metrics)

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


def training_batches(images: np.ndarray, index: np.ndarray, labels: np.ndarray, outputs: int, settings: TaskSettings,
                     seed: int) -> SeededBatches:
    """An epoch-batch source: rows ``index`` of ``uint8`` ``images`` shuffled and augmented, the
    draws starting from ``seed``; a last batch of one image is dropped (batch normalisation)."""
    y = targets(labels, outputs)

    def epoch(_: int, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = rng.permutation(len(index))
        for start in range(0, len(order), settings.batch_size):
            rows = order[start:start + settings.batch_size]
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
    forward: Any                          # the model's traced inference function (``training.inference_function``)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities: ``(N,)`` P(class 1) for a binary model, ``(N, K)`` otherwise."""
        return probabilities(run_batched(self.forward, np.asarray(images, dtype=np.float32) / 255.0, self.settings.batch_size))

    def info(self, **extra: Any) -> dict[str, Any]:
        return checkpoint_info(self.spec, self.settings, self.class_names, self.init_used, self.seed, NORMALISATION,
                               self.fit, self.class_weights, head=HEAD, frozen_layers=list(self.frozen), **extra)

    def save(self, path: str | Path, **extra: Any) -> None:
        save_checkpoint(path, self.model, self.info(**extra))


def train_classifier(spec: ModelSpec, settings: TaskSettings, class_names: list[str], class_weights: np.ndarray,
                     data: TrainingData, seed: int, logger: MetricLogger | None = None, prefix: str = "",
                     desc: str = "train", resume: ResumeFile | None = None) -> TrainedKeras:
    """The torch side's ``train_classifier`` in Keras (see :mod:`medinterp.isic.trained`)."""
    configure_tensorflow(seed)
    outputs = num_outputs(class_names)
    with precision(settings.precision):
        model, used, frozen = build_finetune(spec, settings.image_size, outputs, settings.weights, settings.dropout, settings.freeze)
    trainable = FineTuning(model, weighted_loss(class_weights), FusedOptimizer("adam", settings.learning_rate),
                           training_batches(data.images, np.asarray(data.train_index), data.train_labels, outputs, settings, seed),
                           np.asarray(data.val_images, dtype=np.float32) / 255.0, np.asarray(data.val_labels), settings.batch_size,
                           class_names)
    result = fit(trainable, FitConfig.of(settings), logger, prefix=prefix, desc=desc, resume=resume)
    return TrainedKeras(spec, settings, model, used, frozen, result, class_names, [float(w) for w in class_weights], seed,
                        trainable.throughput.per_second, trainable.forward)


# -- the checkpoint and what reads it ----------------------------------------------------------

def save_checkpoint(path: str | Path, model: keras.Model, info: dict[str, Any]) -> None:
    C.save(path, info, {variable.path: np.asarray(variable.numpy()) for variable in model.weights})


def _network(info: dict[str, Any], weights: str = "random", freeze: tuple[str, ...] = ()) -> keras.Model:
    spec = registry.get(info["architecture"], FAMILY)
    model, _, _ = build_finetune(spec, int(info["image_size"]), int(info["num_outputs"]), weights, float(info["dropout"]), freeze)
    return model


def load_checkpoint(path: str | Path) -> tuple[keras.Model, dict[str, Any]]:
    """The network of a checkpoint with its weights, and its ``info``."""
    info, arrays = C.read(path)
    C.require_family(info, FAMILY, path)
    model = _network(info)
    C.match_arrays([v.path for v in model.weights], arrays, path)
    for variable in model.weights:
        variable.assign(arrays[variable.path])
    return model, info


def initial_network(info: dict[str, Any]) -> keras.Model:
    """The network a checkpoint's fine-tuning started from: built as :func:`train_classifier` builds
    it, under the same seed and with the same initialisation (``settings.weights``)."""
    configure_tensorflow(int(info["seed"]))
    return _network(info, str(info["settings"]["weights"]), tuple(info["settings"]["freeze"]))


def checkpoint_adapter(path: str | Path, initial: bool = False) -> tuple[KerasAdapter, dict[str, Any]]:
    """``medinterp.models.loading.load_adapter``'s Keras side."""
    model, info = load_checkpoint(path)
    if initial:
        model = initial_network(info)
    return KerasAdapter(model), info


def export_checkpoint(checkpoint: str | Path, onnx_path: str | Path, fields: dict[str, Any], images: np.ndarray,
                      tolerance: float, opset: int) -> tuple[dict, dict]:
    """The checkpoint as ONNX (``input`` [0, 1] NHWC, output ``logits``) with the metadata
    ``export.metadata.for_checkpoint`` makes of its info and ``fields``, checked against Keras on
    ``images`` (``uint8`` NHWC): the parity record and measurement (``OnnxExporter.export``)."""
    if opset != OPSET:
        raise ConfigError(f"isic.export.opset is {opset}; the Keras family exports at opset {OPSET} (tf2onnx)")
    model, info = load_checkpoint(checkpoint)
    meta = M.for_checkpoint(info, framework=framework(), **fields)
    return OnnxExporter(model, "logits").export(onnx_path, meta, np.asarray(images, dtype=np.float32) / 255.0, tolerance)


def eager_runner(onnx_path: str | Path, meta: dict[str, Any]):
    """Keras's own forward pass of the checkpoint an ONNX file was exported from (``checkpoint.npz``
    beside it), taking the ONNX model's input; and the framework."""
    model, _ = load_checkpoint(C.path_in(Path(onnx_path).parent))
    return (lambda x: np.asarray(model(x, training=False))), framework()
