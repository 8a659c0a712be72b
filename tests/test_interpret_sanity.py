"""Our Spearman correlation against scipy's, ties included, and the sanity-check aggregates; their
one pass over the images for every layer against the per-layer path, on a tiny torch CNN."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from medinterp.errors import ConfigError
from medinterp.interpret.featurevis import Settings, visualize
from medinterp.interpret.filters import as_unit_float, layer_maxima, most_activated
from medinterp.interpret.sanity import (
    class_visualizations,
    featurevis_layer_matrix,
    natural_vs_featurevis,
    path_similarity,
    pick_layers,
    spearman_matrix,
)
from medinterp.models.torch.adapter import TorchAdapter


def test_tied_values_share_their_mean_rank():
    # ranks 1 2.5 2.5 4 and 1 2 3 4; centred: -1.5 0 0 1.5 and -1.5 -.5 .5 1.5; rho = 4.5 / sqrt(4.5 * 5)
    assert spearman_matrix(np.array([[1.0, 2, 2, 3]]), np.array([[1.0, 2, 3, 4]]))[0, 0] == pytest.approx(
        np.sqrt(0.9), abs=1e-12
    )
    with pytest.raises(ValueError):
        spearman_matrix(np.array([[1.0, np.nan, 2.0]]))


@pytest.mark.parametrize("levels", [3, 50, None])
def test_spearman_matrix_matches_scipy(levels):
    rng = np.random.default_rng(2)
    shape = (6, 300)
    a = rng.integers(0, levels, size=shape).astype(float) if levels else rng.normal(size=shape)
    b = rng.integers(0, levels, size=(4, 300)).astype(float) if levels else rng.normal(size=(4, 300))
    b[1] = a[0] * 2 + rng.normal(scale=0.5, size=300)  # one strongly related pair
    ours = spearman_matrix(a, b)
    expected = np.array([[spearmanr(x, y).statistic for y in b] for x in a])
    np.testing.assert_allclose(ours, expected, atol=1e-12)
    np.testing.assert_allclose(spearman_matrix(a), spearmanr(a, axis=1).statistic, atol=1e-12)


def test_spearman_flattens_images_and_is_nan_for_constants():
    rng = np.random.default_rng(3)
    images = rng.random((3, 4, 4, 3))
    expected = spearmanr(images[0].ravel(), images[1].ravel()).statistic
    assert spearman_matrix(images)[0, 1] == pytest.approx(expected, abs=1e-12)
    assert np.isnan(spearman_matrix(np.ones((1, 10)), np.arange(10.0)[None])[0, 0])


def test_path_similarity_pairs():
    natural = np.array([[1.0, 2, 3, 4], [1, 2, 4, 3], [4, 3, 2, 1]])
    visual = np.array([[1.0, 2, 3, 4]])
    across, within = path_similarity(natural, visual)
    # rho(v, n0) = 1, rho(v, n1) = 0.8, rho(v, n2) = -1; natural pairs: 0.8, -1, -0.8.
    assert across == pytest.approx((1 + 0.8 - 1) / 3)
    assert within == pytest.approx((0.8 - 1 - 0.8) / 3)


class PixelAdapter:
    """A "layer" is a fixed pixel transform: layer "identity" returns the image, "inverted" 1 - image."""

    def activations(self, images, layer, batch_size=32):
        maps = images.transpose(0, 3, 1, 2)
        return maps if layer == "identity" else 1.0 - maps

    def layer_activations(self, images, layers, batch_size=32, reduce=None):
        return {layer: self.activations(images, layer) for layer in layers}


def test_natural_vs_featurevis_per_layer():
    rng = np.random.default_rng(4)
    natural = rng.integers(0, 256, size=(3, 4, 4, 3), dtype=np.uint8)
    visual = natural[:2].astype(np.float32) / 255.0
    frame = natural_vs_featurevis(PixelAdapter(), natural, {"identity": visual, "inverted": visual})
    assert frame["layer"].tolist() == ["identity", "inverted"]
    assert frame["layer_index"].tolist() == [0, 1]
    assert frame[["featurevis", "natural"]].values.tolist() == [[2, 3], [2, 3]]
    flat = natural.reshape(3, -1).astype(float)
    rho = np.array([[spearmanr(flat[i], flat[j]).statistic for j in range(3)] for i in range(2)])
    # Both layers are monotone maps of the pixels, so the rank correlations are the pixels'.
    assert frame["featurevis_vs_natural"].tolist() == pytest.approx([rho.mean()] * 2)
    pairs = [spearmanr(flat[i], flat[j]).statistic for i in range(3) for j in range(3) if i != j]
    assert frame["natural_vs_natural"].tolist() == pytest.approx([np.mean(pairs)] * 2)


def test_featurevis_layer_matrix():
    rng = np.random.default_rng(5)
    first = rng.random((2, 4, 4, 3))
    last = np.stack([first[0], rng.random((4, 4, 3)), rng.random((4, 4, 3))])
    matrix = featurevis_layer_matrix({"conv1": first, "conv5": last})
    assert matrix.index.tolist() == ["conv1", "conv5"] and matrix.columns.tolist() == ["conv1", "conv5"]
    flat_first, flat_last = first.reshape(2, -1), last.reshape(3, -1)
    cross = np.mean([spearmanr(x, y).statistic for x in flat_first for y in flat_last])
    within_first = np.mean(
        [
            spearmanr(x, y).statistic if i != j else 1.0
            for i, x in enumerate(flat_first)
            for j, y in enumerate(flat_first)
        ]
    )
    assert matrix.loc["conv1", "conv5"] == pytest.approx(cross)
    assert matrix.loc["conv5", "conv1"] == pytest.approx(cross)
    assert matrix.loc["conv1", "conv1"] == pytest.approx(within_first)


def test_pick_layers_spreads_from_first_to_last():
    layers = [f"l{i}" for i in range(10)]
    assert pick_layers(layers, None) == layers
    assert pick_layers(layers, 20) == layers
    assert pick_layers(layers, 4) == ["l0", "l3", "l6", "l9"]
    assert pick_layers(layers, 1) == ["l9"]
    assert pick_layers(layers, "all") == layers
    with pytest.raises(ConfigError):
        pick_layers(layers, "some")


# -- one pass over the images for every layer, against the per-layer path -------------------------

SIZE = 12


@pytest.fixture(scope="module")
def cnn() -> tuple[nn.Module, TorchAdapter]:
    """Three convolutions, each followed by an in-place ReLU as in VGG."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 5, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(5, 4, 1),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    return net, TorchAdapter(net, [0.5] * 3, [0.25] * 3, image_size=SIZE)


def per_layer_natural_vs_featurevis(adapter, natural_images, visualizations, batch_size=32) -> pd.DataFrame:
    """The computation before the one-pass path: the natural images go through the network once per layer."""
    natural_images = as_unit_float(natural_images)
    rows = []
    for index, (layer, images) in enumerate(visualizations.items()):
        natural = adapter.activations(natural_images, layer, batch_size)
        featurevis = adapter.activations(np.asarray(images, dtype=np.float32), layer, batch_size)
        across, within = path_similarity(natural, featurevis)
        rows.append(
            {
                "layer_index": index,
                "layer": layer,
                "featurevis_vs_natural": across,
                "natural_vs_natural": within,
                "featurevis": len(featurevis),
                "natural": len(natural),
            }
        )
    return pd.DataFrame(rows)


def per_layer_class_visualizations(adapter, layers, images, labels, class_index, quantile, top_n, settings):
    """The computation before the one-pass path: one pass over ``images`` per layer for the maxima."""
    seeds = np.random.SeedSequence(settings.seed).generate_state(len(layers))
    out = {}
    for layer, seed in zip(layers, seeds):
        targets = most_activated(layer_maxima(adapter, images, layer, 4, False), labels, class_index, quantile, top_n)
        out[layer] = visualize(adapter, layer, targets, SIZE, replace(settings, seed=int(seed)), False)
    return out


def test_natural_vs_featurevis_equals_the_per_layer_path_from_one_pass(cnn):
    net, adapter = cnn
    rng = np.random.default_rng(7)
    natural = rng.integers(0, 256, size=(5, SIZE, SIZE, 3), dtype=np.uint8)
    layers = adapter.conv_layers()
    visualizations = {layer: rng.random((3, SIZE, SIZE, 3), dtype=np.float32) for layer in layers}
    expected = per_layer_natural_vs_featurevis(adapter, natural, visualizations, batch_size=2)
    calls = []
    counting = net.register_forward_pre_hook(lambda module, inputs: calls.append(len(inputs[0])))
    try:
        frame = natural_vs_featurevis(adapter, natural, visualizations, batch_size=2)
    finally:
        counting.remove()
    # the natural images' batches once for all layers (per layer before), then each layer's visualizations
    assert calls == [2, 2, 1] + [2, 1] * len(layers)
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert frame["featurevis_vs_natural"].notna().all()


def test_class_visualizations_equal_the_per_layer_path(cnn):
    _, adapter = cnn
    rng = np.random.default_rng(8)
    images = rng.integers(0, 256, size=(9, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0])
    settings = Settings(steps=2, lr=0.01, batch_size=4, seed=5)
    layers = adapter.conv_layers()
    expected = per_layer_class_visualizations(adapter, layers, images, labels, 1, 0.5, 2, settings)
    result = class_visualizations(
        adapter, layers, images, labels, 1, 0.5, 2, SIZE, settings, batch_size=4, progress=False
    )
    assert list(result) == layers
    for layer in layers:
        assert result[layer].targets.tolist() == expected[layer].targets.tolist()
        for field in ("images", "start", "end"):
            np.testing.assert_array_equal(getattr(result[layer], field), getattr(expected[layer], field))
