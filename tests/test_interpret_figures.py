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
    saved_twice(lambda: figures.outlier_figure([panels(i, stats, 2.0) for i in images[:2]], ["a", "b"], [0.1, 0.2], 2.0), tmp_path, "outliers")

    maxima = rng.random((12, 20))
    table = pd.concat([occurrence_table(maxima, rng.integers(0, 2, 12), ["benign", "malignant"], 0.8, "binary"),
                       occurrence_table(maxima, rng.integers(0, 3, 12), ["MEL", "NV", "BCC"], 0.8, "multiclass")])
    saved_twice(lambda: figures.filter_heatmap(table, top_filters(table, 3), "features.10"), tmp_path, "heatmap")

    vis = rng.random((2, 8, 8, 3))
    saved_twice(lambda: figures.featurevis_grid([("first", vis, [3, 7]), ("last", vis[:1], [11])], "fv"), tmp_path, "grid")

    frame = pd.DataFrame({"layer_index": [0, 1], "layer": ["conv1", "conv5"], "featurevis_vs_natural": [0.1, 0.4],
                          "natural_vs_natural": [0.6, 0.7], "class": "malignant"})
    saved_twice(lambda: figures.similarity_plot(frame, "sanity"), tmp_path, "similarity")
    saved_twice(lambda: figures.correlation_heatmap(featurevis_layer_matrix({"conv1": vis, "conv5": vis[::-1]}), "m"), tmp_path, "matrix")
