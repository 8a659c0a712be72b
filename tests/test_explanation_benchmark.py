"""The explanation benchmark's framework-free parts: the baselines, method dispatch, scoring and the randomization
test on a small numpy model whose scores are analytic, the report's tables, and the stage's writing of its files."""

from __future__ import annotations

import json
import shutil
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from medinterp.interpret import baselines, benchmark, cams, gradcam, localisation
from medinterp.interpret.adapter import checked_weights
from medinterp.interpret.benchmark import Images, MethodOptions
from medinterp.interpret.ira import image_ira
from medinterp.interpret.randomization import cascade_counts, spearman, ssim
from medinterp.report.tables import explanation_runs, explanation_tables

ALL_METHODS = (
    "gradcam",
    "gradcam_plus_plus",
    "hirescam",
    "xgradcam",
    "layercam",
    "eigencam",
    "scorecam",
    "random",
    "centre",
)
LOCALISATION_COLUMNS = [f.name for f in fields(localisation.ImageLocalisation)]


# --- baselines -------------------------------------------------------------------------------------------------


def test_random_maps_are_per_image_and_deterministic():
    maps = baselines.random_maps(3, 4, 5, seed=7, indices=[10, 3, 42])
    assert maps.shape == (3, 4, 5) and maps.dtype == np.float64
    assert (maps >= 0).all() and (maps < 1).all()
    np.testing.assert_array_equal(maps, baselines.random_maps(3, 4, 5, 7, [10, 3, 42]))
    # Image 3's map does not depend on which other images are explained, nor on their order.
    alone = baselines.random_maps(1, 4, 5, 7, [3])
    np.testing.assert_array_equal(alone[0], maps[1])
    reordered = baselines.random_maps(3, 4, 5, 7, [42, 10, 3])
    np.testing.assert_array_equal(reordered, maps[[2, 0, 1]])
    np.testing.assert_array_equal(alone[0], np.random.default_rng([7, 3]).random((4, 5)))
    # Different images, or another seed: different maps.
    assert not np.array_equal(maps[0], maps[1]) and not np.array_equal(maps[1], maps[2])
    assert not np.array_equal(baselines.random_maps(1, 4, 5, 8, [3])[0], alone[0])
    # The same index twice gives the same map twice (the map is the image's, not the slot's).
    twice = baselines.random_maps(2, 4, 5, 7, [3, 3])
    np.testing.assert_array_equal(twice[0], twice[1])


def test_random_maps_of_no_images():
    assert baselines.random_maps(0, 3, 2, 0, []).shape == (0, 3, 2)


@pytest.mark.parametrize("height, width", [(7, 7), (6, 6), (5, 9), (1, 1), (3, 1)])
def test_centre_maps_are_the_centre_prior(height, width):
    maps = baselines.centre_maps(2, height, width)
    assert maps.shape == (2, height, width) and maps.flags.writeable
    np.testing.assert_array_equal(maps[0], maps[1])
    prior = maps[0]
    assert (prior >= 0).all() and (prior <= 1).all()
    # Maximal at the central cell(s), and symmetric about both axes (so about the centre).
    centre_rows = {(height - 1) // 2, height // 2}
    centre_cols = {(width - 1) // 2, width // 2}
    peak = {(int(r), int(c)) for r, c in zip(*np.nonzero(np.isclose(prior, prior.max())))}
    assert peak == {(r, c) for r in centre_rows for c in centre_cols}
    np.testing.assert_allclose(prior, prior[::-1, :], atol=1e-12)
    np.testing.assert_allclose(prior, prior[:, ::-1], atol=1e-12)
    if height % 2 and width % 2:  # a cell centred on the image's centre: exactly 1
        assert prior[height // 2, width // 2] == pytest.approx(1.0)
    # Distance in units of the image's sides: 1 - hypot(dy, dx) / hypot(0.5, 0.5).
    r, c = 0, width - 1
    dy, dx = (r + 0.5) / height - 0.5, (c + 0.5) / width - 0.5
    assert prior[r, c] == pytest.approx(1 - np.hypot(dy, dx) / np.hypot(0.5, 0.5))


def test_centre_maps_near_one_at_the_centre_and_zero_at_the_corners_distance():
    prior = baselines.centre_maps(1, 101, 101)[0]
    assert prior[50, 50] == pytest.approx(1.0)
    assert prior[0, 0] == prior[0, -1] == prior[-1, 0] == prior[-1, -1]
    assert prior[0, 0] == pytest.approx(1 - np.hypot(0.5 - 0.5 / 101, 0.5 - 0.5 / 101) / np.hypot(0.5, 0.5))
    assert prior[0, 0] < 0.011 and prior.min() == prior[0, 0]
    # On a non-square image the prior follows the image's shape: distances are in units of each side.
    wide = baselines.centre_maps(1, 11, 33)[0]  # row 0 and column 1 lie 1/22 of their side from the edge
    assert wide[0, 16] == pytest.approx(wide[5, 1]) and wide[0, 16] != pytest.approx(wide[5, 0])


def test_centre_maps_of_no_images():
    assert baselines.centre_maps(0, 2, 3).shape == (0, 2, 3)


@pytest.mark.parametrize("height, width", [(0, 3), (3, 0), (0, 0), (-1, 2)])
def test_baselines_refuse_maps_without_cells(height, width):
    with pytest.raises(ValueError, match="at least one cell"):
        baselines.random_maps(1, height, width, 0, [0])
    with pytest.raises(ValueError, match="at least one cell"):
        baselines.centre_maps(1, height, width)


@pytest.mark.parametrize("count, indices", [(2, [0]), (1, [0, 1]), (0, [3])])
def test_random_maps_refuse_a_count_other_than_the_indices(count, indices):
    with pytest.raises(ValueError, match="indices"):
        baselines.random_maps(count, 3, 3, 0, indices)


# --- a small numpy model ---------------------------------------------------------------------------------------


class LinearAdapter:
    """A single-logit "network" on ``(N, S, S, 3)`` images, with three parameter layers:

    - ``colour``: a 3 x 3 colour mix of the image average-pooled into ``cell`` x ``cell`` blocks;
    - ``conv``: a 1 x 1 convolution to ``C`` channels with a bias, then a ReLU: the explained layer ``features``;
    - ``out``: global average pooling and a linear logit, ``b + sum_c w_c mean_ij A_c``.

    So the gradient of the logit with respect to ``A_c`` is ``w_c / (h w)`` everywhere (negated for class 0).
    """

    LAYER = "features"

    def __init__(self, channels: int = 6, cell: int = 3, seed: int = 4):
        rng = np.random.default_rng(seed)
        self.cell = cell
        self.layers = {
            "colour": [rng.normal(size=(3, 3)).astype(np.float32)],
            "conv": [
                rng.normal(size=(channels, 3)).astype(np.float32),
                rng.normal(0.2, 0.3, channels).astype(np.float32),
            ],
            "out": [rng.normal(size=channels).astype(np.float32), np.array([-0.0], dtype=np.float32)],
        }
        self.score_calls = 0

    # the protocol's weight methods
    def parameter_layers(self) -> list[str]:
        return list(self.layers)

    def layer_weights(self, layer: str) -> list[np.ndarray]:
        return [a.copy() for a in self.layers[layer]]

    def set_layer_weights(self, layer: str, arrays) -> None:
        checked = checked_weights(layer, [(a.shape, a.dtype) for a in self.layers[layer]], arrays)
        self.layers[layer] = [a.copy() for a in checked]

    # the forward pass
    def _features(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, dtype=np.float64)
        n, s = images.shape[:2]
        h = s // self.cell
        pooled = images.reshape(n, h, self.cell, h, self.cell, 3).mean(axis=(2, 4)).transpose(0, 3, 1, 2)
        (mix,), (kernel, bias) = self.layers["colour"], self.layers["conv"]
        mixed = np.einsum("kl,nlhw->nkhw", mix, pooled)
        return np.maximum(np.einsum("ck,nkhw->nchw", kernel, mixed) + bias[:, None, None], 0.0)

    def _logits(self, acts: np.ndarray) -> np.ndarray:
        weights, bias = self.layers["out"]
        return acts.mean(axis=(2, 3)) @ weights.astype(np.float64) + float(bias[0])

    def scores(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        self.score_calls += 1
        return self._logits(self._features(images))[:, None]

    def activations(self, images: np.ndarray, layer: str, batch_size: int = 32) -> np.ndarray:
        assert layer == self.LAYER
        return self._features(images)

    def gradcam_parts(self, images: np.ndarray, layer: str, class_index: int):
        assert layer == self.LAYER
        acts = self._features(images)
        h, w = acts.shape[2:]
        sign = 1.0 if class_index == 1 else -1.0
        weights = self.layers["out"][0].astype(np.float64)
        grads = np.broadcast_to(sign * weights[None, :, None, None] / (h * w), acts.shape).copy()
        return acts, grads, self._logits(acts)


def _images(count: int = 3, size: int = 12, seed: int = 1) -> Images:
    rng = np.random.default_rng(seed)
    inputs = rng.random((count, size, size, 3)).astype(np.float32)
    heights, widths = [30 + 3 * i for i in range(count)], [40 + 5 * i for i in range(count)]
    points = [rng.random((2 + i, 2)) for i in range(count)]
    return Images(inputs, [5 + 2 * i for i in range(count)], heights, widths, points)


OPTIONS = MethodOptions(seed=11, scorecam_channels=None, scorecam_batch_size=4)


def _random_pair(count: int = 3, channels: int = 5, h: int = 4, w: int = 4, seed: int = 2):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(count, channels, h, w)), rng.normal(size=(count, channels, h, w))


def test_the_fake_model_gradients_are_those_of_its_scores():
    """The analytic gradient the fake adapter returns is the finite-difference one (the fixture's own check)."""
    adapter, images = LinearAdapter(), _images(2)
    acts, grads, logits = adapter.gradcam_parts(images.inputs, LinearAdapter.LAYER, 1)
    np.testing.assert_allclose(logits, adapter.scores(images.inputs)[:, 0])
    bumped = acts.copy()
    bumped[0, 2, 1, 3] += 1e-3
    assert (adapter._logits(bumped) - logits)[0] == pytest.approx(1e-3 * grads[0, 2, 1, 3], rel=1e-6)
    np.testing.assert_array_equal(adapter.gradcam_parts(images.inputs, LinearAdapter.LAYER, 0)[1], -grads)


# --- class_maps ------------------------------------------------------------------------------------------------


def test_class_maps_dispatches_each_method_to_its_function():
    adapter, images = LinearAdapter(channels=5), _images(3)
    acts, grads = _random_pair(channels=5)  # spatially varying gradients: every gradient method gives its own map
    options = MethodOptions(seed=3, scorecam_channels=2, scorecam_batch_size=3)
    maps, seconds = benchmark.class_maps(adapter, images, acts, grads, 1, list(ALL_METHODS), options)
    gradient = {
        "gradcam": cams.gradcam,
        "gradcam_plus_plus": cams.gradcam_plus_plus,
        "hirescam": cams.hirescam,
        "xgradcam": cams.xgradcam,
        "layercam": cams.layercam,
    }  # by name, not through the registry
    expected = {name: function(acts, grads) for name, function in gradient.items()}
    expected["eigencam"] = cams.eigencam(acts)
    expected["scorecam"] = cams.scorecam(adapter, images.inputs, acts, 1, 2, 3)
    expected["random"] = baselines.random_maps(3, 4, 4, 3, images.indices)
    expected["centre"] = baselines.centre_maps(3, 12, 12)  # the prior at the input's resolution (12 px)
    assert list(maps) == list(ALL_METHODS) == list(seconds)
    for method in ALL_METHODS:
        assert maps[method].shape == ((3, 12, 12) if method == "centre" else (3, 4, 4))
        np.testing.assert_array_equal(maps[method], expected[method], err_msg=method)
    # Each method's map is its own: a swapped dispatch would show.
    for a in ALL_METHODS:
        for b in ALL_METHODS:
            assert a == b or maps[a].shape != maps[b].shape or not np.allclose(maps[a], maps[b]), (a, b)
    assert all(isinstance(s, float) and s >= 0 for s in seconds.values())


def test_class_maps_passes_the_options_and_class_on():
    adapter, images = LinearAdapter(channels=5), _images(2)
    acts, grads = _random_pair(count=2, channels=5)
    every = benchmark.class_maps(adapter, images, acts, grads, 0, ["scorecam", "random"], OPTIONS)[0]
    np.testing.assert_array_equal(every["scorecam"], cams.scorecam(adapter, images.inputs, acts, 0, None, 4))
    assert not np.allclose(every["scorecam"], cams.scorecam(adapter, images.inputs, acts, 1, None, 4))
    assert not np.allclose(every["scorecam"], cams.scorecam(adapter, images.inputs, acts, 0, 2, 4))
    np.testing.assert_array_equal(every["random"], baselines.random_maps(2, 4, 4, OPTIONS.seed, images.indices))
    # Another seed, other noise; the noise takes the layer's resolution, the centre prior the input's.
    other = benchmark.class_maps(
        adapter, images, acts[:, :, :3, :2], grads[:, :, :3, :2], 0, ["random", "centre"], MethodOptions(12, None, 4)
    )[0]
    assert other["random"].shape == (2, 3, 2) and other["centre"].shape == (2, 12, 12)
    assert not np.allclose(other["random"], baselines.random_maps(2, 3, 2, OPTIONS.seed, images.indices))


def test_class_maps_keeps_only_the_methods_asked_for():
    adapter, images = LinearAdapter(), _images(2)
    acts, grads = _random_pair(count=2)
    calls = adapter.score_calls
    maps, seconds = benchmark.class_maps(adapter, images, acts, grads, 1, ["centre", "gradcam"], OPTIONS)
    assert list(maps) == list(seconds) == ["centre", "gradcam"]
    assert adapter.score_calls == calls  # no Score-CAM asked for: the model was not run
    assert benchmark.class_maps(adapter, images, acts, grads, 1, [], OPTIONS) == ({}, {})


@pytest.mark.parametrize("methods", [["gradcam", "grad_cam"], ["lime"], ["Random"]])
def test_class_maps_refuses_an_unknown_method(methods):
    adapter, images = LinearAdapter(), _images(2)
    acts, grads = _random_pair(count=2)
    with pytest.raises(ValueError, match="unknown explanation method"):
        benchmark.class_maps(adapter, images, acts, grads, 1, methods, OPTIONS)


# --- score and per_image_frame ---------------------------------------------------------------------------------


def _hand_maps():
    """Two images' 3 x 4 maps: a peak in the upper left, a peak in the lower right; and an all-zero pair."""
    peaks = np.zeros((2, 3, 4))
    peaks[0, 0, 0], peaks[0, 0, 1] = 4.0, 1.0
    peaks[1, 2, 3], peaks[1, 1, 3] = 3.0, 2.0
    return {"peaks": peaks, "flat": np.zeros((2, 3, 4))}


def _hand_images() -> Images:
    points = [np.array([[0.05, 0.05], [0.9, 0.9]]), np.array([[0.95, 0.9], [0.9, 0.95], [0.1, 0.1]])]
    return Images(np.zeros((2, 8, 8, 3), np.float32), [4, 9], [30, 24], [40, 50], points)


@pytest.mark.parametrize("policy", ["zero", "skip"])
def test_score_is_localise_on_the_full_size_heatmap(policy):
    maps, images = _hand_maps(), _hand_images()
    scores = benchmark.score(maps, images, radius=3, top_k=50, constant_heatmap=policy)
    assert list(scores) == ["peaks", "flat"]
    for method, method_maps in maps.items():
        assert len(scores[method]) == 2
        for i, m in enumerate(method_maps):
            heatmap = gradcam.heatmap(m, images.heights[i], images.widths[i])
            assert heatmap.shape == (images.heights[i], images.widths[i])
            assert scores[method][i] == localisation.localise(heatmap, images.points[i], 3, 50, policy)
    # The peaks find their points: image 0 one of two (IRA 1/2), image 1 two of three.
    assert [r.ira for r in scores["peaks"]] == [0.5, pytest.approx(2 / 3)]
    assert [r.pointing_game for r in scores["peaks"]] == [1.0, 1.0]
    flat = scores["flat"]
    assert all(r.constant for r in flat)
    assert [r.ira for r in flat] == ([0.0, 0.0] if policy == "zero" else [None, None])


def test_score_of_no_images_and_no_methods():
    images = _hand_images().subset(0)
    assert benchmark.score({"gradcam": np.zeros((0, 3, 4))}, images, 3, 5, "zero") == {"gradcam": []}
    assert benchmark.score({}, images, 3, 5, "zero") == {}


def test_per_image_frame_has_one_line_per_method_and_image():
    scores = benchmark.score(_hand_maps(), _hand_images(), 3, 50, "skip")
    frame = benchmark.per_image_frame(scores, ["a.tif", "b.tif"])
    assert list(frame.columns) == ["method", "image", *LOCALISATION_COLUMNS]
    assert frame[["method", "image"]].values.tolist() == [
        ["peaks", "a.tif"],
        ["peaks", "b.tif"],
        ["flat", "a.tif"],
        ["flat", "b.tif"],
    ]
    assert frame.loc[1, "ira"] == pytest.approx(2 / 3) and frame.loc[1, "points"] == 3
    assert frame["constant"].tolist() == [False, False, True, True]


def test_per_image_frame_has_its_columns_when_empty():
    for scores in ({}, {"gradcam": []}):
        frame = benchmark.per_image_frame(scores, [])
        assert frame.empty and list(frame.columns) == ["method", "image", *LOCALISATION_COLUMNS]


# --- randomization ---------------------------------------------------------------------------------------------

RANDOMIZED = ["gradcam", "eigencam", "scorecam", "random", "centre"]


def _trained(adapter: LinearAdapter, images: Images, methods=RANDOMIZED) -> dict[str, np.ndarray]:
    acts, grads, _ = adapter.gradcam_parts(images.inputs, LinearAdapter.LAYER, 1)
    return benchmark.class_maps(adapter, images, acts, grads, 1, list(methods), OPTIONS)[0]


def _bits(adapter: LinearAdapter) -> dict[str, list[bytes]]:
    return {
        layer: [(a.dtype.str, a.shape, a.tobytes()) for a in adapter.layer_weights(layer)]
        for layer in adapter.parameter_layers()
    }


@pytest.fixture(scope="module")
def cascade():
    adapter, images = LinearAdapter(), _images(3)
    trained = _trained(adapter, images)
    assert all(np.ptp(m) > 0 for maps in trained.values() for m in maps)  # every map has a ranking
    before = _bits(adapter)
    curves = benchmark.randomization(adapter, images, trained, LinearAdapter.LAYER, 1, OPTIONS, 2, "zero")
    return adapter, images, trained, before, curves


def test_randomization_lines_and_layers(cascade):
    adapter, images, trained, _, curves = cascade
    layers = adapter.parameter_layers()
    counts = [0, *cascade_counts(len(layers), 2)]
    assert counts == [0, 2, 3]
    assert list(curves.columns) == [
        "step",
        "layers_randomized",
        "share_randomized",
        "down_to_layer",
        "method",
        "image_index",
        "spearman",
        "ssim",
        "ira",
    ]
    assert len(curves) == len(counts) * len(RANDOMIZED) * 3
    by_step = curves.groupby("step")
    assert by_step["layers_randomized"].unique().map(list).tolist() == [[c] for c in counts]
    np.testing.assert_allclose(by_step["share_randomized"].first(), [c / len(layers) for c in counts])
    assert curves.loc[curves["step"] == 0, "down_to_layer"].isna().all()
    assert by_step["down_to_layer"].first().tolist()[1:] == ["conv", "colour"]  # the lowest layer shuffled
    for _, group in curves.groupby(["step", "method"], sort=False):
        assert group["image_index"].tolist() == images.indices
    assert list(dict.fromkeys(curves["method"])) == RANDOMIZED


def test_randomization_step_zero_is_the_trained_model(cascade):
    _, images, trained, _, curves = cascade
    first = curves[curves["step"] == 0]
    assert first["spearman"].to_numpy() == pytest.approx(1.0)
    assert first["ssim"].to_numpy() == pytest.approx(1.0)
    for method, maps in trained.items():
        rows = first[first["method"] == method]
        expected = [
            image_ira(gradcam.heatmap(m, images.heights[i], images.widths[i]), images.points[i], "zero").ira
            for i, m in enumerate(maps)
        ]
        assert rows["ira"].tolist() == pytest.approx(expected)


def test_randomization_baselines_ignore_the_model_and_fail(cascade):
    _, _, _, _, curves = cascade
    for method in ("random", "centre"):
        rows = curves[curves["method"] == method]
        assert rows["spearman"].to_numpy() == pytest.approx(1.0), method
        assert rows["ssim"].to_numpy() == pytest.approx(1.0), method
    summary = benchmark.randomization_summary(curves, max_spearman=0.5)
    assert summary["random"]["fails"] is True and summary["centre"]["fails"] is True
    assert summary["random"]["final_spearman"] == pytest.approx(1.0)


def test_randomization_changes_the_maps_of_weight_dependent_methods(cascade):
    adapter, images, trained, _, curves = cascade
    summary = benchmark.randomization_summary(curves, max_spearman=0.5)
    for method in ("gradcam", "eigencam", "scorecam"):
        last = curves[(curves["method"] == method) & (curves["step"] == curves["step"].max())]
        assert (last["spearman"] < 0.999).all(), method
        assert summary[method]["final_spearman"] < summary["random"]["final_spearman"] - 0.05, method
    assert summary["gradcam"]["final_spearman"] < 0.5 and summary["gradcam"]["fails"] is False


def test_randomization_recomputes_maps_with_the_shuffled_weights(cascade):
    """The last step's Spearman is that of the trained maps with those of a fully shuffled copy of the model."""
    from medinterp.interpret.randomization import cascading

    adapter, images, trained, _, curves = cascade
    size = images.inputs.shape[1]
    with cascading(adapter, OPTIONS.seed) as randomize:
        randomize(len(adapter.parameter_layers()))
        shuffled = _trained(adapter, images, ["gradcam", "eigencam"])
    for method in ("gradcam", "eigencam"):
        expected = [
            spearman(gradcam.heatmap(a, size, size), gradcam.heatmap(b, size, size))
            for a, b in zip(trained[method], shuffled[method])
        ]
        assert None not in expected
        expected_ssim = [
            ssim(gradcam.heatmap(a, size, size), gradcam.heatmap(b, size, size))
            for a, b in zip(trained[method], shuffled[method])
        ]
        rows = curves[(curves["method"] == method) & (curves["step"] == 2)]
        assert rows["spearman"].tolist() == pytest.approx(expected)
        assert rows["ssim"].tolist() == pytest.approx(expected_ssim)


def test_randomization_restores_the_weights_bit_for_bit(cascade):
    adapter, images, trained, before, _ = cascade
    assert _bits(adapter) == before
    again = _trained(adapter, images)
    for method in trained:
        np.testing.assert_array_equal(again[method], trained[method])


def test_randomization_restores_the_weights_after_an_error():
    adapter, images = LinearAdapter(), _images(2)
    trained = _trained(adapter, images, ["gradcam"])
    before = _bits(adapter)
    broken = dict(trained, lime=trained["gradcam"])  # recomputing an unknown method fails inside the cascade
    with pytest.raises(ValueError, match="unknown explanation method"):
        benchmark.randomization(adapter, images, broken, LinearAdapter.LAYER, 1, OPTIONS, 2, "zero")
    assert _bits(adapter) == before


class FlatWhenShuffled(LinearAdapter):
    """No gradient as soon as any weight differs from the trained ones: every randomized gradient map is flat."""

    def __init__(self):
        super().__init__()
        self.trained = {layer: [a.copy() for a in arrays] for layer, arrays in self.layers.items()}

    def gradcam_parts(self, images, layer, class_index):
        acts, grads, logits = super().gradcam_parts(images, layer, class_index)
        same = all(
            np.array_equal(a, b) for layer in self.layers for a, b in zip(self.layers[layer], self.trained[layer])
        )
        return acts, grads if same else np.zeros_like(grads), logits


def test_randomization_counts_a_map_gone_flat_with_spearman_zero():
    adapter, images = FlatWhenShuffled(), _images(2)
    trained = _trained(adapter, images, ["gradcam", "layercam"])
    assert all(np.ptp(m) > 0 for maps in trained.values() for m in maps)
    curves = benchmark.randomization(adapter, images, trained, LinearAdapter.LAYER, 1, OPTIONS, 2, "zero")
    later = curves[curves["step"] > 0]
    assert (later["spearman"] == 0.0).all() and (later["ira"] == 0.0).all()
    assert curves.loc[curves["step"] == 0, "spearman"].to_numpy() == pytest.approx(1.0)
    summary = benchmark.randomization_summary(curves, 0.5)
    assert summary["gradcam"]["final_spearman"] == 0.0 and summary["gradcam"]["fails"] is False


def test_randomization_of_constant_maps_has_no_spearman():
    adapter, images = LinearAdapter(), _images(2)
    adapter.layers["out"][0][:] = 0  # no gradient: Grad-CAM maps all zero
    trained = _trained(adapter, images, ["gradcam", "centre"])
    assert not trained["gradcam"].any()
    curves = benchmark.randomization(adapter, images, trained, LinearAdapter.LAYER, 1, OPTIONS, 3, "zero")
    flat = curves[curves["method"] == "gradcam"]
    assert flat["spearman"].isna().all() and (flat["ssim"] == 1.0).all() and (flat["ira"] == 0.0).all()
    summary = benchmark.randomization_summary(curves, 0.5)
    assert summary["gradcam"]["fails"] is None and summary["gradcam"]["final_spearman"] is None
    assert summary["centre"]["fails"] is True


# --- randomization_summary -------------------------------------------------------------------------------------


def _curves(spearmans: dict[str, list[list[float]]], counts=(0, 4, 8)) -> pd.DataFrame:
    """Hand-made curves: per method, per step, the images' Spearman (SSIM = Spearman / 2, IRA = step / 10)."""
    rows = []
    for method, steps in spearmans.items():
        for step, values in enumerate(steps):
            for image, rho in enumerate(values):
                rows.append(
                    {
                        "step": step,
                        "layers_randomized": counts[step],
                        "share_randomized": counts[step] / 8,
                        "down_to_layer": None,
                        "method": method,
                        "image_index": image,
                        "spearman": rho,
                        "ssim": rho / 2,
                        "ira": step / 10,
                    }
                )
    return pd.DataFrame(rows)


def test_randomization_summary_by_hand():
    curves = _curves(
        {
            "good": [[1.0, 1.0], [0.6, 0.4], [0.2, 0.0]],
            "bad": [[1.0, 1.0], [0.9, 0.9], [0.7, 0.5]],
            "edge": [[1.0, 1.0], [0.5, 0.5], [0.5, 0.5]],
            "half": [[1.0, np.nan], [np.nan, 0.8], [np.nan, 0.6]],
        }
    )
    summary = benchmark.randomization_summary(curves, max_spearman=0.5)
    assert list(summary) == ["good", "bad", "edge", "half"]
    good = summary["good"]
    assert list(good["steps"]) == ["step0", "step1", "step2"]
    assert good["final_spearman"] == pytest.approx(0.1) and good["fails"] is False
    assert good["final_ssim"] == pytest.approx(0.05)
    assert good["steps"]["step1"] == {
        "layers_randomized": 4,
        "share_randomized": 0.5,
        "spearman": pytest.approx(0.5),
        "ssim": pytest.approx(0.25),
        "ira": pytest.approx(0.1),
    }
    assert good["steps"]["step0"]["layers_randomized"] == 0 and good["steps"]["step2"]["layers_randomized"] == 8
    assert summary["bad"]["final_spearman"] == pytest.approx(0.6) and summary["bad"]["fails"] is True
    assert summary["edge"]["fails"] is False  # "more than max_spearman": equal passes
    assert summary["half"]["final_spearman"] == pytest.approx(0.6) and summary["half"]["fails"] is True  # NaN skipped
    for method, result in summary.items():
        last = curves[(curves["method"] == method) & (curves["step"] == 2)]["spearman"].mean()
        assert result["final_spearman"] == pytest.approx(last)
        assert type(result["fails"]) is bool and type(result["final_spearman"]) is float
    json.dumps(summary)  # plain values, as metrics/randomization.json holds them


def test_randomization_summary_without_any_spearman():
    curves = _curves({"flat": [[np.nan, np.nan], [np.nan, np.nan]], "fine": [[1.0, 1.0], [0.9, 0.1]]})
    summary = benchmark.randomization_summary(curves, 0.5)
    assert summary["flat"]["fails"] is None and summary["flat"]["final_spearman"] is None
    assert summary["flat"]["steps"]["step1"]["spearman"] is None and summary["flat"]["final_ssim"] is None
    assert summary["fine"]["fails"] is False and summary["fine"]["final_spearman"] == pytest.approx(0.5)
    assert benchmark.randomization_summary(curves, 0.4)["fine"]["fails"] is True


def test_randomization_summary_steps_hold_what_the_stage_documents():
    """stages/paper_explanations.py documents metrics/randomization.json's steps as
    ``steps.step<k>.{layers_randomized, share_randomized, spearman, ssim, ira}``."""
    summary = benchmark.randomization_summary(_curves({"m": [[1.0], [0.5], [0.0]]}), 0.5)
    assert set(summary["m"]["steps"]["step1"]) == {"layers_randomized", "share_randomized", "spearman", "ssim", "ira"}
    assert summary["m"]["steps"]["step1"]["share_randomized"] == pytest.approx(0.5)


# --- the report's tables ---------------------------------------------------------------------------------------


def _metrics(ira, lift, evaluated=3):
    return {
        "ira": ira,
        "ira_lift": lift,
        "pointing_game": ira / 2,
        "relevance_mass_accuracy": ira / 4,
        "top_k_intersection": ira / 5,
        "images_evaluated": evaluated,
        "images_correct_explained": evaluated - 1,
        "mask_area": 0.1,
    }


def _benchmark_files():
    explanations = {
        "bb1": {
            "vanilla": {"gradcam": _metrics(0.5, 2.5), "random": _metrics(0.2, 1.0)},
            "encoder-random": {"gradcam": _metrics(0.25, 1.25, evaluated=2), "random": _metrics(0.1, 0.9, 2)},
        },
        "bb2": {"vanilla": {"gradcam": _metrics(0.75, 3.0, 4), "scorecam": _metrics(0.6, None, 4)}},
        "conventions": {"bb1": {"max_spearman": 0.4}, "bb2": {"max_spearman": 0.4}},
        "seed": 3,
    }
    randomization = {
        "bb1": {
            "vanilla": {
                "gradcam": {"fails": False, "final_spearman": 0.1},
                "random": {"fails": True, "final_spearman": 1.0},
            },
            "encoder-random": {
                "gradcam": {"fails": True, "final_spearman": 0.45},
                "random": {"fails": True, "final_spearman": 1.0},
            },
        },
        "bb2": {
            "vanilla": {
                "gradcam": {"fails": None, "final_spearman": None},
                "scorecam": {"fails": False, "final_spearman": 0.2},
            }
        },
        "conventions": explanations["conventions"],
        "seed": 3,
    }
    return explanations, randomization


def test_explanation_runs_leave_out_conventions_and_seed():
    explanations, _ = _benchmark_files()
    assert list(explanation_runs(explanations)) == ["bb1", "bb2"]


def test_explanation_tables_methods_as_rows_runs_as_columns():
    explanations, randomization = _benchmark_files()
    built = explanation_tables(explanations, randomization)
    assert [t.key for t in built] == [
        "explanations_ira_lift",
        "explanations_ira",
        "explanations_pointing_game",
        "explanations_relevance_mass_accuracy",
        "explanations_top_k_intersection",
        "randomization",
    ]
    heads = ["method", "bb1 vanilla", "bb1 encoder-random", "bb2 vanilla"]
    assert all(t.columns == heads for t in built) and all(t.published_columns() == [] for t in built)
    tables = {t.key: t for t in built}
    # ira_lift as it is, every other metric in percent; a method a run lacks is an empty cell.
    assert tables["explanations_ira_lift"].rows == [
        ["gradcam", 2.5, 1.25, 3.0],
        ["random", 1.0, 0.9, None],
        ["scorecam", None, None, None],
    ]
    assert tables["explanations_ira"].rows == [
        ["gradcam", 50.0, 25.0, 75.0],
        ["random", 20.0, 10.0, None],
        ["scorecam", None, None, pytest.approx(60.0)],
    ]
    assert tables["explanations_pointing_game"].rows[0] == ["gradcam", 25.0, 12.5, 37.5]
    assert tables["explanations_relevance_mass_accuracy"].rows[0] == ["gradcam", 12.5, 6.25, 18.75]
    assert tables["explanations_top_k_intersection"].rows[1] == ["random", 4.0, 2.0, None]
    note = tables["explanations_ira"].note
    assert "bb1 vanilla: 3 (2 classified correctly)" in note and "bb1 encoder-random: 2 (1 " in note
    assert "bb2 vanilla: 4 (3 " in note


def test_explanation_tables_randomization_lists_the_failing_methods():
    explanations, randomization = _benchmark_files()
    table = explanation_tables(explanations, randomization)[-1]
    assert table.rows == [["gradcam", 0.1, 0.45, None], ["random", 1.0, 1.0, None], ["scorecam", None, None, 0.2]]
    assert "above 0.4" in table.note
    assert "Failing: gradcam (bb1 encoder-random); random (bb1 vanilla, bb1 encoder-random)." in table.note
    for runs in randomization["bb1"].values():
        for result in runs.values():
            result["fails"] = False
    table = explanation_tables(explanations, randomization)[-1]
    assert table.note.endswith("Failing: none.")


def test_explanation_tables_of_a_run_without_randomization():
    explanations, _ = _benchmark_files()
    table = explanation_tables(explanations, {"conventions": {}, "seed": 3})[-1]
    assert table.rows == [["gradcam", None, None, None], ["random", None, None, None], ["scorecam", None, None, None]]
    assert table.note.endswith("Failing: none.")


# --- the stage's files, from a benchmark result made by hand ----------------------------------------------------


def _backbone_result(
    methods: list[str], maps: dict[str, np.ndarray], images: Images, names: list[str], policy: str, with_curves: bool
):
    from medinterp.paper.explanations import BackboneExplanations, Grid

    scores = benchmark.score(maps, images, 3, 50, policy)
    curves = (
        benchmark.randomization(LinearAdapter(), images, maps, LinearAdapter.LAYER, 1, OPTIONS, 2, policy)
        if with_curves
        else pd.DataFrame()
    )
    pictures = [np.full((h // 4, w // 4, 3), 128, np.uint8) for h, w in zip(images.heights, images.widths)]
    grid = Grid(
        names,
        pictures,
        images.points,
        {m: [gradcam.heatmap(v, *p.shape[:2]) for v, p in zip(maps[m], pictures)] for m in methods},
    )
    summaries = {m: localisation.summarise(results) for m, results in scores.items()}
    randomized = (
        benchmark.randomization_summary(curves, 0.5)
        if with_curves
        else {m: {"fails": None, "final_spearman": None, "final_ssim": None, "steps": {}} for m in methods}
    )
    return BackboneExplanations(
        summaries={"vanilla": summaries},
        randomization={"vanilla": randomized},
        per_image={"vanilla": benchmark.per_image_frame(scores, names)},
        curves={"vanilla": curves},
        grids={"vanilla": grid},
        seconds_per_image={"vanilla": {m: 0.1 for m in methods}},
        conventions={"max_spearman": 0.5, "constant_heatmap": policy},
    )


def _run_stage(tmp_path, monkeypatch, result) -> None:
    from medinterp.stages import paper_explanations, run

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(paper_explanations, "explain_all", lambda params: {"bb": result})
    run(paper_explanations.main)


def test_stage_writes_every_file_of_a_benchmark(tmp_path, monkeypatch):
    images = _images(2)
    maps = _trained(LinearAdapter(), images, ["gradcam", "random"])
    _run_stage(
        tmp_path,
        monkeypatch,
        _backbone_result(["gradcam", "random"], maps, images, ["a.png", "b.png"], "zero", with_curves=True),
    )
    explanations = json.loads((tmp_path / "metrics/explanations.json").read_text())
    assert list(explanations) == ["bb", "conventions", "seed"] and explanations["seed"] == 0
    assert explanations["conventions"] == {"bb": {"max_spearman": 0.5, "constant_heatmap": "zero"}}
    assert list(explanations["bb"]["vanilla"]) == ["gradcam", "random"]
    randomization = json.loads((tmp_path / "metrics/randomization.json").read_text())
    assert randomization["bb"]["vanilla"]["random"]["fails"] is True
    per_image = pd.read_csv(tmp_path / "metrics/paper/explanations/bb/vanilla.csv")
    assert per_image[["method", "image"]].values.tolist() == [
        ["gradcam", "a.png"],
        ["gradcam", "b.png"],
        ["random", "a.png"],
        ["random", "b.png"],
    ]
    curves = pd.read_csv(tmp_path / "metrics/paper/explanations/bb/vanilla_randomization.csv")
    assert len(curves) == 3 * 2 * 2
    plots = tmp_path / "plots/paper/explanations/bb/vanilla"
    assert (plots / "methods.png").is_file() and (plots / "randomization.png").is_file()
    means = pd.read_csv(plots / "randomization.csv")
    assert len(means) == 3 * 2 and means.loc[means["method"] == "random", "spearman"].to_numpy() == pytest.approx(1.0)
    assert (tmp_path / "logs/paper_explanations.json").is_file()


def test_stage_draws_a_benchmark_whose_images_have_no_ira(tmp_path, monkeypatch):
    """Every map constant under ``constant_heatmap: skip`` (e.g. an untrained classifier explained by Grad-CAM
    alone): every per-image IRA is None, the figure titles read "IRA -", and no randomization ran."""
    images = _images(2)
    maps = {"gradcam": np.zeros((2, 4, 4))}
    _run_stage(
        tmp_path,
        monkeypatch,
        _backbone_result(["gradcam"], maps, images, ["a.png", "b.png"], "skip", with_curves=False),
    )
    assert (tmp_path / "plots/paper/explanations/bb/vanilla/methods.png").is_file()
    assert not (tmp_path / "plots/paper/explanations/bb/vanilla/randomization.png").exists()
    assert pd.read_csv(tmp_path / "metrics/paper/explanations/bb/vanilla.csv")["ira"].isna().all()
