"""The Keras family's batch augmentation (``models.keras.transforms.augment_batch``) against the
numpy/scipy reference of tests/test_augment.py, on the draws of ``training.augment.draw``: with
tests/test_augment_torch.py this shows both families make the same images from the same seed."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import THESIS_AUGMENT
from test_augment import reference_augment

from medinterp.models.keras.transforms import augment_batch
from medinterp.params import Augment
from medinterp.training.augment import draw

TOLERANCE = 2e-5  # float32 resampling and colour maps against float64: measured max 3e-6


@pytest.mark.parametrize("augment", [THESIS_AUGMENT, Augment()], ids=["thesis", "default"])
def test_keras_augmentation_is_the_reference_on_the_shared_draws(augment):
    images = np.random.default_rng(0).integers(0, 256, (8, 24, 24, 3), dtype=np.uint8) / np.float32(255)
    out = augment_batch(images.astype(np.float32), augment, np.random.default_rng(3))
    expected = reference_augment(images, draw(8, augment, np.random.default_rng(3)), 24)
    assert np.abs(out - expected).max() <= TOLERANCE
