"""What the ``interpret_filters`` stage writes: the class-specific filters of the outlier, binary,
outlier-free and multiclass sets (thesis sections 5.4.1 and 5.5, Table 10, Fig. 26);
:mod:`medinterp.interpret.filters` does the counting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from medinterp.errors import ConfigError
from medinterp.interpret.adapter import ModelAdapter
from medinterp.interpret.figures import filter_heatmap, save
from medinterp.interpret.filters import layer_maxima, occurrence_table, pooled_table, top_filters
from medinterp.interpret.image_sets import (
    BINARY,
    BINARY_CLEAN,
    MULTICLASS,
    OUTLIERS,
    ImageSet,
    Subject,
    image_set,
    outlier_subset,
)
from medinterp.interpret.layout import metrics_dir, outlier_list, plots_dir
from medinterp.io import readable, write_csv, write_json
from medinterp.params import Interpret


@dataclass
class FilterStatistics:
    table: pd.DataFrame  # per set, class and filter (filters.COLUMNS)
    top: pd.DataFrame  # top_filters of the per-class rows and each set's pooled rows
    images: dict[str, dict[str, int]]  # per set, images per class (empty sets included)


def filter_statistics(
    sets: Sequence[tuple[ImageSet, ModelAdapter]],
    layer: str,
    quantile: float,
    top_k: int,
    batch_size: int = 32,
    progress: bool = True,
) -> FilterStatistics:
    """Occurrences of ``layer``'s filters per set and class, each set seen through its own model;
    thresholds per set. A set without images is counted and left out of the tables."""
    per_class, ranked = [], []
    for subset, adapter in sets:
        if len(subset.images) == 0:
            continue
        maxima = layer_maxima(adapter, subset.images, layer, batch_size, progress)
        table = occurrence_table(maxima, subset.labels, subset.class_names, quantile, subset.name)
        per_class.append(table)
        ranked += [table, pooled_table(maxima, quantile, subset.name)]
    if not per_class:
        raise ConfigError("every image set is empty: no filter statistics to compute")
    return FilterStatistics(
        pd.concat(per_class, ignore_index=True),
        top_filters(pd.concat(ranked, ignore_index=True), top_k),
        {s.name: s.counts() for s, _ in sets},
    )


def table10(top: pd.DataFrame, model: str, layer: str) -> pd.DataFrame:
    """Table 10 as a long, diffable table: ``model, layer`` before the rows of :func:`top_filters`."""
    out = top.copy()
    out.insert(0, "layer", layer)
    out.insert(0, "model", model)
    return out


def write_filters(
    subject: Subject, interpret: Interpret, multiclass: tuple[ImageSet, ModelAdapter, str] | None
) -> None:
    """``filters.csv``, ``table10.csv``, ``filters.json`` and the heatmap (Fig. 26): the outlier,
    binary and outlier-free sets through the subject, and ``multiclass`` (its set, model and
    checkpoint) where the subject has one."""
    block = interpret.filters
    layer = block.layer or subject.conv_layers[1]
    outliers_file = outlier_list(subject.name)
    if not readable(outliers_file).is_file():  # interpret_paper wrote it a moment ago: still pending in its transaction
        raise ConfigError(f"{outliers_file}: not found; run the interpret_outliers stage first")
    outliers = pd.read_csv(readable(outliers_file))
    val, names = subject.validation, subject.class_names
    sets = [
        (image_set(OUTLIERS, outlier_subset(val, outliers, str(outliers_file)), names), subject.finetuned),
        (image_set(BINARY, val, names), subject.finetuned),
        (
            image_set(BINARY_CLEAN, outlier_subset(val, outliers, str(outliers_file), flagged=False), names),
            subject.finetuned,
        ),
    ]
    checkpoints = {OUTLIERS: subject.checkpoint, BINARY: subject.checkpoint, BINARY_CLEAN: subject.checkpoint}
    if multiclass is not None:
        sets.append(multiclass[:2])
        checkpoints[MULTICLASS] = multiclass[2]
    stats = filter_statistics(sets, layer, block.quantile, block.top_k, interpret.batch_size)
    folder = metrics_dir(subject.name)
    write_csv(folder / "filters.csv", stats.table)
    write_csv(folder / "table10.csv", table10(stats.top, subject.model, layer))
    write_json(
        folder / "filters.json",
        {
            "model": subject.model,
            "family": subject.family,
            "init_used": subject.init_used,
            "layer": layer,
            "filters": int(subject.finetuned.channels(layer)),
            "quantile": block.quantile,
            "top_k": block.top_k,
            "images": stats.images,
            "checkpoints": checkpoints,
        },
    )
    save(
        filter_heatmap(stats.table, top_filters(stats.table, block.heatmap_top), layer),
        plots_dir(subject.name) / "filters_heatmap.png",
    )
