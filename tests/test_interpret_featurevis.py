"""Activation maximization on a tiny torch network through TorchAdapter, and the regularizers'
transforms (their adjoint is what carries the gradient back)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from medinterp import params
from medinterp.interpret.featurevis import Settings, settings_from_params, visualize
from medinterp.interpret.filters import most_activated
from medinterp.interpret.regularizers import Transforms, affine_warp, bilateral, random_warp
from medinterp.interpret.sanity import class_visualizations
from medinterp.models.torch.adapter import TorchAdapter

SIZE = 24
REGULARIZED = Settings(
    steps=30,
    lr=0.05,
    transforms=Transforms(jitter=0.1, rotate=15, translate=0.1, resize=1.2),
    l1=0.05,
    bilateral_every=4,
    batch_size=8,
)


@pytest.fixture(scope="module")
def adapter() -> TorchAdapter:
    """Two convolutions with a small positive bias, so every channel's mean activation on the
    noise start is positive and the factor it rises by is meaningful."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 2),
    )
    with torch.no_grad():
        net[0].bias.fill_(0.1)
        net[3].bias.fill_(0.1)
    return TorchAdapter(net, [0.5] * 3, [0.25] * 3, image_size=SIZE)


def total_variation(images: np.ndarray) -> float:
    return float(np.abs(np.diff(images, axis=1)).mean() + np.abs(np.diff(images, axis=2)).mean())


@pytest.mark.parametrize("regularized", [True, False])
def test_first_layer_channels_rise_at_least_threefold(adapter, regularized):
    settings = REGULARIZED if regularized else REGULARIZED.unregularized()
    result = visualize(adapter, "0", range(8), SIZE, settings, progress=False)
    assert result.images.shape == (8, SIZE, SIZE, 3) and result.images.dtype == np.float32
    assert 0 <= result.images.min() and result.images.max() <= 1
    assert (result.start > 0).all()
    assert (result.end >= 3 * result.start).all(), (result.start, result.end)
    # The objective the optimizer reports agrees with a fresh evaluation of the final images.
    np.testing.assert_allclose(adapter.input_gradient(result.images, "0", range(8))[0], result.end, rtol=1e-5)


def test_deeper_layer_rises_and_regularizers_smooth(adapter):
    regularized = visualize(adapter, "3", range(6), SIZE, REGULARIZED, progress=False)
    plain = visualize(adapter, "3", range(6), SIZE, REGULARIZED.unregularized(), progress=False)
    for result in (regularized, plain):
        assert (result.end > result.start).all()
        assert result.end.mean() >= 3 * result.start.mean()
        assert result.trace.shape == (30, 6)
    # Same noise start, same targets: the plain ascent (Fig. 29) ends noisier.
    assert total_variation(regularized.images) < total_variation(plain.images)


def test_class_score_objective_and_determinism(adapter):
    settings = Settings(steps=5, batch_size=2)
    first = visualize(adapter, None, [0, 1], SIZE, settings, progress=False)
    again = visualize(adapter, None, [0, 1], SIZE, settings, progress=False)
    np.testing.assert_array_equal(first.images, again.images)
    assert (first.end > first.start).all()


def test_warp_adjoint_is_the_transpose():
    rng = np.random.default_rng(0)
    shape = (3, 9, 11)
    warp = random_warp(shape, Transforms(rotate=15, translate=0.1, resize=1.2), rng)
    x = rng.random((*shape, 3)).astype(np.float32)
    y = rng.random((*shape, 3)).astype(np.float32)
    assert np.vdot(warp.apply(x), y) == pytest.approx(np.vdot(x, warp.adjoint(y)), rel=1e-5)


def test_identity_and_integer_shift_warps():
    rng = np.random.default_rng(1)
    x = rng.random((2, 6, 7, 3)).astype(np.float32)
    identity = affine_warp(x.shape[:3], np.zeros(2), np.ones(2), np.zeros((2, 2)))
    np.testing.assert_allclose(identity.apply(x), x, atol=1e-6)
    shifted = affine_warp(x.shape[:3], np.zeros(2), np.ones(2), np.array([[1.0, 2.0], [0.0, 0.0]])).apply(x)
    np.testing.assert_allclose(shifted[0, 1:, 2:], x[0, :-1, :-2], atol=1e-6)
    np.testing.assert_allclose(shifted[0, 0, 2:], x[0, 0, :-2], atol=1e-6)  # edge row repeated
    np.testing.assert_allclose(shifted[1], x[1], atol=1e-6)
    quarter = affine_warp((1, 5, 5), np.array([np.pi / 2]), np.ones(1), np.zeros((1, 2))).apply(x[:1, :5, :5])
    np.testing.assert_allclose(quarter[0], np.rot90(x[0, :5, :5], k=-1), atol=1e-5)


def test_bilateral_keeps_an_edge_and_smooths_noise():
    rng = np.random.default_rng(2)
    step = np.full((1, 16, 16, 3), 0.25, np.float32)
    step[:, :, 8:] = 0.75
    noisy = (step + rng.normal(scale=0.03, size=step.shape)).astype(np.float32)
    smooth = bilateral(noisy, sigma_color=75, sigma_spatial=1.0, diameter=5)
    assert smooth[0, :, :7].std() < 0.7 * noisy[0, :, :7].std()
    assert smooth[0, :, 8].mean() - smooth[0, :, 7].mean() > 0.45  # the edge stays sharp


def test_bilateral_weights_follow_opencv_sigma_color():
    # A grey step of 10/255 in every channel. OpenCV weighs it exp(-30^2 / (2 * 75^2)): its colour
    # distance is the sum of the channels' differences on the 0-255 scale. Recover the weight
    # scikit-image used from the filtered value next to the step (spatial weights made flat).
    height = 10 / 255
    image = np.zeros((1, 4, 4, 3), np.float32)
    image[:, :, 2:] = height
    out = bilateral(image, sigma_color=75, sigma_spatial=1e6, diameter=3)[0, 1, 1, 0]
    weight = 2 * out / (height - out)  # its 3x3 window: six samples of 0, three of the step
    assert weight == pytest.approx(np.exp(-(30**2) / (2 * 75**2)), rel=1e-3)


def test_settings_from_both_profiles():
    raw = yaml.safe_load(Path("params.yaml").read_text())
    for profile in ("sample", "full"):
        raw["data"]["profile"] = profile
        settings = settings_from_params(params.validate(raw).interpret_settings().featurevis, seed=3)
        assert settings.seed == 3 and settings.steps > 0
    assert 120 <= settings.steps <= 200
    assert settings.transforms == Transforms(jitter=settings.transforms.jitter, rotate=15, translate=0.1, resize=1.2)
    assert settings.l1 == 0.05 and settings.sigma_color == 75


def test_class_visualizations_target_the_class_filters(adapter):
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, size=(6, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.array([0, 0, 0, 1, 1, 1])
    settings = Settings(steps=3, lr=0.001, batch_size=4)  # the images stay close to their noise starts
    result = class_visualizations(adapter, ["0", "3"], images, labels, 1, 0.5, 2, SIZE, settings, progress=False)
    assert list(result) == ["0", "3"]
    for layer, vis in result.items():
        maxima = adapter.activations(images.astype(np.float32) / 255, layer).max(axis=(2, 3))
        assert vis.targets.tolist() == most_activated(maxima, labels, 1, 0.5, 2)
        assert vis.images.shape == (2, SIZE, SIZE, 3)
    assert not np.allclose(result["0"].images, result["3"].images, atol=0.05)  # each layer from its own noise
