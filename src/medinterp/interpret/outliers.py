"""Z-score outlier images (thesis section 5.5, Fig. 17).

1. Per colour channel, the mean and the standard deviation of the pixel values over every pixel of
   every image of the set (the population standard deviation: the square root of the mean squared
   difference, as the thesis describes it).
2. Per pixel and channel, ``z = (value - mean[channel]) / std[channel]``.
3. A pixel is an outlier pixel when ``|z| > threshold`` (2.0) in any of its channels.
4. An image is an outlier when its share of outlier pixels exceeds ``min_share``.

The thesis keeps an image "if any high z-score pixels are found", which is ``min_share = 0``. On
natural images that flags nearly every image (about 5% of a normal channel lies beyond 2 standard
deviations; on the bundled sample it flags all of them), so ``min_share`` is a param and every
image's share is reported, whichever rule marks it.

For a figure, :func:`panels` gives Fig. 17's three pictures of an image: the original, its z-score
image (the largest ``|z|`` over the channels per pixel) and the original with its outlier pixels
painted blue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

BLUE = np.array([0, 0, 255], dtype=np.uint8)


@dataclass(frozen=True)
class ChannelStats:
    mean: np.ndarray  # (3,)
    std: np.ndarray  # (3,)

    def zscores(self, images: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3)`` z-scores of the pixel values (same units as the statistics)."""
        return ((np.asarray(images, dtype=np.float64) - self.mean) / self.std).astype(np.float32)


def channel_stats(images: np.ndarray, chunk: int = 256) -> ChannelStats:
    """Per-channel mean and population standard deviation over every pixel of ``images``, in two
    passes of ``chunk`` images (the arrays may be memory-mapped and large)."""
    if len(images) == 0:
        raise ValueError("no images to compute channel statistics over")
    count = len(images) * images.shape[1] * images.shape[2]
    total = np.zeros(3)
    for start in range(0, len(images), chunk):
        total += np.asarray(images[start : start + chunk], dtype=np.float64).sum(axis=(0, 1, 2))
    mean = total / count
    squares = np.zeros(3)
    for start in range(0, len(images), chunk):
        squares += ((np.asarray(images[start : start + chunk], dtype=np.float64) - mean) ** 2).sum(axis=(0, 1, 2))
    std = np.sqrt(squares / count)
    if np.any(std == 0):
        raise ValueError(f"a colour channel is constant over the images (std {std.tolist()}): z-scores are undefined")
    return ChannelStats(mean, std)


def outlier_pixels(z: np.ndarray, threshold: float) -> np.ndarray:
    """``(..., H, W)`` booleans: some channel's ``|z|`` exceeds ``threshold``."""
    return (np.abs(z) > threshold).any(axis=-1)


def outlier_shares(images: np.ndarray, stats: ChannelStats, threshold: float, chunk: int = 256) -> np.ndarray:
    """Per image, the share of its pixels that are outlier pixels, ``(N,)``."""
    shares = [
        outlier_pixels(stats.zscores(images[start : start + chunk]), threshold).mean(axis=(1, 2))
        for start in range(0, len(images), chunk)
    ]
    return np.concatenate(shares) if shares else np.zeros(0)


def outlier_table(
    images: np.ndarray, names: Sequence[str], threshold: float, min_share: float, stats: ChannelStats | None = None
) -> pd.DataFrame:
    """One row per image: ``image, outlier_share, outlier`` (``outlier_share > min_share``), in the
    given order. The statistics are the images' own unless ``stats`` is given."""
    if len(names) != len(images):
        raise ValueError(f"{len(images)} images but {len(names)} names")
    shares = outlier_shares(images, stats or channel_stats(images), threshold)
    return pd.DataFrame({"image": list(names), "outlier_share": shares, "outlier": shares > min_share})


@dataclass(frozen=True)
class Panels:
    original: np.ndarray  # (H, W, 3) as given
    zmax: np.ndarray  # (H, W) largest |z| over the channels
    marked: np.ndarray  # (H, W, 3) uint8: the original, outlier pixels blue


def panels(image: np.ndarray, stats: ChannelStats, threshold: float) -> Panels:
    """Fig. 17's three pictures of one ``uint8`` image."""
    z = stats.zscores(image[None])[0]
    marked = np.array(image, dtype=np.uint8, copy=True)
    marked[outlier_pixels(z, threshold)] = BLUE
    return Panels(np.asarray(image), np.abs(z).max(axis=-1), marked)
