"""Networks from a registry spec: ``keras.applications`` backbones (:func:`build_backbone`) and the
ISIC classifier on one (:func:`build_finetune`).

Every backbone takes ``(S, S, 3)`` float images in [0, 1] and returns the last convolutional
feature map. Between the two:

- layer ``preprocess`` (:class:`InputScaling`) maps [0, 1] to what the architecture's ImageNet
  weights expect (``keras.applications.<family>.preprocess_input``'s mode), so callers, exported
  ONNX models and the interpretability methods all feed plain [0, 1] images;
- the application without its top (``include_top=False``), layer names as Keras gives them;
- layer ``output`` (an identity) names the feature map, whatever Keras numbered the application's
  last layer in this session (NASNet's last activation), so the registry's ``output`` works as a
  layer name in every model built on a backbone.

Weights: ``random``; ``imagenet`` (Keras's own loader, which reads ``$KERAS_HOME/models/<file>``,
default ``~/.keras/models/<file>``, and would otherwise download it: offline this fails with a
:class:`ConfigError` that names the file and where to put it); or the path of a local weights file
(a Keras ``.weights.h5``/``.keras`` file of this backbone, or Keras's ImageNet ``.h5`` file itself),
or of a folder holding Keras's ImageNet file under its own name.

The ISIC classifier (:func:`build_finetune`): the backbone, global average pooling, dropout
``dropout`` and a dense layer ``head_logits`` (:data:`HEAD`) of one logit (binary) or one per class:
the torch side's "final layer replaced by dropout and a linear layer". ``freeze`` lists layer-name
prefixes that do not train; ``classifier`` names the classifier block, which for an application
without its top is the new final layer alone, so by default nothing is frozen (as for
torchvision's ResNet50).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from medinterp.errors import ConfigError
from medinterp.registry import ModelSpec

# keras.applications' preprocess_input modes: "tf" scales to [-1, 1], "torch" standardises with
# ImageNet's mean and std, "caffe" reverses RGB to BGR and subtracts ImageNet's mean in [0, 255].
PREPROCESSING = {
    "keras.applications.NASNetMobile": "tf",
    "keras.applications.MobileNetV2": "tf",
    "keras.applications.DenseNet201": "torch",
    "keras.applications.VGG16": "caffe",
    "keras.applications.ResNet50": "caffe",
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# MobileNetV2's ImageNet file depends on the input size; Keras picks 224 for any other size.
MOBILENET_SIZES = (96, 128, 160, 192, 224)


@keras.saving.register_keras_serializable(package="medinterp")
class InputScaling(keras.layers.Layer):
    """[0, 1] RGB images -> the input range of an architecture's ImageNet weights (``mode`` as above)."""

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("tf", "torch", "caffe"):
            raise ValueError(f"unknown preprocessing mode {mode!r}")
        self.mode = mode

    def call(self, images):
        if self.mode == "tf":
            return images * 2.0 - 1.0
        if self.mode == "torch":
            return (images - np.array(IMAGENET_MEAN, "float32")) / np.array(IMAGENET_STD, "float32")
        return images[..., ::-1] * 255.0 - np.array(CAFFE_MEAN_BGR, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def keras_spec(spec: ModelSpec) -> ModelSpec:
    if spec.family != "keras" or spec.constructor not in PREPROCESSING:
        raise ConfigError(
            f"model '{spec.name}' ({spec.family}) is not a keras.applications backbone; "
            f"choose one of {sorted(c.rsplit('.', 1)[1] for c in PREPROCESSING)}"
        )
    return spec


def imagenet_file_name(spec: ModelSpec, size: int) -> str:
    """The file Keras's loader looks for in ``$KERAS_HOME/models`` for this backbone at ``size``."""
    rows = size if size in MOBILENET_SIZES else 224
    return spec.imagenet_weights.format(rows=rows)


def keras_cache() -> Path:
    """Where Keras keeps downloaded weights: ``$KERAS_HOME/models``, default ``~/.keras/models``."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def build_backbone(spec: ModelSpec, size: int, weights: str = "random") -> tuple[keras.Model, str]:
    """The backbone and the initialisation really used (``random``, ``imagenet`` or the file's path)."""
    spec = keras_spec(spec)
    application = getattr(keras.applications, spec.constructor.rsplit(".", 1)[1])
    images = keras.Input((size, size, 3), name="input")
    scaled = InputScaling(PREPROCESSING[spec.constructor], name="preprocess")(images)
    if weights == "imagenet":
        app = _imagenet(spec, application, scaled, size)
        used = "imagenet"
    elif weights == "random":
        app = application(include_top=False, weights=None, input_tensor=scaled)
        used = "random"
    else:
        path = _local_file(spec, size, Path(weights))
        app = application(include_top=False, weights=None, input_tensor=scaled)
        try:
            app.load_weights(str(path))
        except Exception as exc:  # Keras raises ValueError, KeyError or OSError by format
            raise ConfigError(
                f"{path}: not weights of {spec.constructor} without its top ({type(exc).__name__}: {exc})"
            ) from exc
        used = str(path)
    features = keras.layers.Identity(name="output")(app.output)
    return keras.Model(images, features, name=spec.name), used


def _imagenet(spec: ModelSpec, application, scaled, size: int):
    path = keras_cache() / imagenet_file_name(spec, size)
    if not path.is_file():
        raise ConfigError(
            f"ImageNet weights for {spec.constructor} need {path}, which is missing and cannot be downloaded "
            f"offline: copy Keras's file {path.name} there (or set KERAS_HOME to a folder whose models/ holds it), "
            f"or point paper.weights at a local copy of it, or use paper.weights=random"
        )
    try:
        return application(include_top=False, weights="imagenet", input_tensor=scaled)
    except Exception as exc:  # a file with the wrong hash makes Keras try to download it again
        raise ConfigError(
            f"{path}: Keras could not load it ({type(exc).__name__}: {exc}); replace it with Keras's "
            f"original {path.name}"
        ) from exc


def _local_file(spec: ModelSpec, size: int, path: Path) -> Path:
    if path.is_dir():
        path = path / imagenet_file_name(spec, size)
    if not path.is_file():
        raise ConfigError(
            f"{path}: weights file not found (paper.weights is imagenet, random, a weights file "
            f"or a folder holding Keras's {imagenet_file_name(spec, size)})"
        )
    return path


def set_batchnorm_momentum(model: keras.Model, momentum: float | None) -> None:
    """Give every batch normalisation layer ``momentum`` (``None``: keep the architecture's own).

    Must run before a training step is traced. The architectures' own values (0.99, MobileNetV2
    0.999, NASNet 0.9997) need thousands of steps before the moving statistics that inference uses
    forget their initial values; a short run needs a faster average.
    """
    if momentum is None:
        return
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)


# -- the ISIC classifier on a backbone ---------------------------------------------------------

HEAD = "head_logits"
CLASSIFIER = "classifier"  # in ``freeze``: the classifier block, here the new final layer alone


def build_finetune(
    spec: ModelSpec,
    size: int,
    outputs: int,
    weights: str = "random",
    dropout: float = 0.1,
    freeze: tuple[str, ...] | list[str] = (),
) -> tuple[keras.Model, str, tuple[str, ...]]:
    """The classifier, the initialisation really used, and the names of its frozen layers."""
    backbone, used = build_backbone(spec, size, weights)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(backbone.output)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    logits = keras.layers.Dense(outputs, name=HEAD, dtype="float32")(x)  # float32 logits under mixed precision too
    model = keras.Model(backbone.input, logits, name=f"{spec.name}_isic")
    return model, used, _freeze(model, tuple(freeze), spec.name)


def _freeze(model: keras.Model, prefixes: tuple[str, ...], model_name: str) -> tuple[str, ...]:
    prefixes = tuple(p for p in prefixes if p != CLASSIFIER)
    weighted = [layer for layer in model.layers if layer.weights and layer.name != HEAD]
    for prefix in prefixes:
        if not any(layer.name.startswith(prefix) for layer in weighted):
            raise ConfigError(
                f"freeze: '{prefix}' names no layer of the Keras {model_name} (a prefix of its layer "
                f"names, e.g. {[layer.name for layer in weighted[:3]]})"
            )
    frozen = []
    for layer in weighted:
        if any(layer.name.startswith(prefix) for prefix in prefixes):
            layer.trainable = False
            frozen.append(layer.name)
    return tuple(frozen)
