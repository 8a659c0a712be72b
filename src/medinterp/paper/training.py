"""What the autoencoder and classifier stages share: their setup, one model object per backbone put
back to its starting weights before each run, and the batches each run draws."""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np

from medinterp.models.keras.augment import epoch_batches
from medinterp.models.keras.backbones import build_backbone, set_batchnorm_momentum
from medinterp.models.keras.training import configure_tensorflow
from medinterp.paper import data
from medinterp.params import Paper, Params
from medinterp.preprocessing.arrays import ImageTable
from medinterp.registry import ModelSpec


class TrainingSetup(NamedTuple):
    spec: ModelSpec
    settings: Paper
    seed: int
    train: ImageTable            # BreakHis training split
    val: ImageTable              # BreakHis validation split
    encoder: keras.Model         # the backbone: seeded random weights, the settings' batch-norm momentum


def training_setup(params: Params, backbone: str) -> TrainingSetup:
    """Settings resolved, TensorFlow seeded, BreakHis loaded, the backbone built."""
    spec, s = params.paper_for(backbone)
    seed = params.seed
    configure_tensorflow(seed)
    train, val = data.breakhis(s.image_size)
    encoder, _ = build_backbone(spec, s.image_size, "random")
    set_batchnorm_momentum(encoder, s.batchnorm_momentum)
    return TrainingSetup(spec, s, seed, train, val, encoder)


def start_from(model: keras.Model, initial: list[np.ndarray], encoder: keras.Model, spec: ModelSpec, size: int, init: str) -> str:
    """Give ``model`` its initial weights, then its ``encoder`` part the weights ``init`` names
    (``random``: the seeded initial ones; ``imagenet`` or a file: loaded); return what was used."""
    model.set_weights(initial)
    if init == "random":
        return "random"
    source, used = build_backbone(spec, size, init)
    encoder.set_weights(source.get_weights())
    return used


def batches(table: ImageTable, targets: np.ndarray | None, batch_size: int, seed: int, balance: bool, augment: bool):
    """An epoch-batch source whose random draws start from ``seed`` (each run sees the same sequence)."""
    rng = np.random.default_rng(seed)
    return lambda epoch: epoch_batches(table.images, targets, table.labels, batch_size, rng, balance, augment)
