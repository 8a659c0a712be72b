"""The paper's networks on ``keras.applications`` backbones: the Keras side of
``medinterp.paper.networks.PaperNetworks``, with the same method names as the torch side
(``medinterp.models.torch.paper_networks``). The methods hand over to this family's modules
(:mod:`.build`, :mod:`.checkpoint`, :mod:`.train`, :mod:`.export`, :mod:`.adapter`) and to the two
networks defined here:

- the autoencoder (section 3.2, Fig. 1): the backbone as encoder, a convolutional decoder back to
  the input's ``S x S x 3``, a sigmoid output, trained with binary cross-entropy (Eq. 1);
- the classifier (section 3.1): a densely connected head on the encoder's feature map. One logit
  for ``malignant`` (class 1); the sigmoid that turns it into a probability is applied outside the
  model, so Grad-CAM differentiates the logit (the score before the output activation, as the
  Grad-CAM paper prescribes) and the exported ONNX model says ``activation: sigmoid``.

:func:`eager_runner` is Keras's own forward pass of a paper ONNX file's weights, for the inference
benchmark."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from medinterp import registry
from medinterp.models.decoder import decoder_widths
from medinterp.models.keras import build, checkpoint
from medinterp.models.keras.adapter import KerasAdapter
from medinterp.models.keras.export import OnnxExporter, framework
from medinterp.models.keras.optimizers import FusedOptimizer
from medinterp.models.keras.train import KerasTrainable, configure_tensorflow
from medinterp.registry import ModelSpec

# -- the autoencoder ---------------------------------------------------------------------------


def build_autoencoder(encoder: keras.Model, filters: int = 256) -> keras.Model:
    """``encoder`` followed by a decoder of stride-2 transposed convolutions, one per halving the
    encoder did, widths by :func:`medinterp.models.decoder.decoder_widths`, then a 3x3
    convolution to three channels and a sigmoid. The encoder's layers are shared, not copied."""
    x = encoder.output
    for i, width in enumerate(decoder_widths(encoder.name, encoder.input.shape[1], encoder.output.shape[1], filters)):
        x = keras.layers.Conv2DTranspose(
            width, 3, strides=2, padding="same", activation="relu", name=f"decoder_up{i + 1}"
        )(x)
    x = keras.layers.Conv2D(3, 3, padding="same", name="decoder_out")(x)
    reconstruction = keras.layers.Activation("sigmoid", name="reconstruction")(x)
    return keras.Model(encoder.input, reconstruction, name=f"{encoder.name}_autoencoder")


def reconstruction_loss() -> keras.losses.Loss:
    """Eq. (1): binary cross-entropy between input and reconstruction, averaged over every pixel and channel."""
    return keras.losses.BinaryCrossentropy()


# -- the classifier ----------------------------------------------------------------------------


def build_classifier(encoder: keras.Model, units: int = 256, dropout: float = 0.5) -> keras.Model:
    """``encoder`` -> global average pooling -> dense ``units`` (ReLU) -> dropout -> one logit.
    The encoder's layers are shared, not copied."""
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(encoder.output)
    x = keras.layers.Dense(units, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    logit = keras.layers.Dense(1, name="head_logit")(x)
    return keras.Model(encoder.input, logit, name=f"{encoder.name}_classifier")


def classification_loss() -> keras.losses.Loss:
    return keras.losses.BinaryCrossentropy(from_logits=True)


class PaperNetworks:
    family = "keras"
    weights_suffix = checkpoint.SUFFIX

    def configure(self, seed: int) -> None:
        configure_tensorflow(seed)

    def build_encoder(self, spec: ModelSpec, size: int, weights: str = "random") -> tuple[keras.Model, str]:
        return build.build_backbone(spec, size, weights)

    def set_batchnorm_momentum(self, encoder: keras.Model, momentum: float | None) -> None:
        build.set_batchnorm_momentum(encoder, momentum)

    def build_autoencoder(self, encoder: keras.Model, filters: int) -> keras.Model:
        return build_autoencoder(encoder, filters)

    def build_classifier(self, encoder: keras.Model, units: int, dropout: float) -> keras.Model:
        return build_classifier(encoder, units, dropout)

    def classifier_at_size(
        self, model: keras.Model, spec: ModelSpec, size: int, units: int, dropout: float
    ) -> keras.Model:
        """The same network built for ``size`` px inputs (a Keras model fixes its input size); its
        weights are ``model``'s once copied over."""
        encoder, _ = build.build_backbone(spec, size, "random")
        return build_classifier(encoder, units, dropout)

    def reconstruction_loss(self) -> keras.losses.Loss:
        return reconstruction_loss()

    def classification_loss(self) -> keras.losses.Loss:
        return classification_loss()

    def trainable(
        self,
        model: keras.Model,
        loss: keras.losses.Loss,
        optimizer: str,
        learning_rate: float,
        val_x: np.ndarray,
        val_y: np.ndarray,
        batch_size: int,
        metrics=None,
    ) -> KerasTrainable:
        return KerasTrainable(
            model, loss, FusedOptimizer(optimizer, learning_rate), None, val_x, val_y, batch_size, metrics
        )

    def get_weights(self, model: keras.Model) -> list[np.ndarray]:
        return model.get_weights()

    def set_weights(self, model: keras.Model, weights: list[np.ndarray]) -> None:
        model.set_weights(weights)

    def save_weights(self, model: keras.Model, path: str | Path) -> None:
        checkpoint.save_weights(model, path)

    def load_weights(self, model: keras.Model, path: str | Path) -> None:
        checkpoint.load_weights(model, path)

    def exporter(self, model: keras.Model, output_name: str, trainer: KerasTrainable | None = None) -> OnnxExporter:
        """``trainer``: the one training ``model``, whose traced forward pass the export reuses."""
        return OnnxExporter(model, output_name, None if trainer is None else trainer.forward)

    def framework(self) -> dict:
        return framework()

    def resize(self, images: np.ndarray, size: int) -> np.ndarray:
        return np.clip(tf.image.resize(images, (size, size), method="bilinear").numpy(), 0.0, 1.0)

    def adapter(self, model: keras.Model, image_size: int) -> KerasAdapter:
        return KerasAdapter(model)


def eager_runner(onnx_path: str | Path, meta: dict):
    """Keras's own (eager) forward pass of the weights an ONNX file was exported from
    (``<name>.weights.h5`` beside ``<name>.onnx``), taking the ONNX model's input; and the framework.
    The network is rebuilt from the registry and the head settings recorded in the metadata."""
    onnx_path = Path(onnx_path)
    spec = registry.get(meta["architecture"], "keras")
    model, _ = build.build_backbone(spec, int(meta["input"]["shape"][1]), "random")
    if meta["output"]["kind"] == "logits":
        head = meta["params"]["paper"]["classifier"]
        model = build_classifier(model, int(head["head_units"]), float(head["dropout"]))
    checkpoint.load_weights(model, onnx_path.with_name(f"{onnx_path.stem}.weights.h5"))
    return (lambda x: np.asarray(model(x, training=False))), framework()
