"""Localisation metrics of a heatmap against annotation points: IRA lift, pointing game, relevance mass, top-k.

Conventions (as in :mod:`medinterp.interpret.ira`): a heatmap is a 2-D array at the image's full size
(``(height, width)``), finite and expected non-negative (a Grad-CAM map after its ReLU; the metrics are
computed as defined whatever the sign, but relevance mass is only a share for a non-negative map);
points are normalised ``(x, y)`` in [0, 1], ``(n, 2)``, each in the pixel given by
:func:`medinterp.interpret.ira.point_pixels` (column ``floor(x * width)``, row ``floor(y * height)``,
clipped to the last column or row). A mask is a boolean array of the heatmap's shape.

The ground-truth region for the last three metrics is :func:`point_discs`: the union of the discs of
``radius`` pixels around the points' pixels (pixel ``(r, c)`` is in the disc around ``(r0, c0)`` when
``(r - r0)**2 + (c - c0)**2 <= radius**2``; radius 0 is the point pixels themselves).

- IRA (the paper's section 4.3, :func:`medinterp.interpret.ira.image_ira`): share of the points whose pixel is
  in the heatmap's Otsu mask; ``mask_area`` is that mask's area fraction, what a map placed at random would put
  inside on average; ``ira_lift`` = IRA / mask area (> 1: better than chance).
- Pointing game (Zhang et al. 2018, "Top-down neural attention by excitation backprop", IJCV 126):
  1.0 if any pixel holding the heatmap's maximum lies in the mask, else 0.0. Same as
  ``quantus.PointingGame(weighted=False)``, except for an empty mask: None here, whereas Quantus 0.6.0
  writes ``np.nan`` into a boolean array, which turns into ``True`` (a hit).
- Relevance mass accuracy (Arras et al. 2022, "CLEVR-XAI: a benchmark dataset for the ground truth evaluation
  of neural network explanations", Information Fusion 81): sum of the heatmap inside the mask / sum of the
  heatmap. A heatmap summing to 0 gives 0.0 (Quantus gives nan: 0 / 0).
- Top-k intersection (Theiner et al. 2021, "Interpretable semantic photo geolocalization", as Quantus's
  ``TopKIntersection(concept_influence=False)``): share of the ``k`` highest pixels that lie in the mask. Ties
  are broken by row-major pixel order (a stable sort of ``-heatmap``: the earlier pixel ranks higher);
  Quantus's ``np.argsort`` is not stable, so on ties the two may differ.

All three return None for an empty mask (Quantus: nan). Unlike Quantus, nothing here normalises the heatmap or
takes its absolute value (Quantus's ``normalise=True``/``abs=True`` defaults); none of the three depends on a
positive rescaling of the map anyway.

A constant heatmap (``min == max``, e.g. an all-zero CAM) has no Otsu mask and follows the IRA's
``constant_heatmap`` policy: ``zero`` scores every metric 0.0 (the map pointed at nothing; Quantus would call a
constant map a pointing-game hit, since every pixel holds its maximum), ``skip`` leaves every metric None.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medinterp.interpret import ira as ira_module

# Stamping discs costs in proportion to the disc pixels written, one Euclidean distance transform of the whole
# image in proportion to the image's pixels but a couple of hundred times more per pixel: past this many image
# sizes of disc pixels, the transform is the cheaper and is used.
_STAMP_LIMIT = 100


@dataclass(frozen=True)
class ImageLocalisation:
    ira: float | None  # share of the points in the Otsu mask
    mask_area: float | None  # Otsu mask's area fraction
    ira_lift: float | None  # ira / mask_area
    pointing_game: float | None  # 1.0 / 0.0 against the point discs
    relevance_mass_accuracy: float | None  # heatmap mass in the point discs / total mass
    top_k_intersection: float | None  # share of the k highest pixels in the point discs
    points: int
    constant: bool


def _heatmap(heatmap) -> np.ndarray:
    heatmap = np.asarray(heatmap)
    if heatmap.ndim != 2:
        raise ValueError(f"heatmap must be 2-D (height, width), got shape {heatmap.shape}")
    if heatmap.dtype == bool or not (
        np.issubdtype(heatmap.dtype, np.integer) or np.issubdtype(heatmap.dtype, np.floating)
    ):
        raise ValueError(f"heatmap must hold real numbers, got dtype {heatmap.dtype}")
    heatmap = heatmap.astype(np.float64, copy=False)
    if heatmap.size == 0 or not np.isfinite(heatmap).all():
        raise ValueError("heatmap must be non-empty and finite (no NaN or inf)")
    return heatmap


def _mask(mask, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"mask has shape {mask.shape}, expected the heatmap's {shape}")
    if mask.dtype != bool:
        if not (np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
            raise ValueError(f"mask must be boolean or numeric, got dtype {mask.dtype}")
        if not np.isfinite(mask).all():
            raise ValueError("mask must be finite (no NaN or inf)")
    return mask.astype(bool, copy=False)


def _radius(radius) -> float:
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real) or not np.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a finite number >= 0, got {radius!r}")
    return radius


def _k(k, size: int) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ValueError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= size:
        raise ValueError(f"k must be in 1..{size} (the heatmap's pixel count), got {k}")
    return int(k)


def _points(points) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.size == 0:
        return points.reshape(0, 2)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be (n, 2) normalised (x, y), got shape {points.shape}")
    if not (np.isfinite(points).all() and (points >= 0).all() and (points <= 1).all()):
        raise ValueError("points must be normalised (x, y) in [0, 1]")
    return points


def point_discs(points, height: int, width: int, radius) -> np.ndarray:
    """Boolean ``(height, width)``: the union of the discs of ``radius`` pixels around the points' pixels.

    Pixel ``(r, c)`` is in the disc around ``(r0, c0)`` when ``(r - r0)**2 + (c - c0)**2 <= radius**2``. One disc
    footprint is or-ed into the image per distinct point pixel, which costs in proportion to the discs' area;
    when the discs would cover the image a hundred times over (thousands of large discs), one exact Euclidean
    distance transform (:func:`scipy.ndimage.distance_transform_edt`) is used.
    """
    for name, n in (("height", height), ("width", width)):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")
    radius = _radius(radius)
    rows, cols = ira_module.point_pixels(_points(points), height, width)
    out = np.zeros((height, width), dtype=bool)
    if len(rows) == 0:
        return out
    centres = np.unique(np.stack([rows, cols], axis=1), axis=0)
    reach = int(np.floor(radius))
    if len(centres) * min((2 * reach + 1) ** 2, height * width) > _STAMP_LIMIT * height * width:
        seeds = np.ones((height, width), dtype=bool)
        seeds[centres[:, 0], centres[:, 1]] = False
        distance = ndimage.distance_transform_edt(seeds)
        # The squared distances are integers below 2**50: rounding the squared float recovers them exactly.
        return np.rint(distance * distance) <= radius**2
    dy, dx = np.ogrid[-reach : reach + 1, -reach : reach + 1]
    footprint = dy * dy + dx * dx <= radius**2
    for r0, c0 in centres:
        top, bottom = max(r0 - reach, 0), min(r0 + reach + 1, height)
        left, right = max(c0 - reach, 0), min(c0 + reach + 1, width)
        out[top:bottom, left:right] |= footprint[
            top - r0 + reach : bottom - r0 + reach, left - c0 + reach : right - c0 + reach
        ]
    return out


def pointing_game(heatmap, mask) -> float | None:
    """1.0 if any pixel holding the heatmap's maximum is in ``mask``, else 0.0; None for an empty mask."""
    heatmap = _heatmap(heatmap)
    mask = _mask(mask, heatmap.shape)
    if not mask.any():
        return None
    return float(bool((heatmap[mask] == heatmap.max()).any()))


def relevance_mass_accuracy(heatmap, mask) -> float | None:
    """Heatmap mass inside ``mask`` / total mass; None for an empty mask, 0.0 for a heatmap summing to 0."""
    heatmap = _heatmap(heatmap)
    mask = _mask(mask, heatmap.shape)
    if not mask.any():
        return None
    total = heatmap.sum()
    if total == 0:
        return 0.0
    return float(heatmap[mask].sum() / total)


def top_k_intersection(heatmap, mask, k: int) -> float | None:
    """Share of the ``k`` highest pixels in ``mask`` (ties: row-major order); None for an empty mask."""
    heatmap = _heatmap(heatmap)
    mask = _mask(mask, heatmap.shape)
    k = _k(k, heatmap.size)
    if not mask.any():
        return None
    # The first k of a stable sort of -heatmap, found by selection in O(n) instead of a full sort: every
    # pixel above the k-th highest value, then the pixels equal to it in row-major order.
    flat, inside = heatmap.ravel(), mask.ravel()
    kth = np.partition(flat, flat.size - k)[flat.size - k]
    above = flat > kth
    ties = np.flatnonzero(flat == kth)[: k - int(above.sum())]
    return float((inside[above].sum() + inside[ties].sum()) / k)


def ira_lift(ira: float | None, mask_area: float | None) -> float | None:
    """IRA / the Otsu mask's area fraction (the IRA a randomly placed map gets on average); None if undefined."""
    if ira is None or mask_area is None or mask_area == 0:
        return None
    return float(ira / mask_area)


def localise(heatmap, points, radius, k: int, constant_heatmap: str = "zero") -> ImageLocalisation:
    """Every metric for one image: IRA against the Otsu mask, the others against :func:`point_discs`.

    No points: every metric None (``mask_area`` is still reported as :func:`~medinterp.interpret.ira.image_ira`
    gives it). A constant heatmap under ``zero``: IRA, pointing game, relevance mass and top-k 0.0, mask area 0.0
    and so ``ira_lift`` None (no mask to compare with); under ``skip``: all None.
    """
    heatmap = _heatmap(heatmap)
    radius = _radius(radius)
    k = _k(k, heatmap.size)
    points = _points(points)
    image = ira_module.image_ira(heatmap, points, constant_heatmap)
    none = dict(pointing_game=None, relevance_mass_accuracy=None, top_k_intersection=None)
    if image.ira is None:  # no points, or a skipped constant heatmap
        return ImageLocalisation(None, image.mask_area, None, **none, points=image.points, constant=image.constant)
    if image.constant:  # the "zero" policy
        zero = dict(pointing_game=0.0, relevance_mass_accuracy=0.0, top_k_intersection=0.0)
        return ImageLocalisation(
            image.ira, image.mask_area, ira_lift(image.ira, image.mask_area), **zero, points=image.points, constant=True
        )
    discs = point_discs(points, *heatmap.shape, radius)
    return ImageLocalisation(
        ira=image.ira,
        mask_area=image.mask_area,
        ira_lift=ira_lift(image.ira, image.mask_area),
        pointing_game=pointing_game(heatmap, discs),
        relevance_mass_accuracy=relevance_mass_accuracy(heatmap, discs),
        top_k_intersection=top_k_intersection(heatmap, discs, k),
        points=image.points,
        constant=False,
    )


def summarise(results: list[ImageLocalisation]) -> dict:
    """Means over the images with an IRA, plus :func:`medinterp.interpret.ira.summarise`'s IRA, SD-IRA and IRM.

    ``ira_lift`` is the ratio of the means, mean IRA / mean mask area, not the mean of per-image lifts: those blow
    up on images with tiny masks. Every value is None when no image is scored.
    """
    summary = ira_module.summarise(results)  # reads .ira, .mask_area, .constant, .points: shared with ImageIRA
    scored = [r for r in results if r.ira is not None]

    def mean(name):
        return float(np.mean([getattr(r, name) for r in scored])) if scored else None

    return {
        "ira": summary["ira"],
        "sd_ira": summary["sd_ira"],
        "irm": summary["irm"],
        "mask_area": summary["mask_area"],
        "ira_lift": ira_lift(summary["ira"], summary["mask_area"]),
        "pointing_game": mean("pointing_game"),
        "relevance_mass_accuracy": mean("relevance_mass_accuracy"),
        "top_k_intersection": mean("top_k_intersection"),
        "images_evaluated": summary["images_evaluated"],
        "images_constant_heatmap": summary["images_constant_heatmap"],
        "images_without_points": summary["images_without_points"],
    }
