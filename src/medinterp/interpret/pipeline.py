"""What the interpretation stages compute from the ISIC stages' outputs (thesis sections 5.4-5.5).

The stage entry points (``medinterp.stages.interpret_*``) read params and files and write outputs;
the steps between are here. Models come in as :class:`~medinterp.interpret.adapter.ModelAdapter`
objects, so this module is the same for both families.

The image sets are validation images only, as in the thesis (section 5.5):

- ``binary``: the validation fold of the cross-validation fold whose model the ``isic_binary``
  stage kept (``test.fold`` of ``metrics/isic_binary.json``), outliers included (the thesis's "all
  validation images with and without outliers"); classes benign and malignant;
- ``binary_without_outliers``: ``binary`` less the images the z-score rule flags, so a filter's
  count can be compared with and without them;
- ``outliers``: the images of ``binary`` that the z-score rule flags, with their benign / malignant
  labels (the thesis sorted its outlier images into artefact classes by hand; no such label exists
  here);
- ``multiclass``: the ``val`` split of the eight-class task.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from medinterp.errors import ConfigError
from medinterp.interpret.adapter import ModelAdapter
from medinterp.interpret.featurevis import Settings, visualize
from medinterp.interpret.figures import (
    correlation_heatmap, featurevis_grid, filter_heatmap, outlier_figure, save, similarity_plot,
)
from medinterp.interpret.filters import ALL_CLASSES, layer_maxima, layer_maxima_many, most_activated, occurrence_table, pooled_table, top_filters
from medinterp.interpret.layout import metrics_dir, outlier_list, plots_dir
from medinterp.interpret.outliers import channel_stats, outlier_table, panels
from medinterp.interpret.sanity import class_visualizations, featurevis_layer_matrix, natural_vs_featurevis, pick_layers
from medinterp.io import readable, write_csv, write_json
from medinterp.params import Interpret
from medinterp.preprocessing.arrays import ImageTable, load

BINARY, BINARY_CLEAN, OUTLIERS, MULTICLASS = "binary", "binary_without_outliers", "outliers", "multiclass"


# -- image sets ---------------------------------------------------------------------------------

@dataclass
class ImageSet:
    name: str
    images: np.ndarray          # (N, S, S, 3) uint8
    labels: np.ndarray          # (N,) indices into class_names
    class_names: list[str]

    def counts(self) -> dict[str, int]:
        return {c: int((self.labels == i).sum()) for i, c in enumerate(self.class_names)}


def binary_validation(report: str | Path) -> ImageTable:
    """The binary task's validation images at the size it trained on: the validation fold of the
    fold whose model ``isic_binary`` kept, as its report (``metrics/isic/<entry>/binary.json``) records."""
    report = Path(report)
    if not report.is_file():
        raise ConfigError(f"{report}: not found; run the isic_binary stage first (dvc repro isic_binary)")
    content = json.loads(report.read_text(encoding="utf-8"))
    try:
        fold, size = int(content["test"]["fold"]), int(content["image_size"])
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{report}: has no test.fold or image_size; rerun the isic_binary stage") from exc
    table = load("isic_binary", size)
    return table.subset(table.frame["fold"] == fold)


def multiclass_validation(size: int) -> ImageTable:
    table = load("isic_multiclass", size)
    return table.subset(table.frame["split"] == "val")


def image_set(name: str, table: ImageTable, class_names: Sequence[str]) -> ImageSet:
    """``table`` as a set labelled in the order of a model's ``class_names``, which must be the order
    the split table's labels follow."""
    class_names = list(class_names)
    named = table.frame["class_name"].to_numpy()
    labels = table.labels
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)
                        or any(named[i] != class_names[labels[i]] for i in range(len(labels)))):
        raise ConfigError(f"the model's classes {class_names} do not match the labels of the {name} images; "
                          "rerun the training stage on the current splits")
    return ImageSet(name, np.asarray(table.images), labels, class_names)


# -- z-score outliers (Fig. 17) -------------------------------------------------------------------

def example_rows(shares: np.ndarray, count: int) -> np.ndarray:
    """Rows of ``count`` images spread over the ranking by outlier share, the highest first and the
    lowest last, so the figure shows flagged and unflagged images."""
    order = np.argsort(-np.asarray(shares), kind="stable")
    if count <= 0 or len(order) == 0:
        return order[:0]
    return order[np.unique(np.round(np.linspace(0, len(order) - 1, min(count, len(order)))).astype(int))]


def outlier_report(table: ImageTable, z: float, min_share: float, examples: int):
    """The outlier list (``image, class_name, outlier_share, outlier``; statistics over the set
    itself), Fig. 17 for ``examples`` images and a summary for the metrics file."""
    stats = channel_stats(table.images)
    frame = outlier_table(table.images, table.frame["image"].tolist(), z, min_share, stats)
    frame.insert(1, "class_name", table.frame["class_name"].to_numpy())
    rows = example_rows(frame["outlier_share"].to_numpy(), examples)
    ids = table.frame["image_id"] if "image_id" in table.frame else table.frame["image"].map(lambda p: Path(p).stem)   # BreakHis has no id column
    names = [f"{ids.iloc[i]} ({'outlier' if frame['outlier'].iloc[i] else 'not an outlier'})" for i in rows]
    figure = outlier_figure([panels(np.asarray(table.images[i]), stats, z) for i in rows], names,
                            frame["outlier_share"].iloc[rows].tolist(), z)
    summary = {
        "images": len(frame), "outliers": int(frame["outlier"].sum()),
        "outliers_per_class": {str(c): int(n) for c, n in frame.groupby("class_name", sort=True)["outlier"].sum().items()},
        "outlier_share_mean": float(frame["outlier_share"].mean()),
        "z": z, "min_share": min_share,
        "channel_mean": [float(v) for v in stats.mean], "channel_std": [float(v) for v in stats.std],
    }
    return frame, figure, summary


def outlier_subset(table: ImageTable, outliers: pd.DataFrame, source: str, flagged: bool = True) -> ImageTable:
    """The rows of ``table`` that the outlier list (``source``, row for row the same images) flags,
    or (``flagged=False``) those it does not."""
    if outliers["image"].tolist() != table.frame["image"].tolist():
        raise ConfigError(f"{source} lists other images than the binary validation set; rerun interpret_outliers")
    flags = outliers["outlier"].to_numpy(dtype=bool)
    return table.subset(flags if flagged else ~flags)


# -- class-specific filters (Table 10, Fig. 26) ---------------------------------------------------

@dataclass
class FilterStatistics:
    table: pd.DataFrame                 # per set, class and filter (filters.COLUMNS)
    top: pd.DataFrame                   # top_filters of the per-class rows and each set's pooled rows
    images: dict[str, dict[str, int]]   # per set, images per class (empty sets included)


def filter_statistics(sets: Sequence[tuple[ImageSet, ModelAdapter]], layer: str, quantile: float, top_k: int,
                      batch_size: int = 32, progress: bool = True) -> FilterStatistics:
    """Occurrences of ``layer``'s filters per set and class, each set seen through its own model;
    thresholds per set. A set without images is counted and left out of the tables."""
    per_class, ranked = [], []
    for image_set, adapter in sets:
        if len(image_set.images) == 0:
            continue
        maxima = layer_maxima(adapter, image_set.images, layer, batch_size, progress)
        table = occurrence_table(maxima, image_set.labels, image_set.class_names, quantile, image_set.name)
        per_class.append(table)
        ranked += [table, pooled_table(maxima, quantile, image_set.name)]
    if not per_class:
        raise ConfigError("every image set is empty: no filter statistics to compute")
    return FilterStatistics(pd.concat(per_class, ignore_index=True), top_filters(pd.concat(ranked, ignore_index=True), top_k),
                            {s.name: s.counts() for s, _ in sets})


def table10(top: pd.DataFrame, model: str, layer: str) -> pd.DataFrame:
    """Table 10 as a long, diffable table: ``model, layer`` before the rows of :func:`top_filters`."""
    out = top.copy()
    out.insert(0, "layer", layer)
    out.insert(0, "model", model)
    return out


# -- feature visualization (Figs. 27-30) ----------------------------------------------------------

FEATUREVIS_COLUMNS = ["figure", "network", "regularized", "layer", "class", "target", "objective_start", "objective_end"]


@dataclass
class FeaturevisReport:
    figures: dict[str, object]          # figure name -> matplotlib figure
    table: pd.DataFrame                 # one row per visualization (FEATUREVIS_COLUMNS)
    timing: dict[str, dict[str, float]] # per run group: visualizations, seconds, seconds_per_visualization


class _Timer:
    def __init__(self):
        self.groups: dict[str, dict[str, float]] = {}

    def visualize(self, group: str, adapter: ModelAdapter, layer: str | None, targets: Sequence[int], image_size: int,
                  settings: Settings, progress: bool):
        start = time.perf_counter()
        result = visualize(adapter, layer, targets, image_size, settings, progress)
        entry = self.groups.setdefault(group, {"visualizations": 0, "seconds": 0.0})
        entry["visualizations"] += len(targets)
        entry["seconds"] += time.perf_counter() - start
        return result

    def summary(self) -> dict[str, dict[str, float]]:
        return {group: {**entry, "seconds_per_visualization": entry["seconds"] / entry["visualizations"]}
                for group, entry in self.groups.items() if entry["visualizations"]}


def featurevis_report(finetuned: ModelAdapter, pretrained: ModelAdapter, layers: Sequence[str], images: ImageSet,
                      quantile: float, top_n: int, image_size: int, settings: Settings, model: str, init_used: str,
                      batch_size: int = 32, progress: bool = True) -> FeaturevisReport:
    """Figs. 27-30 for the binary task.

    Per layer (the first and last convolutional ones), the filters are ranked with the fine-tuned
    model on the validation ``images`` (:func:`~medinterp.interpret.filters.most_activated`): the
    ``top_n`` over all images (Table 10's filters) and the ``top_n`` of each class. The pooled
    filters are visualized in the network the fine-tuning started from (``pretrained``, Fig. 27),
    in the fine-tuned one (Fig. 28) and in it without regularization (Fig. 29), from the same noise
    (same seed), as the thesis shows the same filters in its Figs. 27-29; each class's filters in
    the fine-tuned model (Fig. 30), batched with the pooled ones; and each class's score, the logit
    (Fig. 30's whole-model counterpart)."""
    chosen: dict[str, dict[str, list[int]]] = {}
    maxima_at = layer_maxima_many(finetuned, images.images, layers, batch_size, progress)   # one pass for every layer
    for layer in layers:
        maxima = maxima_at[layer]
        chosen[layer] = {ALL_CLASSES: most_activated(maxima, None, None, quantile, top_n)}
        for index, name in enumerate(images.class_names):
            if (images.labels == index).any():
                chosen[layer][name] = most_activated(maxima, images.labels, index, quantile, top_n)

    timer, records = _Timer(), []
    rows: dict[str, list] = {"pretrained": [], "finetuned": [], "unregularized": [], "classes": []}

    def record(figure, network, regularized, layer, group_class, vis, part):
        for i in part:
            records.append({"figure": figure, "network": network, "regularized": regularized, "layer": layer or "scores",
                            "class": group_class, "target": int(vis.targets[i]),
                            "objective_start": float(vis.start[i]), "objective_end": float(vis.end[i])})

    for position, layer in enumerate(layers):
        label = f"{layer} ({'first' if position == 0 else 'last' if position == len(layers) - 1 else 'middle'} conv.)"
        groups = list(chosen[layer].items())            # the pooled filters, then one group per class
        targets = [f for _, filters in groups for f in filters]
        vis = timer.visualize("finetuned", finetuned, layer, targets, image_size, settings, progress)
        first = 0
        for name, filters in groups:
            part = range(first, first + len(filters))
            first += len(filters)
            if name == ALL_CLASSES:
                rows["finetuned"].append((label, vis.images[part.start:part.stop], filters))
                record("finetuned", "finetuned", True, layer, ALL_CLASSES, vis, part)
            else:
                rows["classes"].append((f"{name}: {label}", vis.images[part.start:part.stop], filters))
                record("classes", "finetuned", True, layer, name, vis, part)
        pooled = chosen[layer][ALL_CLASSES]
        for figure, adapter, network, run_settings in (("pretrained", pretrained, "initial", settings),
                                                       ("unregularized", finetuned, "finetuned", settings.unregularized())):
            vis = timer.visualize(figure, adapter, layer, pooled, image_size, run_settings, progress)
            rows[figure].append((label, vis.images, pooled))
            record(figure, network, figure != "unregularized", layer, ALL_CLASSES, vis, range(len(pooled)))

    class_indices = list(range(len(images.class_names)))
    scores = timer.visualize("class_scores", finetuned, None, class_indices, image_size, settings, progress)
    for i, name in enumerate(images.class_names):
        record("class_scores", "finetuned", True, None, name, scores, [i])

    subtitle = f"top {top_n} filters, {images.name} validation set (Table 10's ranking)"
    figures = {
        "pretrained": featurevis_grid(rows["pretrained"], f"{model} before fine-tuning ({init_used}), the fine-tuned model's filters\n{subtitle}"),
        "finetuned": featurevis_grid(rows["finetuned"], f"{model} fine-tuned (binary)\n{subtitle}"),
        "unregularized": featurevis_grid(rows["unregularized"], f"{model} fine-tuned (binary), without regularization\n{subtitle}"),
        "classes": featurevis_grid(rows["classes"], f"{model} fine-tuned (binary)\ntop {top_n} filters of each class's validation images"),
        "class_scores": featurevis_grid(
            [("class score", scores.images, class_indices)],
            f"{model} fine-tuned: class logits\n{', '.join(f'{i}: {c}' for i, c in enumerate(images.class_names))}", prefix="Class"),
    }
    return FeaturevisReport(figures, pd.DataFrame(records, columns=FEATUREVIS_COLUMNS), timer.summary())


# -- sanity checks (Figs. 33-37) ------------------------------------------------------------------

def natural_rows(labels: np.ndarray, class_index: int, count: int, seed: int) -> np.ndarray:
    """At most ``count`` rows of class ``class_index``, drawn at random (seeded), in table order."""
    members = np.flatnonzero(np.asarray(labels) == class_index)
    if len(members) == 0:
        raise ConfigError(f"no validation images of class {class_index} for the sanity check")
    if len(members) <= count:
        return members
    return np.sort(np.random.default_rng(seed).choice(members, size=count, replace=False))


def sanity_report(adapter: ModelAdapter, images: ImageSet, class_name: str, layer_count: int | str | None,
                  natural_count: int, quantile: float, top_n: int, image_size: int, settings: Settings, seed: int,
                  batch_size: int = 32, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For class ``class_name``: per picked layer, the class's ``top_n`` filters visualized and
    their path similarity with ``natural_count`` natural images of the class (Figs. 33-35,
    ``class, layer_index, layer, filters, featurevis_vs_natural, natural_vs_natural, featurevis,
    natural``), and the layer x layer matrix of those visualizations (Figs. 36-37)."""
    if class_name not in images.class_names:
        raise ConfigError(f"params.yaml: interpret.sanity.class is '{class_name}', expected one of {images.class_names}")
    class_index = images.class_names.index(class_name)
    layers = pick_layers(adapter.conv_layers(), layer_count)
    vis = class_visualizations(adapter, layers, images.images, images.labels, class_index, quantile, top_n, image_size,
                               settings, batch_size, progress)
    natural = images.images[natural_rows(images.labels, class_index, natural_count, seed)]
    frame = natural_vs_featurevis(adapter, natural, {layer: v.images for layer, v in vis.items()}, batch_size)
    frame.insert(0, "class", class_name)
    frame.insert(3, "filters", [", ".join(str(t) for t in vis[layer].targets) for layer in frame["layer"]])
    return frame, featurevis_layer_matrix({layer: v.images for layer, v in vis.items()})


# -- what each stage writes, for any subject --------------------------------------------------------

@dataclass
class Subject:
    """A binary classifier the methods interpret: an ISIC model (``name`` its entry of ``models``)
    or a paper classifier (``paper/<backbone>/<variant>``), with its binary validation images."""

    name: str                        # folder under metrics/interpret and plots/interpret
    model: str                       # architecture, for tables and titles
    family: str
    init_used: str
    class_names: list[str]
    image_size: int                  # the size it trained on and its validation images have
    validation: ImageTable
    finetuned: ModelAdapter
    checkpoint: str                  # the file its weights come from, as the metrics record it
    conv_layers: tuple[str, str]     # the registry's first and last convolutional layers


def write_outliers(subject: str, validation: ImageTable, z: float, min_share: float, examples: int) -> None:
    """``outliers.csv``, ``outliers.json`` and ``outliers.png`` (Fig. 17) of a validation set."""
    frame, figure, summary = outlier_report(validation, z, min_share, examples)
    write_csv(outlier_list(subject), frame)
    write_json(metrics_dir(subject) / "outliers.json", summary)
    save(figure, plots_dir(subject) / "outliers.png")


def write_filters(subject: Subject, interpret: Interpret, multiclass: tuple[ImageSet, ModelAdapter, str] | None) -> None:
    """``filters.csv``, ``table10.csv``, ``filters.json`` and the heatmap (Fig. 26): the outlier,
    binary and outlier-free sets through the subject, and ``multiclass`` (its set, model and
    checkpoint) where the subject has one."""
    block = interpret.filters
    layer = block.layer or subject.conv_layers[1]
    outliers_file = outlier_list(subject.name)
    if not readable(outliers_file).is_file():   # interpret_paper wrote it a moment ago: still pending in its transaction
        raise ConfigError(f"{outliers_file}: not found; run the interpret_outliers stage first")
    outliers = pd.read_csv(readable(outliers_file))
    val, names = subject.validation, subject.class_names
    sets = [(image_set(OUTLIERS, outlier_subset(val, outliers, str(outliers_file)), names), subject.finetuned),
            (image_set(BINARY, val, names), subject.finetuned),
            (image_set(BINARY_CLEAN, outlier_subset(val, outliers, str(outliers_file), flagged=False), names), subject.finetuned)]
    checkpoints = {OUTLIERS: subject.checkpoint, BINARY: subject.checkpoint, BINARY_CLEAN: subject.checkpoint}
    if multiclass is not None:
        sets.append(multiclass[:2])
        checkpoints[MULTICLASS] = multiclass[2]
    stats = filter_statistics(sets, layer, block.quantile, block.top_k, interpret.batch_size)
    folder = metrics_dir(subject.name)
    write_csv(folder / "filters.csv", stats.table)
    write_csv(folder / "table10.csv", table10(stats.top, subject.model, layer))
    write_json(folder / "filters.json", {
        "model": subject.model, "family": subject.family, "init_used": subject.init_used, "layer": layer,
        "filters": int(subject.finetuned.channels(layer)), "quantile": block.quantile, "top_k": block.top_k,
        "images": stats.images, "checkpoints": checkpoints,
    })
    save(filter_heatmap(stats.table, top_filters(stats.table, block.heatmap_top), layer), plots_dir(subject.name) / "filters_heatmap.png")


def write_featurevis(subject: Subject, initial: ModelAdapter, interpret: Interpret, settings: Settings) -> dict:
    """Figs. 27-30 (``featurevis_*.png``), ``featurevis.csv`` and ``featurevis.json``; returns the timing for the run log."""
    top_n = interpret.featurevis.top_n
    layers = list(subject.conv_layers)
    report = featurevis_report(subject.finetuned, initial, layers, image_set(BINARY, subject.validation, subject.class_names),
                               interpret.filters.quantile, top_n, subject.image_size, settings, subject.model,
                               subject.init_used, interpret.batch_size)
    for name, figure in report.figures.items():
        save(figure, plots_dir(subject.name) / f"featurevis_{name}.png")
    write_csv(metrics_dir(subject.name) / "featurevis.csv", report.table)
    write_json(metrics_dir(subject.name) / "featurevis.json", {
        "model": subject.model, "family": subject.family, "init_used": subject.init_used, "checkpoint": subject.checkpoint,
        "layers": layers, "image_size": subject.image_size, "top_n": top_n, "steps": settings.steps, "seed": settings.seed,
        "visualizations": len(report.table),
        "groups": {group: {"visualizations": entry["visualizations"]} for group, entry in report.timing.items()},
    })
    seconds = sum(group["seconds"] for group in report.timing.values())
    return {"seconds": seconds, "seconds_per_visualization": seconds / len(report.table), "groups": report.timing}


def write_sanity(subject: Subject, interpret: Interpret, settings: Settings, seed: int) -> dict:
    """Figs. 33-37 (``sanity_*.png``), ``sanity_similarity.csv``, ``sanity_layers.csv`` and
    ``sanity.json``; returns the timing for the run log."""
    block = interpret.sanity
    start = time.perf_counter()
    similarity, matrix = sanity_report(
        subject.finetuned, image_set(BINARY, subject.validation, subject.class_names), block.class_, block.layers,
        block.natural_images, interpret.filters.quantile, block.top_n, subject.image_size, settings, seed, interpret.batch_size)
    seconds = time.perf_counter() - start
    folder, plots = metrics_dir(subject.name), plots_dir(subject.name)
    write_csv(folder / "sanity_similarity.csv", similarity)
    write_csv(folder / "sanity_layers.csv", matrix.reset_index())
    write_json(folder / "sanity.json", {
        "model": subject.model, "family": subject.family, "init_used": subject.init_used, "checkpoint": subject.checkpoint,
        "class": block.class_, "layers": len(similarity), "top_n": block.top_n, "steps": settings.steps,
        "natural_images": int(similarity["natural"].iloc[0]),
        "featurevis_vs_natural_mean": float(similarity["featurevis_vs_natural"].mean()),
        "natural_vs_natural_mean": float(similarity["natural_vs_natural"].mean()),
    })
    save(similarity_plot(similarity, f"{subject.model} fine-tuned (binary), class {block.class_}\n"
                                     "Spearman's rho between a layer's activations"), plots / "sanity_similarity.png")
    save(correlation_heatmap(matrix, f"{subject.model}: feature visualizations made for\ntwo layers (pixel Spearman's rho, mean)"),
         plots / "sanity_layers.png")
    return {"seconds": seconds}
