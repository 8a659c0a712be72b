"""Localisation metrics: against Quantus on hand-built batches, point discs against brute force, images by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import quantus

from medinterp.errors import ConfigError
from medinterp.interpret import localisation
from medinterp.interpret.localisation import (
    ImageLocalisation,
    ira_lift,
    localise,
    point_discs,
    pointing_game,
    relevance_mass_accuracy,
    summarise,
    top_k_intersection,
)

QUANTUS_OPTIONS = dict(normalise=False, abs=False, disable_warnings=True)


def _batch(seed=0, n=6, height=12, width=15):
    """Random non-negative heatmaps without ties and random non-empty masks of varied density, (n, 1, h, w)."""
    rng = np.random.default_rng(seed)
    heatmaps = rng.random((n, 1, height, width))
    masks = rng.random((n, 1, height, width)) < np.linspace(0.02, 0.9, n)[:, None, None, None]
    masks[:, 0, 0, 0] |= ~masks.reshape(n, -1).any(axis=1)
    return heatmaps, masks


# --- against Quantus ---------------------------------------------------------------------------------------------


def test_pointing_game_matches_quantus_including_plateau_maxima():
    heatmaps, masks = _batch(seed=1, n=8)
    top = heatmaps.reshape(8, -1).argmax(axis=1)
    masks[0].flat[top[0]] = True  # a sure hit
    masks[1].flat[top[1]] = False  # a sure miss
    # Plateau maxima: three pixels hold the maximum; the mask holds only the last of them (a hit via any
    # maximum) or none of them (a miss).
    for i, last_in in ((2, True), (3, False)):
        heatmaps[i, 0, 1, 2] = heatmaps[i, 0, 5, 7] = heatmaps[i, 0, 11, 14] = 2.0
        masks[i, 0, 1, 2] = masks[i, 0, 5, 7] = False
        masks[i, 0, 11, 14] = last_in
    masks[3, 0, 0, 0] = True  # keep it non-empty
    metric = quantus.PointingGame(weighted=False, **QUANTUS_OPTIONS)
    expected = metric.evaluate_batch(a_batch=heatmaps, s_batch=masks)
    ours = [pointing_game(h[0], m[0]) for h, m in zip(heatmaps, masks)]
    assert ours == [float(e) for e in expected]
    assert ours[:4] == [1.0, 0.0, 1.0, 0.0]


def test_relevance_mass_accuracy_matches_quantus():
    heatmaps, masks = _batch(seed=2)
    heatmaps[2] = np.maximum(heatmaps[2] - 0.5, 0)  # a ReLU'd map with many zeros
    metric = quantus.RelevanceMassAccuracy(**QUANTUS_OPTIONS)
    expected = metric.evaluate_batch(a_batch=heatmaps, s_batch=masks)
    ours = np.array([relevance_mass_accuracy(h[0], m[0]) for h, m in zip(heatmaps, masks)])
    assert len(set(np.round(ours, 6))) == len(ours)  # the cases differ
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [1, 5, 37, 180])
def test_top_k_intersection_matches_quantus(k):
    heatmaps, masks = _batch(seed=3)
    metric = quantus.TopKIntersection(k=k, concept_influence=False, **QUANTUS_OPTIONS)
    expected = metric.evaluate_batch(a_batch=heatmaps, s_batch=masks)
    ours = np.array([top_k_intersection(h[0], m[0], k) for h, m in zip(heatmaps, masks)])
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
    if k == 180:  # every pixel: the mask's area fraction
        np.testing.assert_allclose(ours, masks.reshape(6, -1).mean(axis=1), rtol=0, atol=1e-12)


def test_empty_mask_gives_none():
    heatmap, empty = np.random.default_rng(4).random((5, 6)), np.zeros((5, 6), dtype=bool)
    assert pointing_game(heatmap, empty) is None
    assert relevance_mass_accuracy(heatmap, empty) is None
    assert top_k_intersection(heatmap, empty, 3) is None


def test_top_k_ties_follow_row_major_order_and_zero_mass_gives_zero():
    heatmap = np.zeros((3, 3))
    heatmap[2, 2] = 1.0
    first, second = np.zeros((3, 3), dtype=bool), np.zeros((3, 3), dtype=bool)
    first[[0, 2], [0, 2]] = True  # (0, 0): the first of the tied zeros
    second[[0, 2], [1, 2]] = True  # (0, 1): the second
    assert top_k_intersection(heatmap, first, 2) == 1.0
    assert top_k_intersection(heatmap, second, 2) == 0.5
    assert top_k_intersection(heatmap, second, 3) == pytest.approx(2 / 3)  # (2, 2), (0, 0), (0, 1)
    assert relevance_mass_accuracy(np.zeros((3, 3)), first) == 0.0
    # Masks may be numeric 0/1 (or 0/255).
    assert top_k_intersection(heatmap, first.astype(np.uint8) * 255, 2) == 1.0


# --- point discs -------------------------------------------------------------------------------------------------


def _brute_discs(points, height, width, radius):
    out = np.zeros((height, width), dtype=bool)
    rr, cc = np.mgrid[:height, :width]
    for x, y in np.asarray(points, dtype=np.float64).reshape(-1, 2):
        r0, c0 = min(math.floor(y * height), height - 1), min(math.floor(x * width), width - 1)
        out |= (rr - r0) ** 2 + (cc - c0) ** 2 <= radius**2
    return out


@pytest.mark.parametrize("method", ["stamp", "distance_transform"])
@pytest.mark.parametrize("radius", [0, 1, 1.5, 2, 2.9, 7, 40])
def test_point_discs_match_brute_force(monkeypatch, method, radius):
    monkeypatch.setattr(localisation, "_STAMP_LIMIT", math.inf if method == "stamp" else 0)
    rng = np.random.default_rng(5)
    edges = [[1.0, 0.3], [0.4, 1.0], [1.0, 1.0], [0.0, 0.0], [0.0, 1.0], [0.999, 0.001]]
    points = np.concatenate([rng.random((25, 2)), edges, rng.random((3, 2))[[0, 0]]])  # a duplicated point
    height, width = 23, 31
    discs = point_discs(points, height, width, radius)
    assert discs.dtype == bool and discs.shape == (height, width)
    np.testing.assert_array_equal(discs, _brute_discs(points, height, width, radius))


def test_point_discs_radius_zero_and_no_points():
    discs = point_discs([[1.0, 1.0], [0.0, 0.0], [0.5, 0.25]], 4, 6, 0)
    expected = np.zeros((4, 6), dtype=bool)
    expected[[3, 0, 1], [5, 0, 3]] = True
    np.testing.assert_array_equal(discs, expected)
    assert not point_discs(np.zeros((0, 2)), 4, 6, 3).any()


def test_point_discs_default_switch_matches_brute_force():
    """Many large discs on a small image take the distance-transform branch under the default limit."""
    points = np.random.default_rng(6).random((150, 2))
    np.testing.assert_array_equal(point_discs(points, 9, 11, 12), _brute_discs(points, 9, 11, 12))
    np.testing.assert_array_equal(point_discs(points, 9, 11, 3.5), _brute_discs(points, 9, 11, 3.5))


# --- one image and the summary, by hand --------------------------------------------------------------------------


def _image_a():
    """10x10: zeros, a 2x3 block of 9 at rows 2-3, cols 2-4, its peak 10 at (2, 3); points at (2, 3) and (8, 8)."""
    heatmap = np.zeros((10, 10))
    heatmap[2:4, 2:5] = 9.0
    heatmap[2, 3] = 10.0
    return heatmap, np.array([[0.35, 0.25], [0.85, 0.85]])


def _image_b():
    """10x10: left half 1, right half 0; one point at (0, 0)."""
    heatmap = np.zeros((10, 10))
    heatmap[:, :5] = 1.0
    return heatmap, np.array([[0.05, 0.05]])


def test_localise_by_hand():
    heatmap, points = _image_a()
    # Otsu mask = the 6 block pixels: IRA 1/2, area 0.06. Radius 1: a plus around (2, 3) and one around (8, 8).
    # Mass in the discs: (2, 2) 9 + (2, 3) 10 + (2, 4) 9 + (3, 3) 9 + (1, 3) 0 = 37 of 55. Top 6 = the block,
    # 4 of its pixels in the plus.
    result = localise(heatmap, points, radius=1, k=6)
    assert result == ImageLocalisation(
        ira=0.5,
        mask_area=0.06,
        ira_lift=pytest.approx(0.5 / 0.06),
        pointing_game=1.0,
        relevance_mass_accuracy=pytest.approx(37 / 55),
        top_k_intersection=pytest.approx(4 / 6),
        points=2,
        constant=False,
    )
    # Radius 0: only the two point pixels; top 8 = the block then the zeros (0, 0), (0, 1).
    result = localise(heatmap, points, radius=0, k=8)
    assert (result.pointing_game, result.relevance_mass_accuracy, result.top_k_intersection) == (1.0, 10 / 55, 1 / 8)
    # The peak moved outside the discs: a miss.
    moved = heatmap.copy()
    moved[2, 3], moved[3, 4] = 9.0, 10.0
    assert localise(moved, points, radius=1, k=6).pointing_game == 0.0

    heatmap, points = _image_b()
    # Mask = left half (area 0.5), IRA 1. Disc of radius 1 around (0, 0), clipped: (0, 0), (0, 1), (1, 0): a
    # plateau maximum hit, mass 3 of 50; top 6 in row-major order: (0, 0)..(0, 4), (1, 0), 3 in the disc.
    result = localise(heatmap, points, radius=1, k=6)
    assert result == ImageLocalisation(1.0, 0.5, 2.0, 1.0, pytest.approx(0.06), 0.5, 1, False)


def test_localise_constant_heatmap_and_no_points():
    flat, points = np.zeros((10, 10)), _image_a()[1]
    assert localise(flat, points, 2, 5, "zero") == ImageLocalisation(0.0, 0.0, None, 0.0, 0.0, 0.0, 2, True)
    assert localise(np.full((10, 10), 3.0), points, 2, 5, "skip") == ImageLocalisation(
        None, None, None, None, None, None, 2, True
    )
    heatmap = _image_a()[0]
    result = localise(heatmap, np.zeros((0, 2)), 2, 5)
    assert result == ImageLocalisation(None, 0.06, None, None, None, None, 0, False)
    assert localise(flat, [], 2, 5, "zero").ira is None
    with pytest.raises(ConfigError):
        localise(heatmap, points, 2, 5, "ignore")


def test_summarise_by_hand():
    (heat_a, points_a), (heat_b, points_b) = _image_a(), _image_b()
    flat = np.zeros((10, 10))

    def results(policy):
        return [
            localise(heat_a, points_a, 1, 6, policy),
            localise(heat_b, points_b, 1, 6, policy),
            localise(flat, points_b, 1, 6, policy),
            localise(heat_a, [], 1, 6, policy),
        ]

    summary = summarise(results("zero"))
    assert summary == {
        "ira": pytest.approx(0.5),
        "sd_ira": pytest.approx(math.sqrt(1 / 6)),
        "irm": pytest.approx(0.5),
        "mask_area": pytest.approx(0.56 / 3),
        "ira_lift": pytest.approx(0.5 / (0.56 / 3)),  # ratio of the means
        "pointing_game": pytest.approx(2 / 3),
        "relevance_mass_accuracy": pytest.approx((37 / 55 + 0.06) / 3),
        "top_k_intersection": pytest.approx((4 / 6 + 0.5) / 3),
        "images_evaluated": 3,
        "images_constant_heatmap": 1,
        "images_without_points": 1,
    }
    per_image = [r.ira_lift for r in results("zero") if r.ira_lift is not None]
    assert summary["ira_lift"] != pytest.approx(np.mean(per_image))  # not the mean of per-image lifts

    summary = summarise(results("skip"))
    assert summary["ira"] == pytest.approx(0.75) and summary["sd_ira"] == pytest.approx(0.25)
    assert summary["ira_lift"] == pytest.approx(0.75 / 0.28)
    assert summary["pointing_game"] == 1.0
    assert (summary["images_evaluated"], summary["images_constant_heatmap"], summary["images_without_points"]) == (
        2,
        1,
        1,
    )

    empty = summarise([localise(heat_a, [], 1, 6)])
    assert all(empty[key] is None for key in empty if not key.startswith("images_"))
    assert (empty["images_evaluated"], empty["images_without_points"]) == (0, 1)
    assert summarise([])["ira_lift"] is None


def test_ira_lift():
    assert ira_lift(0.5, 0.25) == 2.0
    assert ira_lift(None, 0.25) is None and ira_lift(0.5, None) is None and ira_lift(0.0, 0.0) is None


# --- bad inputs --------------------------------------------------------------------------------------------------


def test_bad_inputs_raise_value_errors():
    heatmap, mask = np.random.default_rng(7).random((4, 5)), np.ones((4, 5), dtype=bool)
    nan = heatmap.copy()
    nan[1, 1] = np.nan
    for metric in (pointing_game, relevance_mass_accuracy, lambda h, m: top_k_intersection(h, m, 2)):
        for bad_heatmap, bad_mask in ((heatmap[None], mask), (nan, mask), (heatmap, mask[:3]), (heatmap, mask.T)):
            with pytest.raises(ValueError):
                metric(bad_heatmap, bad_mask)
    for k in (0, 21, -1, 2.0, True):
        with pytest.raises(ValueError, match="k must"):
            top_k_intersection(heatmap, mask, k)
        with pytest.raises(ValueError, match="k must"):
            localise(heatmap, [[0.5, 0.5]], 1, k)
    assert top_k_intersection(heatmap, mask, 20) == 1.0
    with pytest.raises(ValueError, match="radius"):
        point_discs([[0.5, 0.5]], 4, 5, -1)
    with pytest.raises(ValueError, match="radius"):
        localise(heatmap, [[0.5, 0.5]], -0.5, 2)
    with pytest.raises(ValueError, match="2-D"):
        localise(heatmap[None], [[0.5, 0.5]], 1, 2)
    with pytest.raises(ValueError, match="finite"):
        localise(nan, [[0.5, 0.5]], 1, 2)
    with pytest.raises(ValueError, match="points"):
        point_discs([[0.5, 1.5]], 4, 5, 1)


@pytest.mark.parametrize("k", [1, 7, 1000, 5000, 64 * 96])
def test_top_k_by_selection_is_the_first_k_of_a_stable_sort(k):
    """Many ties (a heatmap of 20 levels): the selection keeps the tied pixels in row-major order, as a stable sort."""
    rng = np.random.default_rng(k)
    heatmap = np.round(rng.random((64, 96)) * 20) / 20
    mask = rng.random((64, 96)) < 0.1
    reference = mask.ravel()[np.argsort(-heatmap.ravel(), kind="stable")[:k]].mean()
    assert top_k_intersection(heatmap, mask, k) == reference
