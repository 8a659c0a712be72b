"""The framework-free parts of the model-parameter randomization test, on a fake numpy adapter."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from medinterp.interpret.adapter import checked_weights
from medinterp.interpret.randomization import cascade_counts, cascading, permuted, spearman, ssim


class FakeAdapter:
    """Parameter layers as numpy arrays; only the three weight methods of the protocol."""

    def __init__(self, layers: dict[str, list[np.ndarray]], fail_on: str | None = None):
        self.layers = {name: [a.copy() for a in arrays] for name, arrays in layers.items()}
        self.fail_on = fail_on

    def parameter_layers(self) -> list[str]:
        return list(self.layers)

    def layer_weights(self, layer: str) -> list[np.ndarray]:
        return [a.copy() for a in self.layers[layer]]

    def set_layer_weights(self, layer: str, arrays) -> None:
        if layer == self.fail_on:
            raise RuntimeError(f"cannot write {layer}")
        checked = checked_weights(layer, [(a.shape, a.dtype) for a in self.layers[layer]], arrays)
        self.layers[layer] = [a.copy() for a in checked]


def _model() -> dict[str, list[np.ndarray]]:
    """Five layers, bottom to top; values with a -0.0 and a NaN so that restoring must be bit-exact."""
    rng = np.random.default_rng(3)
    layers = {f"layer{i}": [rng.normal(size=(3, 4, 2, 2)).astype(np.float32), rng.normal(size=4)] for i in range(4)}
    layers["layer1"][1][:2] = [-0.0, np.nan]
    layers["out"] = [rng.normal(size=(4, 2)).astype(np.float32), np.zeros(2, np.float32), np.float32(rng.normal())[()]]
    return layers


def _same_bits(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes() for x, y in zip(a, b)
    )


def _snapshot(adapter: FakeAdapter) -> dict[str, list[np.ndarray]]:
    return {name: adapter.layer_weights(name) for name in adapter.parameter_layers()}


@pytest.mark.parametrize(
    "layers, steps, expected",
    [
        (10, 5, [2, 4, 6, 8, 10]),
        (3, 3, [1, 2, 3]),
        (7, 3, [2, 5, 7]),
        (1, 1, [1]),
        (160, 1, [160]),
        (2, 5, [1, 2]),
        (1, 4, [1]),
        (5, 2, [2, 5]),  # round() halves to even: 2.5 -> 2
    ],
)
def test_cascade_counts(layers, steps, expected):
    counts = cascade_counts(layers, steps)
    assert counts == expected
    assert counts[-1] == layers and all(a < b for a, b in zip(counts, counts[1:]))


@pytest.mark.parametrize("layers, steps", [(0, 3), (3, 0), (-1, 2)])
def test_cascade_counts_refuses_empty(layers, steps):
    with pytest.raises(ValueError):
        cascade_counts(layers, steps)


def test_permuted_shuffles_every_element_and_keeps_the_values():
    kernel = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    scalar = np.float64(2.5)[()]
    out = permuted([kernel, scalar], np.random.default_rng(0))
    assert out[0].dtype == kernel.dtype and out[0].shape == kernel.shape
    np.testing.assert_array_equal(np.sort(out[0], axis=None), np.sort(kernel, axis=None))
    assert not np.array_equal(out[0], kernel)
    # not a first-axis shuffle (Quantus): values leave their filter and their position inside it
    assert not any(np.array_equal(np.sort(out[0][0], axis=None), np.sort(kernel[i], axis=None)) for i in range(2))
    assert out[1].shape == () and out[1] == scalar
    assert not np.array_equal(permuted([kernel], np.random.default_rng(1))[0], out[0])


def test_cascading_permutes_the_top_layers_and_restores_them_bit_for_bit():
    adapter = FakeAdapter(_model())
    before = _snapshot(adapter)
    with cascading(adapter, seed=5) as randomize:
        assert randomize(2) == ["out", "layer3"]
        inside = _snapshot(adapter)
    for name in ("out", "layer3"):
        assert not _same_bits(inside[name], before[name])
        for got, original in zip(inside[name], before[name]):
            np.testing.assert_array_equal(np.sort(got, axis=None), np.sort(original, axis=None))
    for name in ("layer0", "layer1", "layer2"):
        assert _same_bits(inside[name], before[name])
    after = _snapshot(adapter)
    assert all(_same_bits(after[name], before[name]) for name in before)


def test_cascading_restores_after_an_exception_inside():
    adapter = FakeAdapter(_model())
    before = _snapshot(adapter)
    with pytest.raises(KeyError, match="boom"):
        with cascading(adapter, seed=0) as randomize:
            randomize(5)
            assert not _same_bits(adapter.layer_weights("layer1"), before["layer1"])
            raise KeyError("boom")
    after = _snapshot(adapter)
    assert all(_same_bits(after[name], before[name]) for name in before)


def test_cascading_restores_what_it_wrote_when_a_write_fails():
    adapter = FakeAdapter(_model(), fail_on="layer2")
    before = _snapshot(adapter)
    with pytest.raises(RuntimeError, match="layer2"):
        with cascading(adapter, seed=0) as randomize:
            randomize(4)
            pytest.fail("entered although a layer could not be randomized")
    adapter.fail_on = None
    after = _snapshot(adapter)
    assert all(_same_bits(after[name], before[name]) for name in before)


def test_cascading_is_deterministic_for_a_seed():
    def inside(seed: int) -> dict[str, list[np.ndarray]]:
        adapter = FakeAdapter(_model())
        with cascading(adapter, seed=seed) as randomize:
            randomize(5)
            return _snapshot(adapter)

    first, again, other = inside(11), inside(11), inside(12)
    assert all(_same_bits(first[name], again[name]) for name in first)
    original = _model()
    for index, name in enumerate(["out", "layer3", "layer2", "layer1", "layer0"]):  # the documented draw
        assert _same_bits(first[name], permuted(original[name], np.random.default_rng([11, index])))
    assert not any(_same_bits(first[name], other[name]) for name in ("out", "layer0", "layer3"))


def test_cascade_steps_share_their_permutations():
    """Step k + 1 is step k plus one more layer: the layers randomized at step k are the same arrays at step k + 1."""
    adapter = FakeAdapter(_model())
    before = _snapshot(adapter)
    steps = []
    for count in cascade_counts(len(before), len(before)):
        with cascading(adapter, seed=9) as randomize:
            layers = randomize(count)
            steps.append((layers, _snapshot(adapter)))
    for (layers, weights), (next_layers, next_weights) in zip(steps, steps[1:]):
        assert next_layers[: len(layers)] == layers and len(next_layers) == len(layers) + 1
        assert all(_same_bits(weights[name], next_weights[name]) for name in layers)
        added = next_layers[-1]
        assert _same_bits(weights[added], before[added]) and not _same_bits(next_weights[added], before[added])


def test_cascading_counts():
    adapter = FakeAdapter(_model())
    before = _snapshot(adapter)
    with cascading(adapter, seed=0) as randomize:
        assert randomize(0) == []
        assert all(_same_bits(adapter.layer_weights(name), before[name]) for name in before)
    for count in (6, -1):
        with pytest.raises(ValueError, match="of 5 parameter layers"):
            with cascading(adapter, seed=0) as randomize:
                randomize(count)


def test_spearman_matches_a_hand_computation():
    # ranks of b, with its tie: 1 2 3.5 5 3.5; deviations from 3: a -2 -1 0 1 2, b -2 -1 .5 2 .5
    a = np.array([0.1, 0.2, 0.4, 0.5, 0.6])
    b = np.array([5.0, 6.0, 7.0, 8.0, 7.0])
    assert spearman(a, b) == pytest.approx(8 / np.sqrt(10 * 9.5), abs=1e-12)
    assert spearman(a.reshape(1, 5), b[::-1]) == pytest.approx(-8 / np.sqrt(10 * 9.5), abs=1e-12)
    maps = np.random.default_rng(0).random((2, 7, 9))
    assert spearman(maps[0], maps[0]) == pytest.approx(1.0)


def test_spearman_is_none_on_a_constant_map_and_refuses_bad_input():
    ramp = np.linspace(0, 1, 16).reshape(4, 4)
    assert spearman(np.zeros((4, 4)), ramp) is None
    assert spearman(ramp, np.full((4, 4), 0.3)) is None
    with pytest.raises(ValueError, match="different sizes"):
        spearman(ramp, ramp[:3])
    with pytest.raises(ValueError, match="non-finite"):
        spearman(np.where(ramp > 0.5, np.nan, ramp), ramp)


def test_ssim_is_one_on_identical_maps_and_matches_skimage():
    rng = np.random.default_rng(0)
    a, b = rng.random((16, 20)), rng.random((16, 20))
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, b) == pytest.approx(structural_similarity(a, b, data_range=1.0, win_size=7), abs=1e-12)
    assert ssim(a, b) < 0.5
    assert ssim(a.astype(np.float32), b) == pytest.approx(ssim(a.astype(np.float32).astype(np.float64), b), abs=1e-12)


@pytest.mark.parametrize("shape, window", [((6, 9), 5), ((5, 4), 3), ((3, 3), 3), ((7, 7), 7)])
def test_ssim_window_fits_small_maps(shape, window):
    rng = np.random.default_rng(1)
    a, b = rng.random(shape), rng.random(shape)
    assert ssim(a, b) == pytest.approx(structural_similarity(a, b, data_range=1.0, win_size=window), abs=1e-12)


def test_ssim_refuses_what_it_cannot_compare():
    ok = np.full((8, 8), 0.5)
    for a, b, message in [
        (ok, ok[:7], "same shape"),
        (ok[None], ok[None], "2-D"),
        (ok[:2], ok[:2], "too small"),
        (ok * 3, ok, r"\[0, 1\]"),
        (ok, -ok, r"\[0, 1\]"),
        (np.where(ok > 0, np.nan, 0), ok, r"\[0, 1\]"),
    ]:
        with pytest.raises(ValueError, match=message):
            ssim(a, b)
