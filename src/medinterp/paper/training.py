"""What the autoencoder and classifier stages share: their setup, one model object per backbone put
back to its starting weights before each run, and the batches each run draws."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from medinterp.paper import data
from medinterp.paper.augment import epoch_batches
from medinterp.paper.networks import PaperNetworks, networks_for
from medinterp.params import Paper, Params
from medinterp.preprocessing.arrays import ImageTable
from medinterp.registry import ModelSpec


class TrainingSetup(NamedTuple):
    spec: ModelSpec
    settings: Paper
    seed: int
    train: ImageTable            # BreakHis training split
    val: ImageTable              # BreakHis validation split
    nets: PaperNetworks          # the backbone's family
    encoder: Any                 # the backbone: seeded random weights, the settings' batch-norm momentum


def training_setup(params: Params, backbone: str) -> TrainingSetup:
    """Settings resolved, the family's framework imported and seeded, BreakHis loaded, the backbone built."""
    spec, s = params.paper_for(backbone)
    seed = params.seed
    nets = networks_for(spec)
    nets.configure(seed)
    train, val = data.breakhis(s.image_size)
    encoder, _ = nets.build_encoder(spec, s.image_size, "random")
    nets.set_batchnorm_momentum(encoder, s.batchnorm_momentum)
    return TrainingSetup(spec, s, seed, train, val, nets, encoder)


def start_from(nets: PaperNetworks, model, initial, encoder, spec: ModelSpec, size: int, init: str) -> str:
    """Give ``model`` its initial weights, then its ``encoder`` part the weights ``init`` names
    (``random``: the seeded initial ones; ``imagenet`` or a file: loaded); return what was used."""
    nets.set_weights(model, initial)
    if init == "random":
        return "random"
    source, used = nets.build_encoder(spec, size, init)
    nets.set_weights(encoder, nets.get_weights(source))
    return used


def batches(table: ImageTable, targets: np.ndarray | None, batch_size: int, seed: int, balance: bool, augment: bool):
    """An epoch-batch source whose random draws start from ``seed`` (each run sees the same sequence)."""
    rng = np.random.default_rng(seed)
    return lambda epoch: epoch_batches(table.images, targets, table.labels, batch_size, rng, balance, augment)
