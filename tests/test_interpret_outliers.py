"""Z-score outliers on images whose statistics are known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medinterp.interpret.outliers import BLUE, channel_stats, outlier_table, panels


def constructed_images() -> np.ndarray:
    """Four 5x5 images (100 pixels per channel), every value 100 except, per channel, one 107 and
    one 93: mean 100, population std sqrt(98 / 100), so those two pixels have |z| = 7.07.
    Channels 0 and 2 have them in image 2 at (1, 1) and (3, 4); channel 1 in image 3 at (0, 0) and (4, 4)."""
    images = np.full((4, 5, 5, 3), 100, dtype=np.uint8)
    images[2, 1, 1, [0, 2]] = 107
    images[2, 3, 4, [0, 2]] = 93
    images[3, 0, 0, 1] = 107
    images[3, 4, 4, 1] = 93
    return images


STD = math.sqrt(0.98)


def test_channel_statistics_are_the_population_ones():
    stats = channel_stats(constructed_images())
    np.testing.assert_allclose(stats.mean, [100, 100, 100])
    np.testing.assert_allclose(stats.std, [STD] * 3)
    chunked = channel_stats(constructed_images(), chunk=1)
    np.testing.assert_allclose(chunked.std, stats.std)


def test_an_image_with_any_outlier_pixel_is_an_outlier_at_min_share_zero():
    table = outlier_table(constructed_images(), ["a", "b", "c", "d"], threshold=2.0, min_share=0.0)
    assert table["image"].tolist() == ["a", "b", "c", "d"]
    assert table["outlier_share"].tolist() == pytest.approx([0, 0, 2 / 25, 2 / 25])
    assert table["outlier"].tolist() == [False, False, True, True]


def test_min_share_and_threshold_decide():
    images = constructed_images()
    assert not outlier_table(images, list("abcd"), threshold=2.0, min_share=0.1)["outlier"].any()
    assert outlier_table(images, list("abcd"), threshold=2.0, min_share=0.07)["outlier"].sum() == 2
    # |z| = 7 / sqrt(0.98) = 7.07: a threshold of 7.1 finds nothing, 7.0 finds both images.
    assert not outlier_table(images, list("abcd"), threshold=7.1, min_share=0.0)["outlier"].any()
    assert outlier_table(images, list("abcd"), threshold=7.0, min_share=0.0)["outlier"].sum() == 2


def test_z_scores_of_a_bright_image_against_the_set_statistics():
    stats = channel_stats(constructed_images())
    bright = np.full((1, 5, 5, 3), 100, dtype=np.uint8)
    bright[0, :2] = 102  # z = 2 / 0.99 = 2.02 in all channels: ten outlier pixels
    table = outlier_table(bright, ["bright"], threshold=2.0, min_share=0.0, stats=stats)
    assert table["outlier_share"].tolist() == pytest.approx([10 / 25])


def test_panels_paint_the_outlier_pixels_blue():
    images = constructed_images()
    stats = channel_stats(images)
    panel = panels(images[2], stats, threshold=2.0)
    blue = (panel.marked == BLUE).all(axis=-1)
    assert np.argwhere(blue).tolist() == [[1, 1], [3, 4]]
    untouched = ~blue
    np.testing.assert_array_equal(panel.marked[untouched], images[2][untouched])
    assert panel.zmax[1, 1] == pytest.approx(7 / STD, rel=1e-5)
    assert panel.zmax[0, 0] == 0
    np.testing.assert_array_equal(panel.original, images[2])


def test_constant_channel_is_refused():
    with pytest.raises(ValueError, match="constant"):
        channel_stats(np.full((2, 3, 3, 3), 5, dtype=np.uint8))
