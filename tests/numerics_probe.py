"""A short training of one family, run as its own process by tests/test_numerics.py: prints the
digests of what it learnt, so two runs under different CPU settings can be compared.

    python tests/numerics_probe.py torch|keras [--one-core] [--no-workers]

``--one-core`` pins the process to one core first: a machine with fewer cores. ``--no-workers``
reads the torch training batches in the process itself (under an emulator, whose forked loader
workers die); the batches are drawn otherwise, so compare it only with another such run.
"""

from __future__ import annotations

import os
import sys

if "--one-core" in sys.argv:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import hashlib  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import medinterp.stages  # noqa: E402,F401  (pins the numerics, as in every stage process)
from medinterp import registry  # noqa: E402
from medinterp.models.families import family_function  # noqa: E402
from medinterp.params import Augment, TaskSettings  # noqa: E402
from medinterp.training.classifier import TrainingData  # noqa: E402


def main(family: str) -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(32) % 2
    images = (rng.integers(0, 90, (32, 32, 32, 3)) + labels[:, None, None, None] * 120).astype(np.uint8)
    augment = Augment(
        crop_scale=(0.4, 1.0),
        crop_ratio=(0.75, 4 / 3),
        rotation=90,
        shear=20,
        scale=(0.8, 1.2),
        flips=True,
        brightness=(0.7, 1.3),
        contrast=(0.7, 1.3),
        saturation=(0.7, 1.3),
        hue=(-0.1, 0.1),
    )
    settings = TaskSettings(
        task="binary",
        image_size=32,
        weights="random",
        loader_workers=2 if family == "torch" and "--no-workers" not in sys.argv else 0,
        epochs=2,
        batch_size=8,
        learning_rate=1e-3,
        plateau_factor=0.4,
        plateau_patience=1,
        early_stopping_patience=10,
        monitor="val_loss",
        dropout=0.1,
        freeze=(),
        augment=augment,
    )
    train, val = np.arange(24), np.arange(24, 32)
    data = TrainingData(images, train, labels[train], images[val], labels[val])
    train_classifier = family_function("train_classifier", family)
    trained = train_classifier(
        registry.get("mobilenet_v2", family),
        settings,
        ["benign", "malignant"],
        np.array([1.0, 1.0]),
        data,
        seed=0,
        desc=f"{family} probe",
    )
    probabilities = np.asarray(trained.predict(images), dtype=np.float64)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "checkpoint.npz"
        trained.save(checkpoint)
        weights = np.load(checkpoint)
        weights_digest = hashlib.sha256(b"".join(weights[k].tobytes() for k in sorted(weights.files))).hexdigest()
    print(
        json.dumps(
            {
                "family": family,
                "weights_sha256": weights_digest,
                "probabilities_sha256": hashlib.sha256(probabilities.tobytes()).hexdigest(),
                "val_loss": trained.fit.best["val_loss"],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
