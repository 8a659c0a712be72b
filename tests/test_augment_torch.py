"""The torch family's batch augmentation (``models.torch.transforms.augment_batch``) against the
numpy/scipy reference of tests/test_augment.py, on the draws of ``training.augment.draw``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import THESIS_AUGMENT
from test_augment import reference_augment

from medinterp.models.torch.transforms import IMAGENET_MEAN, IMAGENET_STD, augment_batch
from medinterp.params import Augment
from medinterp.training.augment import draw

TOLERANCE = 2e-5  # in [0, 1] units: float32 resampling and colour maps against float64, measured max 3e-6
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def unnormalised(x: torch.Tensor) -> np.ndarray:
    """``(N, 3, S, S)`` network inputs back to ``(N, S, S, 3)`` values in [0, 1]."""
    x = x.cpu() * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    return x.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("augment", [THESIS_AUGMENT, Augment()], ids=["thesis", "default"])
@pytest.mark.parametrize("size", [24, 16, 40])
def test_torch_augmentation_is_the_reference(device, augment, size):
    images = np.random.default_rng(0).integers(0, 256, (8, 24, 24, 3), dtype=np.uint8)
    draws = draw(8, augment, np.random.default_rng(3))
    out = augment_batch(torch.from_numpy(images).to(device), draws, size)
    assert out.shape == (8, 3, size, size) and out.dtype == torch.float32 and out.device.type == device
    assert np.abs(unnormalised(out) - reference_augment(images / 255.0, draws, size)).max() <= TOLERANCE


def test_the_layout_is_the_one_asked_and_the_values_do_not_depend_on_it():
    images = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (4, 20, 20, 3), dtype=np.uint8))
    draws = draw(4, THESIS_AUGMENT, np.random.default_rng(0))
    nhwc = augment_batch(images, draws, 20)
    nchw = augment_batch(images, draws, 20, torch.contiguous_format)
    assert nhwc.is_contiguous(memory_format=torch.channels_last) and not nhwc.is_contiguous()
    assert nchw.is_contiguous() and torch.allclose(nhwc, nchw, atol=1e-6)


def test_images_and_draws_must_be_as_many():
    images = torch.zeros(3, 8, 8, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match="3 images but 2 draws"):
        augment_batch(images, draw(2, THESIS_AUGMENT, np.random.default_rng(0)), 8)
