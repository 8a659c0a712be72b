"""Grad-CAM, Otsu masks and the IRA: every convention checked on hand-built examples and against scikit-image."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from skimage.filters import threshold_otsu

from medinterp.errors import ConfigError
from medinterp.interpret import gradcam
from medinterp.interpret.ira import image_ira, otsu_mask, point_pixels, summarise


def _bilinear_half_pixel(small: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reference resize: each output pixel centre mapped back to input coordinates, clamped at the edges."""
    h, w = small.shape

    def axis(n_out, n_in):
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(pos).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, pos - low

    r0, r1, fr = axis(height, h)
    c0, c1, fc = axis(width, w)
    top = small[r0][:, c0] * (1 - fc) + small[r0][:, c1] * fc
    bottom = small[r1][:, c0] * (1 - fc) + small[r1][:, c1] * fc
    return top * (1 - fr[:, None]) + bottom * fr[:, None]


def test_class_map_is_relu_of_gradient_weighted_activations():
    acts = np.array([[[[1.0, 2.0], [3.0, 4.0]], [[4.0, 0.0], [0.0, 1.0]]]])  # (1, 2, 2, 2)
    grads = np.array([[[[0.5, 0.5], [0.5, 0.5]], [[-1.0, -2.0], [-3.0, -2.0]]]])  # channel weights 0.5 and -2
    expected = np.maximum(0.5 * acts[0, 0] - 2.0 * acts[0, 1], 0)  # [[0, 1], [1.5, 0]]
    np.testing.assert_allclose(gradcam.class_maps(acts, grads)[0], expected)
    assert expected.tolist() == [[0.0, 1.0], [1.5, 0.0]]
    with pytest.raises(ValueError, match="same"):
        gradcam.class_maps(acts, grads[:, :1])


def test_heatmap_is_bilinear_with_aligned_centres_and_peak_one():
    small = np.array([[0.0, 1.0], [2.0, 4.0]])
    heat = gradcam.heatmap(small, 6, 10)
    reference = _bilinear_half_pixel(small, 6, 10)
    np.testing.assert_allclose(heat, reference / reference.max())
    assert heat.shape == (6, 10) and heat.max() == 1.0 and heat[0, 0] == 0.0
    assert np.all(gradcam.heatmap(np.zeros((2, 2)), 4, 4) == 0)  # no positive evidence stays all zero


@pytest.mark.parametrize("shape", [(4, 4, 1024, 1360), (7, 5, 13, 3), (1, 1, 5, 7), (3, 9, 9, 3), (4, 4, 4, 4)])
def test_heatmap_equals_skimage_bilinear_resize(shape):
    from skimage.transform import resize

    h, w, height, width = shape
    small = np.random.default_rng(h * w).random((h, w))
    reference = resize(small, (height, width), order=1, mode="edge", anti_aliasing=False, preserve_range=True)
    np.testing.assert_allclose(gradcam.heatmap(small, height, width), reference / reference.max(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="2-D"):
        gradcam.heatmap(small[None], height, width)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mask_is_skimage_otsu_strictly_above(seed):
    rng = np.random.default_rng(seed)
    heat = np.concatenate([rng.normal(0.2, 0.05, 600), rng.normal(0.7, 0.1, 400)]).reshape(25, 40)
    mask, threshold = otsu_mask(heat)
    assert threshold == threshold_otsu(heat)
    np.testing.assert_array_equal(mask, heat > threshold_otsu(heat))


def test_a_pixel_at_the_threshold_is_outside_the_mask(monkeypatch):
    monkeypatch.setattr("medinterp.interpret.ira.threshold_otsu", lambda image: 0.5)
    mask, threshold = otsu_mask(np.array([[0.2, 0.5], [0.5, 0.9]]))
    assert threshold == 0.5 and mask.tolist() == [[False, False], [False, True]]


def test_points_land_in_the_pixel_that_contains_them():
    rows, cols = point_pixels(np.array([[0.0, 0.0], [0.05, 0.5], [0.999, 0.3], [1.0, 1.0]]), height=10, width=20)
    assert cols.tolist() == [0, 1, 19, 19] and rows.tolist() == [0, 5, 3, 9]


def test_ira_by_hand():
    """A 10 x 20 heatmap hot in rows 2-5, columns 4-9; five points, three inside."""
    heat = np.full((10, 20), 0.1)
    heat[2:6, 4:10] = 1.0
    points = np.array(
        [
            [4 / 20, 2 / 10],  # top-left hot pixel: inside
            [9.99 / 20, 5.99 / 10],  # bottom-right hot pixel: inside
            [0.35, 0.45],  # column 7, row 4: inside
            [10 / 20, 3 / 10],  # column 10: just outside
            [1.0, 1.0],  # clipped to the last pixel: outside
        ]
    )
    result = image_ira(heat, points)
    assert (result.points, result.inside) == (5, 3)
    assert result.ira == pytest.approx(0.6)
    assert result.mask_area == pytest.approx(24 / 200)
    assert not result.constant and 0.1 < result.threshold < 1.0


def test_constant_heatmap_is_handled_by_policy_and_counted():
    points = np.array([[0.5, 0.5], [0.1, 0.1]])
    zero = image_ira(np.zeros((8, 8)), points, "zero")
    assert zero.constant and zero.threshold is None and zero.ira == 0.0 and zero.mask_area == 0.0
    skip = image_ira(np.full((8, 8), 0.3), points, "skip")
    assert skip.constant and skip.ira is None
    with pytest.raises(ConfigError, match="constant_heatmap"):
        image_ira(np.zeros((8, 8)), points, "ignore")
    hot = np.zeros((8, 8))
    hot[4:, 4:] = 1.0
    scored = image_ira(hot, points)
    assert scored.ira == 0.5
    summary = summarise([zero, skip, scored])
    assert summary["images_constant_heatmap"] == 2 and summary["images_evaluated"] == 2
    assert summary["ira"] == pytest.approx(0.25) and summary["mask_area"] == pytest.approx((0.0 + 16 / 64) / 2)


def test_summary_is_mean_population_sd_and_median():
    heat = np.zeros((10, 10))
    heat[:, :5] = 1.0  # left half is the mask
    left, right = [0.2, 0.5], [0.8, 0.5]
    cases = [[left, right, right, right, right], [left, left, left, right, right], [left] * 5]
    results = [image_ira(heat, np.array(p)) for p in cases] + [image_ira(heat, np.zeros((0, 2)))]
    iras = [0.2, 0.6, 1.0]
    summary = summarise(results)
    assert summary["ira"] == pytest.approx(statistics.fmean(iras))
    assert summary["sd_ira"] == pytest.approx(statistics.pstdev(iras))
    assert summary["irm"] == pytest.approx(statistics.median(iras))
    assert summary["mask_area"] == pytest.approx(0.5)
    assert summary["images_without_points"] == 1 and summary["images_evaluated"] == 3
    assert summarise([])["ira"] is None
