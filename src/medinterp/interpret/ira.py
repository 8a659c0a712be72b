"""Otsu masks and the Interpretable Region Accuracy (IRA) of the paper's section 4.3.

For one image correctly classified as malignant, with its Grad-CAM heatmap
(:mod:`medinterp.interpret.gradcam`) at the image's full size:

- mask: the pixels whose heatmap value is strictly greater than Otsu's threshold, computed by
  ``skimage.filters.threshold_otsu`` (256 bins) over the whole heatmap (``value > threshold``, as
  scikit-image's own examples do; a pixel equal to the threshold is outside);
- points: the annotation points of the chosen classes (``tumor`` by default: a param), each in the
  pixel that contains it: column ``floor(x * width)``, row ``floor(y * height)``, clipped to the last
  column or row for ``x = 1`` or ``y = 1``;
- IRA of the image: the share of its points whose pixel is in the mask, in [0, 1];
- baseline: the mask's area fraction (masked pixels / all pixels). A heatmap that knows nothing of
  the points, or points scattered without regard to the heatmap, put on average that share of the
  points inside, so a model that looks at the annotated tumour cells scores above it;
- a constant heatmap (an all-zero Grad-CAM map: no position speaks for the class) has no Otsu
  threshold: the image is flagged ``constant`` and, by the ``constant_heatmap`` policy, either counts
  with IRA 0 and an empty mask (``zero``: the model pointed at nothing) or is left out of the
  summaries (``skip``); it is counted either way;
- an image with none of the chosen points has no IRA; it is left out and counted.

Summaries over the images that have an IRA: IRA = mean, SD-IRA = population standard deviation
(``ddof=0``: the spread of these images, not an estimate for others), IRM = median, and the mean
area fraction of their masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.filters import threshold_otsu

from medinterp.errors import ConfigError

CONSTANT_POLICIES = ("zero", "skip")


@dataclass(frozen=True)
class ImageIRA:
    points: int
    inside: int
    ira: float | None  # None: no IRA (no points, or a skipped constant heatmap)
    mask_area: float | None  # share of the image's pixels in the mask
    threshold: float | None  # Otsu's threshold; None for a constant heatmap
    constant: bool


def otsu_mask(heatmap: np.ndarray) -> tuple[np.ndarray, float | None]:
    """``heatmap > threshold_otsu(heatmap)`` and the threshold.

    An empty mask and ``None`` when the heatmap is constant.
    """
    heatmap = np.asarray(heatmap)
    if heatmap.min() == heatmap.max():
        return np.zeros(heatmap.shape, dtype=bool), None
    threshold = float(threshold_otsu(heatmap))
    return heatmap > threshold, threshold


def point_pixels(points: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the pixels holding normalised ``(x, y)`` points (``(n, 2)``, values in [0, 1])."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    cols = np.minimum(np.floor(points[:, 0] * width).astype(np.int64), width - 1)
    rows = np.minimum(np.floor(points[:, 1] * height).astype(np.int64), height - 1)
    return rows, cols


def inside_mask(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Per normalised point, whether its pixel is in ``mask``."""
    rows, cols = point_pixels(points, *mask.shape)
    return mask[rows, cols]


def image_ira(heatmap: np.ndarray, points: np.ndarray, constant_heatmap: str = "zero") -> ImageIRA:
    """The IRA of one image from its full-size heatmap and its normalised points."""
    if constant_heatmap not in CONSTANT_POLICIES:
        raise ConfigError(f"constant_heatmap is '{constant_heatmap}', expected one of {list(CONSTANT_POLICIES)}")
    mask, threshold = otsu_mask(heatmap)
    constant = threshold is None
    flags = inside_mask(mask, points)
    count, inside = len(flags), int(flags.sum())
    if constant and constant_heatmap == "skip":
        return ImageIRA(count, inside, None, None, None, True)
    ira = inside / count if count else None
    return ImageIRA(count, inside, ira, float(mask.mean()), threshold, constant)


def summarise(results: list[ImageIRA]) -> dict:
    """IRA (mean), SD-IRA (population SD), IRM (median) and the mean mask area over images with an IRA."""
    scored = [r for r in results if r.ira is not None]
    iras = np.array([r.ira for r in scored], dtype=np.float64)
    return {
        "ira": float(iras.mean()) if len(iras) else None,
        "sd_ira": float(iras.std(ddof=0)) if len(iras) else None,
        "irm": float(np.median(iras)) if len(iras) else None,
        "mask_area": float(np.mean([r.mask_area for r in scored])) if scored else None,
        "images_evaluated": len(scored),
        "images_constant_heatmap": sum(r.constant for r in results),
        "images_without_points": sum(r.points == 0 for r in results),
    }
