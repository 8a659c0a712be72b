"""The figures render from the methods' outputs and are written as reproducible PNG files."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from medinterp.interpret import figures
from medinterp.interpret.filters import occurrence_table, top_filters
from medinterp.interpret.outliers import channel_stats, panels
from medinterp.interpret.sanity import featurevis_layer_matrix


def saved_twice(make, tmp_path, name):
    first, second = tmp_path / f"{name}1.png", tmp_path / f"{name}2.png"
    figures.save(make(), first)
    figures.save(make(), second)
    assert first.read_bytes() == second.read_bytes()
    with Image.open(first) as image:
        assert image.format == "PNG" and min(image.size) > 100
    return first


def test_every_figure_renders_reproducibly(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)
    stats = channel_stats(images)
    saved_twice(
        lambda: figures.outlier_figure([panels(i, stats, 2.0) for i in images[:2]], ["a", "b"], [0.1, 0.2], 2.0),
        tmp_path,
        "outliers",
    )

    maxima = rng.random((12, 20))
    table = pd.concat(
        [
            occurrence_table(maxima, rng.integers(0, 2, 12), ["benign", "malignant"], 0.8, "binary"),
            occurrence_table(maxima, rng.integers(0, 3, 12), ["MEL", "NV", "BCC"], 0.8, "multiclass"),
        ]
    )
    saved_twice(lambda: figures.filter_heatmap(table, top_filters(table, 3), "features.10"), tmp_path, "heatmap")

    vis = rng.random((2, 8, 8, 3))
    saved_twice(
        lambda: figures.featurevis_grid([("first", vis, [3, 7]), ("last", vis[:1], [11])], "fv"), tmp_path, "grid"
    )

    frame = pd.DataFrame(
        {
            "layer_index": [0, 1],
            "layer": ["conv1", "conv5"],
            "featurevis_vs_natural": [0.1, 0.4],
            "natural_vs_natural": [0.6, 0.7],
            "class": "malignant",
        }
    )
    saved_twice(lambda: figures.similarity_plot(frame, "sanity"), tmp_path, "similarity")
    saved_twice(
        lambda: figures.correlation_heatmap(featurevis_layer_matrix({"conv1": vis, "conv5": vis[::-1]}), "m"),
        tmp_path,
        "matrix",
    )


def test_the_explanation_figures_render_and_the_grid_is_a_small_palette_png(tmp_path):
    rng = np.random.default_rng(1)
    pictures = [rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8) for _ in range(2)]
    heatmaps = {m: [rng.random((12, 16)) for _ in pictures] for m in ("gradcam", "random")}
    scores = {"gradcam": [0.5, None], "random": [0.25, 1.0]}
    points = [rng.random((5, 2)) for _ in pictures]
    paths = []
    for name in ("grid_a", "grid_b"):
        paths.append(tmp_path / f"{name}.png")
        figures.save(
            figures.method_grid(pictures, ["a.tif", "b.tif"], points, heatmaps, scores, "t"),
            paths[-1],
            dpi=72,
            colours=16,
        )
    assert paths[0].read_bytes() == paths[1].read_bytes()
    with Image.open(paths[0]) as image:
        assert image.mode == "P" and len(image.getcolors()) <= 16
        assert image.size[1] > image.size[0]  # a row per method below the images' row: taller than wide
    figures.save(figures.method_grid([], [], [], {"gradcam": []}, {"gradcam": []}, "none"), tmp_path / "empty.png")
    curves = pd.DataFrame(
        {
            "method": ["gradcam"] * 2 + ["random"] * 2,
            "step": [0, 1] * 2,
            "share_randomized": [0.0, 1.0] * 2,
            "spearman": [1.0, 0.1, 1.0, 1.0],
            "ssim": [1.0, 0.2, 1.0, 1.0],
            "ira": [0.5, 0.1, 0.4, 0.4],
        }
    )
    saved_twice(lambda: figures.randomization_curves(curves, "cascade", 0.5), tmp_path, "curves")
