"""The framework-free augmentation draws (``training.augment``) and the numpy/scipy reference that
both families' augmentation is checked against (tests/test_augment_torch.py, test_augment_keras.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import THESIS_AUGMENT
from scipy import ndimage
from skimage.color import hsv2rgb, rgb2hsv

from medinterp.params import Augment
from medinterp.training.augment import BatchDraws, draw

IDENTITY = Augment(
    crop_scale=(1, 1),
    crop_ratio=(1, 1),
    rotation=0,
    shear=0,
    scale=(1, 1),
    flips=False,
    brightness=(1, 1),
    contrast=(1, 1),
    saturation=(1, 1),
    hue=(0, 0),
)
LUMA = np.array([0.299, 0.587, 0.114])


def reference_augment(images: np.ndarray, draws: BatchDraws, size: int) -> np.ndarray:
    """``(N, H, W, 3)`` values in [0, 1] -> augmented ``(N, size, size, 3)`` float64, image by image
    with scipy's resampling (``order=1``; ``mode="reflect"`` is the half-sample mirror) and
    scikit-image's HSV conversions."""
    out = []
    height, width = images.shape[1:3]
    centre = (size - 1) / 2
    for i, image in enumerate(images.astype(np.float64)):
        y0, x0, y1, x1 = draws.boxes[i].astype(np.float64)
        rows = y0 * (height - 1) + np.arange(size) * (y1 - y0) * (height - 1) / (size - 1)
        cols = x0 * (width - 1) + np.arange(size) * (x1 - x0) * (width - 1) / (size - 1)
        grid = np.meshgrid(rows, cols, indexing="ij")
        crop = np.stack([ndimage.map_coordinates(image[..., c], grid, order=1, mode="nearest") for c in range(3)], -1)
        out_y, out_x = np.meshgrid(np.arange(size) - centre, np.arange(size) - centre, indexing="ij")
        (a, b), (c, d) = draws.affine[i]
        source = [c * out_x + d * out_y + centre, a * out_x + b * out_y + centre]  # (row, col) of each output pixel
        x = np.stack([ndimage.map_coordinates(crop[..., ch], source, order=1, mode="reflect") for ch in range(3)], -1)
        if draws.flip_horizontal[i]:
            x = x[:, ::-1]
        if draws.flip_vertical[i]:
            x = x[::-1]
        x = np.clip(x * draws.brightness[i], 0, 1)
        x = np.clip(draws.contrast[i] * x + (1 - draws.contrast[i]) * (x @ LUMA).mean(), 0, 1)
        x = np.clip(draws.saturation[i] * x + (1 - draws.saturation[i]) * (x @ LUMA)[..., None], 0, 1)
        hsv = rgb2hsv(x)
        hsv[..., 0] = np.mod(hsv[..., 0] + draws.hue[i], 1.0)
        out.append(np.clip(hsv2rgb(hsv), 0, 1))
    return np.stack(out)


def test_the_same_seed_gives_the_same_draws_and_another_seed_others():
    first, again, other = (draw(8, THESIS_AUGMENT, np.random.default_rng(s)) for s in (3, 3, 4))
    for name in BatchDraws.__dataclass_fields__:
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
        assert not np.array_equal(getattr(first, name), getattr(other, name)), name
    assert len(first) == 8


def test_draws_follow_the_settings():
    n = 4000
    draws = draw(n, THESIS_AUGMENT, np.random.default_rng(0))
    height, width = draws.boxes[:, 2] - draws.boxes[:, 0], draws.boxes[:, 3] - draws.boxes[:, 1]
    assert (draws.boxes >= 0).all() and (draws.boxes <= 1 + 1e-6).all()
    assert (height * width).min() >= 0.4 - 1e-4 and (width / height).max() <= 4 / 3 + 1e-4
    zoom = 1 / np.sqrt(np.linalg.det(draws.affine))  # rotations and shears keep areas: the determinant is the zoom's
    assert zoom.min() >= 0.8 - 1e-9 and zoom.max() <= 1.2 + 1e-9
    for factors, (low, high) in (
        (draws.brightness, (0.7, 1.3)),
        (draws.contrast, (0.7, 1.3)),
        (draws.saturation, (0.7, 1.3)),
        (draws.hue, (-0.1, 0.1)),
    ):
        assert low <= factors.min() and factors.max() <= high and factors.std() > 0.1 * (high - low)
    assert 0.45 < draws.flip_horizontal.mean() < 0.55 and 0.45 < draws.flip_vertical.mean() < 0.55


def test_the_draws_come_in_a_fixed_order_from_the_generator():
    """Crop (area, aspect, y0, x0), affine (angle, shear, zoom), flips (horizontal, vertical) when
    on, colour (brightness, contrast, saturation, hue): n numbers each, as the Keras side always drew."""
    n = 3
    u = np.random.default_rng(1).random(20 * n)
    rotate_zoom = IDENTITY.model_copy(update={"rotation": 90, "scale": (2.0, 2.0)})
    affine = draw(n, rotate_zoom, np.random.default_rng(1)).affine
    angle = np.deg2rad(-90 + 180 * u[4 * n : 5 * n])
    # the inverse of a x2 zoom after a rotation by the angle: the rotation back, halved
    expected = (
        np.stack([np.stack([np.cos(angle), np.sin(angle)], -1), np.stack([-np.sin(angle), np.cos(angle)], -1)], -2) / 2
    )
    assert affine == pytest.approx(expected, abs=1e-12)
    shear = np.tan(np.deg2rad(-20 + 40 * u[5 * n : 6 * n]))
    sheared = draw(n, IDENTITY.model_copy(update={"shear": 20}), np.random.default_rng(1)).affine
    assert sheared == pytest.approx(
        np.stack([np.stack([np.ones(n), -shear], -1), np.stack([np.zeros(n), np.ones(n)], -1)], -2), abs=1e-12
    )

    flipped = draw(n, THESIS_AUGMENT, np.random.default_rng(1))
    assert np.array_equal(flipped.flip_horizontal, u[7 * n : 8 * n] < 0.5) and np.array_equal(
        flipped.flip_vertical, u[8 * n : 9 * n] < 0.5
    )
    assert flipped.brightness == pytest.approx(0.7 + 0.6 * u[9 * n : 10 * n]) and flipped.hue == pytest.approx(
        -0.1 + 0.2 * u[12 * n : 13 * n]
    )
    unflipped = draw(n, THESIS_AUGMENT.model_copy(update={"flips": False}), np.random.default_rng(1))
    assert not unflipped.flip_horizontal.any() and not unflipped.flip_vertical.any()
    assert unflipped.brightness == pytest.approx(0.7 + 0.6 * u[7 * n : 8 * n])


def test_the_reference_keeps_identity_draws_and_zooms_and_mirrors_as_worked_by_hand():
    images = np.random.default_rng(2).random((2, 9, 9, 3))
    draws = draw(2, IDENTITY, np.random.default_rng(0))
    assert reference_augment(images, draws, 9) == pytest.approx(images, abs=1e-12)

    def with_affine(factor, flips):
        affine = np.repeat(np.eye(2)[None] * factor, 2, 0)
        return BatchDraws(**{**draws.__dict__, "affine": affine, "flip_horizontal": np.array(flips)})

    zoomed = reference_augment(images, with_affine(0.5, [True, False]), 9)
    # x2 zoom about pixel 4: output pixel 0 reads input 2, pixel 1 reads 2.5; image 0 also mirrored left-right
    assert zoomed[1, 0, 0] == pytest.approx(images[1, 2, 2]) and zoomed[0, 0, 8] == pytest.approx(images[0, 2, 2])
    assert zoomed[1, 1, 1] == pytest.approx(images[1, 2:4, 2:4].mean(axis=(0, 1)))
    shrunk = reference_augment(images, with_affine(2.0, [False, False]), 9)
    # x1/2 zoom: output pixel 0 reads input -4, mirrored about the edge (-0.5) to 3;
    # pixel 8 reads 12, mirrored about 8.5 to 5
    assert shrunk[0, 0, 0] == pytest.approx(images[0, 3, 3]) and shrunk[0, 4, 8] == pytest.approx(images[0, 4, 5])
