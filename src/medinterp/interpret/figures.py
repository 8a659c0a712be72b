"""The interpretability figures, drawn with matplotlib's Agg backend (no display needed) and
written atomically as PNG files.

- :func:`outlier_figure`: Fig. 17, per image the original, its z-score image and the blue mask;
- :func:`filter_heatmap`: Fig. 26, percent of each class's images per filter, one panel per set;
- :func:`featurevis_grid`: Figs. 27-32, one row of visualizations per layer (or class), titled
  with their filter indices;
- :func:`similarity_plot`: Figs. 33-35, path similarity per layer;
- :func:`correlation_heatmap`: Figs. 36-37, the layer x layer matrix;
- :func:`method_grid`: the explanation benchmark's methods x images heatmaps;
- :func:`randomization_curves`: its cascading randomization test, per method.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from medinterp.interpret.outliers import Panels  # noqa: E402
from medinterp.io import atomic_path  # noqa: E402


def save(figure: plt.Figure, path: str | Path, dpi: int = 100, colours: int | None = None) -> None:
    """Write ``figure`` as a PNG atomically and close it; no timestamp, so equal figures give equal bytes.
    ``colours``: a palette PNG of at most that many colours (median cut, no dithering), for figures of
    many heatmap panels that would otherwise weigh a megabyte in git."""
    with atomic_path(path) as tmp:
        if colours is None:
            figure.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
        else:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=dpi)
            rgb = Image.open(buffer).convert("RGB")
            rgb.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                tmp, format="png", optimize=True
            )
    plt.close(figure)


def outlier_figure(
    panels: Sequence[Panels], names: Sequence[str], shares: Sequence[float], threshold: float
) -> plt.Figure:
    figure, axes = plt.subplots(len(panels), 3, figsize=(9, 3 * len(panels)), squeeze=False)
    for row, (panel, name, share) in enumerate(zip(panels, names, shares)):
        axes[row, 0].imshow(panel.original)
        axes[row, 0].set_title(f"{name}\noriginal", fontsize=8)
        shown = axes[row, 1].imshow(panel.zmax, cmap="magma", vmin=0, vmax=2 * threshold)
        axes[row, 1].set_title("max |z| over channels", fontsize=8)
        figure.colorbar(shown, ax=axes[row, 1], fraction=0.046)
        axes[row, 2].imshow(panel.marked)
        axes[row, 2].set_title(f"|z| > {threshold:g} in blue ({100 * share:.1f}% of pixels)", fontsize=8)
    for axis in axes.flat:
        axis.set_axis_off()
    figure.tight_layout()
    return figure


def filter_heatmap(table: pd.DataFrame, top: pd.DataFrame, layer: str) -> plt.Figure:
    """Rows: the classes of a set; columns: the union of the filters in ``top`` for that set;
    cells: ``percent`` from the long ``table``."""
    sets = list(dict.fromkeys(table["set"]))
    heights = [table.loc[table["set"] == name, "class"].nunique() + 2.5 for name in sets]
    figure, axes = plt.subplots(
        len(sets), 1, figsize=(12, 0.35 * sum(heights)), squeeze=False, gridspec_kw={"height_ratios": heights}
    )
    for axis, name in zip(axes[:, 0], sets):
        filters = sorted(set(top.loc[top["set"] == name, "filter"]))
        grid = (
            table[(table["set"] == name) & table["filter"].isin(filters)]
            .pivot(index="class", columns="filter", values="percent")
            .reindex(index=list(dict.fromkeys(table.loc[table["set"] == name, "class"])), columns=filters)
        )
        shown = axis.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="viridis", vmin=0, vmax=100)
        axis.set_xticks(range(len(filters)), [str(f) for f in filters], fontsize=7, rotation=90)
        axis.set_yticks(range(len(grid.index)), grid.index, fontsize=8)
        axis.set_title(f"{name}: % of the class's images activating each filter ({layer})", fontsize=9)
        figure.colorbar(shown, ax=axis, fraction=0.02)
    axes[-1, 0].set_xlabel("filter")
    figure.tight_layout()
    return figure


def featurevis_grid(
    rows: Sequence[tuple[str, np.ndarray, Sequence[int]]], title: str = "", prefix: str = "Filter"
) -> plt.Figure:
    """``rows``: (row label, images ``(n, S, S, 3)`` in [0, 1], filter indices) per row; each image is
    titled ``"<prefix> <index>"`` (``prefix="Class"`` for class-score visualizations)."""
    width = max(len(images) for _, images, _ in rows)
    figure, axes = plt.subplots(len(rows), width, figsize=(2 * width, 2.2 * len(rows)), squeeze=False)
    for r, (label, images, filters) in enumerate(rows):
        for c in range(width):
            axis = axes[r, c]
            axis.set_axis_off()
            if c < len(images):
                axis.imshow(
                    np.clip(images[c], 0, 1), interpolation="nearest"
                )  # the pixels as optimised; a much smaller PNG
                axis.set_title(f"{prefix} {filters[c]}", fontsize=8)
        axes[r, 0].text(
            -0.08, 0.5, label, transform=axes[r, 0].transAxes, rotation=90, va="center", ha="right", fontsize=8
        )
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def similarity_plot(frame: pd.DataFrame, title: str) -> plt.Figure:
    """``frame`` from :func:`medinterp.interpret.sanity.natural_vs_featurevis`, optionally with a
    ``class`` column (one line per class)."""
    figure, axis = plt.subplots(figsize=(max(6, 0.35 * frame["layer_index"].nunique()), 4))
    groups = frame.groupby("class", sort=False) if "class" in frame else [("", frame)]
    for name, part in groups:
        suffix = f" ({name})" if name != "" else ""
        axis.plot(
            part["layer_index"],
            part["featurevis_vs_natural"],
            marker="o",
            label=f"feature visualizations vs natural{suffix}",
        )
        axis.plot(
            part["layer_index"],
            part["natural_vs_natural"],
            marker=".",
            linestyle="--",
            label=f"natural vs natural{suffix}",
        )
    layers = frame.drop_duplicates("layer_index").sort_values("layer_index")
    axis.set_xticks(layers["layer_index"], layers["layer"], rotation=90, fontsize=7)
    axis.set_ylim(-1, 1)
    axis.set_ylabel("Spearman's rho (mean)")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def correlation_heatmap(matrix: pd.DataFrame, title: str) -> plt.Figure:
    size = max(4, 0.45 * len(matrix))
    figure, axis = plt.subplots(figsize=(size + 1.5, size))
    shown = axis.imshow(matrix.to_numpy(dtype=float), cmap="RdYlGn", vmin=-1, vmax=1)
    axis.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=90, fontsize=7)
    axis.set_yticks(range(len(matrix.index)), matrix.index, fontsize=7)
    if len(matrix) <= 16:
        for (i, j), value in np.ndenumerate(matrix.to_numpy(dtype=float)):
            axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6)
    axis.set_title(title, fontsize=10)
    figure.colorbar(shown, ax=axis, fraction=0.046)
    figure.tight_layout()
    return figure


def method_grid(
    pictures: Sequence[np.ndarray],
    names: Sequence[str],
    points: Sequence[np.ndarray],
    heatmaps: dict[str, Sequence[np.ndarray]],
    scores: dict[str, Sequence[float | None]],
    title: str,
) -> plt.Figure:
    """The explanation benchmark's comparison: the images in the first row, then one row per method,
    one column per image: its heatmap with the tumour points, titled with the image's IRA for that
    method. (Heatmaps drawn alone, not over the image: the tissue's texture would make the PNG
    eight times larger in git.)"""
    methods = list(heatmaps)
    columns = max(1, len(pictures))
    figure, axes = plt.subplots(
        len(methods) + 1, columns, figsize=(1.9 * columns, 1.6 * (len(methods) + 1)), squeeze=False
    )
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    for c in range(columns):
        if c >= len(pictures):
            axes[0, c].text(0.5, 0.5, "no image explained", ha="center", va="center", fontsize=7)
            continue
        axes[0, c].imshow(pictures[c])
        axes[0, c].set_title(names[c], fontsize=7)
    axes[0, 0].set_ylabel("image", fontsize=8)
    for r, method in enumerate(methods, start=1):
        for c in range(len(pictures)):
            h, w = pictures[c].shape[:2]
            axes[r, c].imshow(heatmaps[method][c], cmap="jet", vmin=0, vmax=1)
            axes[r, c].scatter(points[c][:, 0] * w, points[c][:, 1] * h, s=3, c="white", linewidths=0)
            ira = scores[method][c]
            axes[r, c].set_title(f"IRA {ira:.2f}" if ira is not None else "IRA -", fontsize=7)
        axes[r, 0].set_ylabel(method, fontsize=8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def randomization_curves(curves: pd.DataFrame, title: str, max_spearman: float) -> plt.Figure:
    """Mean Spearman, SSIM and IRA per method against the share of layers randomized (from the top)."""
    figure, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    means = curves.groupby(["method", "step"], sort=False)[["share_randomized", "spearman", "ssim", "ira"]].mean()
    for method in dict.fromkeys(curves["method"]):
        part = means.loc[method]
        style = "--" if method in ("random", "centre") else "-"
        for axis, column in zip(axes, ("spearman", "ssim", "ira")):
            axis.plot(part["share_randomized"], part[column], style, marker="o", markersize=3, label=method)
    axes[0].axhline(max_spearman, color="grey", linewidth=0.8, linestyle=":")
    for axis, label in zip(
        axes, ("Spearman's rho with the trained model's map", "SSIM with the trained model's map", "IRA")
    ):
        axis.set_xlabel("share of layers randomized, from the output down", fontsize=8)
        axis.set_ylabel(label, fontsize=8)
        axis.set_ylim(-0.05 if label == "IRA" else -1.05, 1.05)
    axes[2].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure
