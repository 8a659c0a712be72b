"""The paper's networks on ``keras.applications`` backbones: the Keras side of
``medinterp.paper.networks.PaperNetworks``, with the same method names as the torch side
(``medinterp.models.torch.paper_networks``). Each method hands over to this family's modules
(:mod:`.backbones`, :mod:`.autoencoder`, :mod:`.classifier`, :mod:`.training`, :mod:`.export`,
:mod:`.adapter`); nothing is computed here."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from medinterp.models.keras import backbones, checkpoints
from medinterp.models.keras.adapter import KerasAdapter
from medinterp.models.keras.autoencoder import build_autoencoder, reconstruction_loss
from medinterp.models.keras.classifier import build_classifier, classification_loss
from medinterp.models.keras.export import OnnxExporter, framework
from medinterp.models.keras.optimizers import FusedOptimizer
from medinterp.models.keras.training import KerasTrainable, configure_tensorflow
from medinterp.registry import ModelSpec


class PaperNetworks:
    family = "keras"
    weights_suffix = checkpoints.SUFFIX

    def configure(self, seed: int) -> None:
        configure_tensorflow(seed)

    def build_encoder(self, spec: ModelSpec, size: int, weights: str = "random") -> tuple[keras.Model, str]:
        return backbones.build_backbone(spec, size, weights)

    def set_batchnorm_momentum(self, encoder: keras.Model, momentum: float | None) -> None:
        backbones.set_batchnorm_momentum(encoder, momentum)

    def build_autoencoder(self, encoder: keras.Model, filters: int) -> keras.Model:
        return build_autoencoder(encoder, filters)

    def build_classifier(self, encoder: keras.Model, units: int, dropout: float) -> keras.Model:
        return build_classifier(encoder, units, dropout)

    def classifier_at_size(self, model: keras.Model, spec: ModelSpec, size: int, units: int, dropout: float) -> keras.Model:
        """The same network built for ``size`` px inputs (a Keras model fixes its input size); its
        weights are ``model``'s once copied over."""
        encoder, _ = backbones.build_backbone(spec, size, "random")
        return build_classifier(encoder, units, dropout)

    def reconstruction_loss(self) -> keras.losses.Loss:
        return reconstruction_loss()

    def classification_loss(self) -> keras.losses.Loss:
        return classification_loss()

    def trainable(self, model: keras.Model, loss: keras.losses.Loss, optimizer: str, learning_rate: float,
                  val_x: np.ndarray, val_y: np.ndarray, batch_size: int, metrics=None) -> KerasTrainable:
        return KerasTrainable(model, loss, FusedOptimizer(optimizer, learning_rate), None, val_x, val_y, batch_size, metrics)

    def get_weights(self, model: keras.Model) -> list[np.ndarray]:
        return model.get_weights()

    def set_weights(self, model: keras.Model, weights: list[np.ndarray]) -> None:
        model.set_weights(weights)

    def save_weights(self, model: keras.Model, path: str | Path) -> None:
        checkpoints.save_weights(model, path)

    def load_weights(self, model: keras.Model, path: str | Path) -> None:
        checkpoints.load_weights(model, path)

    def exporter(self, model: keras.Model, output_name: str, trainer: KerasTrainable | None = None) -> OnnxExporter:
        """``trainer``: the one training ``model``, whose traced forward pass the export reuses."""
        return OnnxExporter(model, output_name, None if trainer is None else trainer.forward)

    def framework(self) -> dict:
        return framework()

    def resize(self, images: np.ndarray, size: int) -> np.ndarray:
        return np.clip(tf.image.resize(images, (size, size), method="bilinear").numpy(), 0.0, 1.0)

    def adapter(self, model: keras.Model, image_size: int) -> KerasAdapter:
        return KerasAdapter(model)
