"""One row of Table 2: a classifier's accuracy on BreCaHAD and its Grad-CAM / Otsu / IRA figures.

Every BreCaHAD image is malignant (label 1), so accuracy is the share with P(malignant) >= 0.5.
For each image classified correctly, Grad-CAM of the malignant logit at ``layer``
(:mod:`medinterp.interpret.gradcam`), resized to the image's original size, gives the Otsu mask and
the IRA (:mod:`medinterp.interpret.ira`). Works through any :class:`ModelAdapter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

from medinterp.evaluation.classification import binary_metrics
from medinterp.interpret import gradcam
from medinterp.interpret.adapter import ModelAdapter
from medinterp.interpret.ira import image_ira, inside_mask, otsu_mask, summarise

MALIGNANT = 1
THRESHOLD = 0.5


@dataclass
class RowResult:
    per_image: pd.DataFrame
    summary: dict
    probabilities: np.ndarray  # P(malignant) per image
    heatmaps: dict[int, np.ndarray] = field(default_factory=dict)  # image index -> full-size heatmap, for the overlays


def evaluate(
    adapter: ModelAdapter,
    images: np.ndarray,
    table: pd.DataFrame,
    points: list[np.ndarray],
    layer: str,
    constant_heatmap: str,
    keep_heatmaps: set[int] = frozenset(),
) -> RowResult:
    """``images``: float32 ``(N, S, S, 3)`` in [0, 1], row for row with ``table`` (``image``, ``label``,
    ``width``, ``height``) and ``points`` (normalised ``(n, 2)`` per image). ``adapter`` is a
    single-logit binary classifier: its class-1 score is the malignant logit."""
    # One pass gives every image's malignant logit and its Grad-CAM parts; only correct images use the latter.
    acts, grads, logits = adapter.gradcam_parts(images, layer, MALIGNANT)
    probability = expit(np.asarray(logits, dtype=np.float64))
    labels = table["label"].to_numpy()
    correct = (probability >= THRESHOLD) == (labels == MALIGNANT)
    explained = np.flatnonzero(correct & (labels == MALIGNANT))
    results, heatmaps = {}, {}
    if len(explained):
        for i, class_map in zip(explained, gradcam.class_maps(acts[explained], grads[explained])):
            heatmap = gradcam.heatmap(class_map, int(table["height"].iloc[i]), int(table["width"].iloc[i]))
            results[i] = image_ira(heatmap, points[i], constant_heatmap)
            if i in keep_heatmaps:
                heatmaps[i] = heatmap
    rows = []
    for i in range(len(table)):
        r = results.get(i)
        rows.append(
            {
                "image": table["image"].iloc[i],
                "correct": bool(correct[i]),
                "logit": float(logits[i]),
                "probability": float(probability[i]),
                "points": len(points[i]),
                "points_inside": None if r is None else r.inside,
                "ira": None if r is None else r.ira,
                "mask_area": None if r is None else r.mask_area,
                "otsu_threshold": None if r is None else r.threshold,
                "constant_heatmap": None if r is None else r.constant,
            }
        )
    summary = {
        "accuracy": binary_metrics(labels, probability, THRESHOLD)["accuracy"],
        "images": int(len(table)),
        "images_correct": int(correct.sum()),
        **summarise(list(results.values())),
    }
    return RowResult(pd.DataFrame(rows), summary, probability, heatmaps)


def mask_and_inside(heatmap: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Otsu mask of a heatmap and which points fall in it, for drawing."""
    mask, _ = otsu_mask(heatmap)
    return mask, inside_mask(mask, points)
