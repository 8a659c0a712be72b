"""Class-specific filters: maxima, quantile thresholds, occurrences and rankings on arrays built by hand;
the maxima of many layers in one pass against the per-layer path, on a fake and on a tiny torch CNN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from medinterp.interpret.filters import (
    layer_maxima,
    layer_maxima_many,
    most_activated,
    occurrence_table,
    pooled_table,
    significant,
    spatial_maxima,
    thresholds,
    top_filters,
)
from medinterp.models.torch.adapter import TorchAdapter


def hand_built_activations() -> np.ndarray:
    """Six images, three filters, 2x2 maps; each map's maximum is put in a different corner.

    Maxima (image x filter):
        filter 0: 1 2 3 4 5 6
        filter 1: 6 5 4 3 2 1
        filter 2: 0 0 0 0 0 9
    """
    maxima = np.array([[1, 6, 0], [2, 5, 0], [3, 4, 0], [4, 3, 0], [5, 2, 0], [6, 1, 9]], dtype=np.float32)
    acts = np.full((6, 3, 2, 2), -1.0, dtype=np.float32)
    for n in range(6):
        for c in range(3):
            acts[n, c, (n + c) % 2, (n // 2 + c) % 2] = maxima[n, c]
    return acts


LABELS = np.array([0, 0, 0, 1, 1, 1])  # first three images class "benign", last three "malignant"


def test_spatial_maximum_per_image_and_filter():
    maxima = spatial_maxima(hand_built_activations())
    assert maxima[:, 0].tolist() == [1, 2, 3, 4, 5, 6]
    assert maxima[:, 1].tolist() == [6, 5, 4, 3, 2, 1]
    assert maxima[:, 2].tolist() == [0, 0, 0, 0, 0, 9]


def test_quantile_threshold_by_linear_interpolation():
    maxima = spatial_maxima(hand_built_activations())
    # Six sorted values, quantile q sits at position 5q: 0.8 -> position 4 (the fifth value), 0.9 -> 4.5.
    assert thresholds(maxima, 0.8).tolist() == [5.0, 5.0, 0.0]
    assert thresholds(maxima, 0.9).tolist() == [5.5, 5.5, 4.5]
    with pytest.raises(ValueError):
        thresholds(maxima, 1.5)


def test_a_filter_counts_only_above_its_threshold():
    maxima = spatial_maxima(hand_built_activations())
    hits = significant(maxima, 0.8)
    # Filter 0: only image 5 (6 > 5; image 4 equals the threshold and does not count). Filter 1:
    # only image 0. Filter 2: only image 5 (9 > 0).
    assert np.argwhere(hits).tolist() == [[0, 1], [5, 0], [5, 2]]


def test_occurrences_and_percent_per_class():
    maxima = spatial_maxima(hand_built_activations())
    table = occurrence_table(maxima, LABELS, ["benign", "malignant", "empty"], 0.5, "binary")
    assert list(table.columns) == ["set", "class", "filter", "occurrences", "percent", "mean_max"]
    # Quantile 0.5: thresholds 3.5, 3.5, 0. Filter 0 exceeds in images 3, 4, 5 (all malignant);
    # filter 1 in images 0, 1, 2 (all benign); filter 2 in image 5 only.
    counts = table.pivot(index="class", columns="filter", values="occurrences")
    assert counts.loc["benign"].tolist() == [0, 3, 0]
    assert counts.loc["malignant"].tolist() == [3, 0, 1]
    assert counts.loc["empty"].tolist() == [0, 0, 0]
    percent = table.pivot(index="class", columns="filter", values="percent")
    assert percent.loc["malignant"].tolist() == pytest.approx([100.0, 0.0, 100.0 / 3])
    assert percent.loc["empty"].tolist() == [0.0, 0.0, 0.0]
    mean_max = table.pivot(index="class", columns="filter", values="mean_max")
    assert mean_max.loc["benign"].tolist() == [2.0, 5.0, 0.0]
    assert mean_max.loc["malignant"].tolist() == [5.0, 2.0, 3.0]
    assert mean_max.loc["empty"].isna().all()
    assert set(table["set"]) == {"binary"}


def test_pooled_table_counts_over_the_whole_set():
    maxima = spatial_maxima(hand_built_activations())
    pooled = pooled_table(maxima, 0.5, "binary")
    assert pooled["class"].unique().tolist() == ["all"]
    assert pooled["occurrences"].tolist() == [3, 3, 1]
    assert pooled["percent"].tolist() == pytest.approx([50.0, 50.0, 100.0 / 6])
    assert pooled["mean_max"].tolist() == pytest.approx([3.5, 3.5, 1.5])


def test_top_filters_rank_by_occurrences_then_mean_maximum_then_lower_index():
    table = pd.DataFrame(
        {
            "set": ["a"] * 4 + ["b"] * 4,
            "class": ["x"] * 4 + ["y"] * 4,
            "filter": [0, 1, 2, 3] * 2,
            "occurrences": [2, 5, 5, 0, 1, 0, 0, 7],
            "percent": [20.0, 50.0, 50.0, 0.0, 10.0, 0.0, 0.0, 70.0],
            "mean_max": [1.0, 3.0, 3.0, 9.0, 1.0, 1.0, 1.0, 1.0],
        }
    )
    top = top_filters(table, 2)
    assert top[["set", "class", "rank", "filter"]].values.tolist() == [
        ["a", "x", 1, 1],
        ["a", "x", 2, 2],
        ["b", "y", 1, 3],
        ["b", "y", 2, 0],
    ]
    table.loc[2, "mean_max"] = 4.0
    assert top_filters(table, 2)["filter"].tolist()[:2] == [2, 1]
    # Filters that never occur are not listed, so k larger than what occurs lists fewer.
    assert len(top_filters(table, 10)) == 5


def test_most_activated_always_gives_k_filters():
    maxima = spatial_maxima(hand_built_activations())
    # Class 1 (images 3-5) at quantile 0.5: occurrences 3, 0, 1 -> filter 0, then 2, then 1.
    assert most_activated(maxima, LABELS, 1, 0.5, 3) == [0, 2, 1]
    # Quantile 1.0: nothing exceeds; the class's mean maximum decides (class 0: 2, 5, 0).
    assert most_activated(maxima, LABELS, 0, 1.0, 2) == [1, 0]
    # Pooled, quantile 0.5: occurrences 3, 3, 1 and means 3.5, 3.5, 1.5 -> lower index first.
    assert most_activated(maxima, None, None, 0.5, 3) == [0, 1, 2]
    with pytest.raises(ValueError):
        most_activated(maxima, LABELS, 4, 0.5, 1)


class ArrayAdapter:
    """Activations as a fixed function of the pixels: filter c's map is the image's channel c % 3
    times (c + 1) (negated in layer "negated"), downsampled 2x; records the batches it was given."""

    def __init__(self):
        self.batches = []

    def channels(self, layer):
        return 4

    def activations(self, images, layer, batch_size=32):
        self.batches.append(images)
        return self._maps(images, layer)

    def layer_activations(self, images, layers, batch_size=32, reduce=None):
        self.batches.append(images)
        return {layer: (reduce or np.asarray)(self._maps(images, layer)) for layer in layers}

    @staticmethod
    def _maps(images, layer):
        maps = images[:, ::2, ::2, :].transpose(0, 3, 1, 2)
        sign = -1.0 if layer == "negated" else 1.0
        return np.stack([sign * maps[:, c % 3] * (c + 1) for c in range(4)], axis=1)


def test_layer_maxima_batches_and_scales_uint8():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 4, 4, 3), dtype=np.uint8)
    adapter = ArrayAdapter()
    maxima = layer_maxima(adapter, images, "any", batch_size=2, progress=False)
    assert [len(b) for b in adapter.batches] == [2, 2, 1]
    assert all(b.dtype == np.float32 and b.max() <= 1.0 for b in adapter.batches)
    expected = np.stack([images[:, ::2, ::2, c % 3].max(axis=(1, 2)) / 255.0 * (c + 1) for c in range(4)], axis=1)
    np.testing.assert_allclose(maxima, expected, rtol=1e-6)


def test_layer_maxima_many_batches_once_for_every_layer():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(5, 4, 4, 3), dtype=np.uint8)
    adapter = ArrayAdapter()
    maxima = layer_maxima_many(adapter, images, ["negated", "plain"], batch_size=2, progress=False)
    assert [len(b) for b in adapter.batches] == [2, 2, 1]  # one call per batch, not per layer
    assert all(b.dtype == np.float32 and b.max() <= 1.0 for b in adapter.batches)
    assert list(maxima) == ["negated", "plain"]
    for layer in maxima:
        np.testing.assert_array_equal(maxima[layer], layer_maxima(ArrayAdapter(), images, layer, 2, progress=False))
    assert not np.array_equal(maxima["negated"], maxima["plain"])
    empty = layer_maxima_many(adapter, images[:0], ["plain"], progress=False)
    assert empty["plain"].shape == (0, 4) and empty["plain"].dtype == np.float32


def test_layer_maxima_many_equal_the_per_layer_path_on_a_torch_cnn():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        nn.Conv2d(8, 4, 1),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    adapter = TorchAdapter(net, [0.5] * 3, [0.25] * 3, image_size=12)
    layers = adapter.conv_layers()
    assert layers == ["0", "3", "6"]
    images = np.random.default_rng(2).integers(0, 256, size=(7, 12, 12, 3), dtype=np.uint8)
    per_layer = {layer: layer_maxima(adapter, images, layer, batch_size=3, progress=False) for layer in layers}
    calls = []
    net.register_forward_pre_hook(lambda module, inputs: calls.append(len(inputs[0])))
    together = layer_maxima_many(adapter, images, layers, batch_size=3, progress=False)
    assert calls == [3, 3, 1]  # the per-layer path makes len(layers) times as many
    for layer in layers:
        np.testing.assert_array_equal(together[layer], per_layer[layer])  # bit-identical
