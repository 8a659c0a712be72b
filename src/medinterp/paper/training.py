"""What the autoencoder and classifier stages share: their setup, one model object per backbone put
back to its starting weights before each run, the batches each run draws, the precision the
networks are built in and each run's resume file (``medinterp.training.resume``)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

import numpy as np

from medinterp.errors import ConfigError
from medinterp.paper import artifacts, data
from medinterp.paper.augment import epoch_batches
from medinterp.paper.networks import PaperNetworks, networks_for
from medinterp.params import Paper, Params
from medinterp.preprocessing.arrays import ImageTable
from medinterp.registry import ModelSpec
from medinterp.training.resume import ResumeFile, SeededBatches, array_inputs, file_digests, resume_file


class TrainingSetup(NamedTuple):
    spec: ModelSpec
    settings: Paper
    seed: int
    train: ImageTable  # BreakHis training split
    val: ImageTable  # BreakHis validation split
    nets: PaperNetworks  # the backbone's family
    encoder: Any  # the backbone: seeded random weights, the settings' batch-norm momentum


def precision_scope(spec: ModelSpec, settings: Paper) -> AbstractContextManager:
    """The block to build the trained networks in: ``paper.precision``'s Keras dtype policy (fp32: no change)."""
    if settings.precision == "fp32":
        return nullcontext()
    if spec.family != "keras":
        raise ConfigError(
            f"paper.precision '{settings.precision}' is for the Keras family; {spec.name} is {spec.family} (use fp32)"
        )
    from medinterp.models.keras.train import precision  # the family's framework is already imported

    return precision(settings.precision)


def training_setup(params: Params, backbone: str) -> TrainingSetup:
    """Settings resolved, the family's framework imported and seeded, BreakHis loaded, the backbone
    built (in ``paper.precision``)."""
    spec, s = params.paper_for(backbone)
    seed = params.seed
    nets = networks_for(spec)
    nets.configure(seed)
    train, val = data.breakhis(s.image_size)
    with precision_scope(spec, s):
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


def batches(
    table: ImageTable, targets: np.ndarray | None, batch_size: int, seed: int, balance: bool, augment: bool
) -> SeededBatches:
    """An epoch-batch source whose random draws start from ``seed`` (each run sees the same sequence)."""
    return SeededBatches(
        np.random.default_rng(seed),
        lambda epoch, rng: epoch_batches(table.images, targets, table.labels, batch_size, rng, balance, augment),
    )


def run_resume(stage: str, run: str, settings: dict[str, Any], seed: int, *inputs: str) -> ResumeFile:
    """The resume file of one run of a paper stage: its fingerprint covers ``settings``, ``seed``, the
    BreakHis arrays and the md5 of ``inputs`` (e.g. the encoder weights it starts from)."""
    return resume_file(
        stage, run, settings, seed, {"arrays": array_inputs(artifacts.ARRAYS.stem), "files": file_digests(*inputs)}
    )
