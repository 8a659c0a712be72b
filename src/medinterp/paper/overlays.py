"""Grad-CAM overlays in the style of the paper's Figs. 9-11: per BreCaHAD image, the image, its
heatmap over it, and its Otsu mask with the annotation points."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from medinterp.io import atomic_path
from medinterp.paper.evaluate import RowResult, mask_and_inside

DISPLAY_WIDTH = 340  # width at which BreCaHAD images are drawn (a quarter of 1360)


@dataclass
class OverlayPanel:
    """One BreCaHAD image of an overlay figure; ``heatmap`` and ``mask`` are ``None`` when misclassified."""

    name: str
    image: np.ndarray  # (H, W, 3) uint8, full size
    probability: float
    points: np.ndarray  # (n, 2) normalised (x, y)
    heatmap: np.ndarray | None = None  # (H, W) in [0, 1]
    mask: np.ndarray | None = None  # (H, W) bool
    inside: np.ndarray | None = None  # (n,) bool: each point's pixel is in the mask
    ira: float | None = None


def overlay_panels(
    result: RowResult, table: pd.DataFrame, points: list[np.ndarray], pictures: dict[int, np.ndarray]
) -> list[OverlayPanel]:
    """Panels for the test images ``pictures`` (index -> full-size image) from one row's evaluation."""
    panels = []
    for i, picture in pictures.items():
        panel = OverlayPanel(Path(table["image"].iloc[i]).name, picture, float(result.probabilities[i]), points[i])
        heatmap = result.heatmaps.get(i)
        if heatmap is not None:
            panel.heatmap = heatmap
            panel.mask, panel.inside = mask_and_inside(heatmap, points[i])
            ira = result.per_image["ira"].iloc[i]
            panel.ira = None if pd.isna(ira) else float(ira)
        panels.append(panel)
    return panels


def overlay_figure(path: str | Path, title: str, panels: list[OverlayPanel]) -> None:
    """Per image: the image, its Grad-CAM heatmap over it, and its Otsu mask with the points
    (inside the mask: green; outside: red). Written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 3, figsize=(9, 2.4 * len(panels)), squeeze=False)
    for row, panel in zip(axes, panels):
        step = max(1, panel.image.shape[1] // DISPLAY_WIDTH)
        image = panel.image[::step, ::step]
        h, w = image.shape[:2]
        xs, ys = panel.points[:, 0] * w, panel.points[:, 1] * h
        row[0].imshow(image)
        row[0].set_title(f"{panel.name}  P(malignant) {panel.probability:.2f}", fontsize=8)
        if panel.heatmap is None:
            row[1].text(0.5, 0.5, "misclassified: no heatmap", ha="center", va="center", fontsize=9)
            row[2].axis("off")
        else:
            row[1].imshow(image)
            row[1].imshow(panel.heatmap[::step, ::step], cmap="jet", alpha=0.45, vmin=0, vmax=1)
            row[1].set_title("Grad-CAM", fontsize=8)
            mask = panel.mask[::step, ::step]
            row[2].imshow(np.where(mask[..., None], image, (image * 0.3).astype(np.uint8)))
            row[2].scatter(xs[panel.inside], ys[panel.inside], s=6, c="lime")
            row[2].scatter(xs[~panel.inside], ys[~panel.inside], s=6, c="red")
            row[2].set_title(f"Otsu mask, IRA {panel.ira:.2f}" if panel.ira is not None else "Otsu mask", fontsize=8)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
