"""Our Spearman correlation against scipy's, ties included, and the sanity-check aggregates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from medinterp.errors import ConfigError
from medinterp.interpret.sanity import (
    average_ranks, featurevis_layer_matrix, natural_vs_featurevis, path_similarity, pick_layers, spearman, spearman_matrix,
)


def test_average_ranks_match_scipy_with_ties():
    rng = np.random.default_rng(1)
    values = rng.integers(0, 5, size=(7, 40)).astype(np.float32)   # many ties
    np.testing.assert_array_equal(average_ranks(values), rankdata(values, axis=1))
    assert average_ranks(np.array([[3.0, 1.0, 3.0, 2.0]])).tolist() == [[3.5, 1.0, 3.5, 2.0]]


@pytest.mark.parametrize("levels", [3, 50, None])
def test_spearman_matrix_matches_scipy(levels):
    rng = np.random.default_rng(2)
    shape = (6, 300)
    a = rng.integers(0, levels, size=shape).astype(float) if levels else rng.normal(size=shape)
    b = rng.integers(0, levels, size=(4, 300)).astype(float) if levels else rng.normal(size=(4, 300))
    b[1] = a[0] * 2 + rng.normal(scale=0.5, size=300)     # one strongly related pair
    ours = spearman_matrix(a, b)
    expected = np.array([[spearmanr(x, y).statistic for y in b] for x in a])
    np.testing.assert_allclose(ours, expected, atol=1e-12)
    np.testing.assert_allclose(spearman_matrix(a), spearmanr(a, axis=1).statistic, atol=1e-12)
    assert spearman(a[0], b[1]) == pytest.approx(spearmanr(a[0], b[1]).statistic, abs=1e-12)


def test_spearman_flattens_images_and_is_nan_for_constants():
    rng = np.random.default_rng(3)
    images = rng.random((3, 4, 4, 3))
    expected = spearmanr(images[0].ravel(), images[1].ravel()).statistic
    assert spearman_matrix(images)[0, 1] == pytest.approx(expected, abs=1e-12)
    assert np.isnan(spearman(np.ones(10), np.arange(10)))


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
    within_first = np.mean([spearmanr(x, y).statistic if i != j else 1.0 for i, x in enumerate(flat_first) for j, y in enumerate(flat_first)])
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
