"""What the ``interpret_featurevis`` stage writes: feature visualizations of a binary model's most
activated filters and class scores (thesis sections 4.4.2-4.4.3 and 6.4.1, Figs. 27-30);
:mod:`medinterp.interpret.featurevis` is the optimizer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from medinterp.interpret.adapter import ModelAdapter
from medinterp.interpret.featurevis import Settings, visualize
from medinterp.interpret.figures import featurevis_grid, save
from medinterp.interpret.filters import ALL_CLASSES, layer_maxima_many, most_activated
from medinterp.interpret.image_sets import BINARY, ImageSet, Subject, image_set
from medinterp.interpret.layout import metrics_dir, plots_dir
from medinterp.io import write_csv, write_json
from medinterp.params import Interpret

FEATUREVIS_COLUMNS = [
    "figure",
    "network",
    "regularized",
    "layer",
    "class",
    "target",
    "objective_start",
    "objective_end",
]


@dataclass
class FeaturevisReport:
    figures: dict[str, object]  # figure name -> matplotlib figure
    table: pd.DataFrame  # one row per visualization (FEATUREVIS_COLUMNS)
    timing: dict[str, dict[str, float]]  # per run group: visualizations, seconds, seconds_per_visualization


class _Timer:
    def __init__(self):
        self.groups: dict[str, dict[str, float]] = {}

    def visualize(
        self,
        group: str,
        adapter: ModelAdapter,
        layer: str | None,
        targets: Sequence[int],
        image_size: int,
        settings: Settings,
        progress: bool,
    ):
        start = time.perf_counter()
        result = visualize(adapter, layer, targets, image_size, settings, progress)
        entry = self.groups.setdefault(group, {"visualizations": 0, "seconds": 0.0})
        entry["visualizations"] += len(targets)
        entry["seconds"] += time.perf_counter() - start
        return result

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            group: {**entry, "seconds_per_visualization": entry["seconds"] / entry["visualizations"]}
            for group, entry in self.groups.items()
            if entry["visualizations"]
        }


def featurevis_report(
    finetuned: ModelAdapter,
    pretrained: ModelAdapter,
    layers: Sequence[str],
    images: ImageSet,
    quantile: float,
    top_n: int,
    image_size: int,
    settings: Settings,
    model: str,
    init_used: str,
    batch_size: int = 32,
    progress: bool = True,
) -> FeaturevisReport:
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
    maxima_at = layer_maxima_many(finetuned, images.images, layers, batch_size, progress)  # one pass for every layer
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
            records.append(
                {
                    "figure": figure,
                    "network": network,
                    "regularized": regularized,
                    "layer": layer or "scores",
                    "class": group_class,
                    "target": int(vis.targets[i]),
                    "objective_start": float(vis.start[i]),
                    "objective_end": float(vis.end[i]),
                }
            )

    for position, layer in enumerate(layers):
        label = f"{layer} ({'first' if position == 0 else 'last' if position == len(layers) - 1 else 'middle'} conv.)"
        groups = list(chosen[layer].items())  # the pooled filters, then one group per class
        targets = [f for _, filters in groups for f in filters]
        vis = timer.visualize("finetuned", finetuned, layer, targets, image_size, settings, progress)
        first = 0
        for name, filters in groups:
            part = range(first, first + len(filters))
            first += len(filters)
            if name == ALL_CLASSES:
                rows["finetuned"].append((label, vis.images[part.start : part.stop], filters))
                record("finetuned", "finetuned", True, layer, ALL_CLASSES, vis, part)
            else:
                rows["classes"].append((f"{name}: {label}", vis.images[part.start : part.stop], filters))
                record("classes", "finetuned", True, layer, name, vis, part)
        pooled = chosen[layer][ALL_CLASSES]
        for figure, adapter, network, run_settings in (
            ("pretrained", pretrained, "initial", settings),
            ("unregularized", finetuned, "finetuned", settings.unregularized()),
        ):
            vis = timer.visualize(figure, adapter, layer, pooled, image_size, run_settings, progress)
            rows[figure].append((label, vis.images, pooled))
            record(figure, network, figure != "unregularized", layer, ALL_CLASSES, vis, range(len(pooled)))

    class_indices = list(range(len(images.class_names)))
    scores = timer.visualize("class_scores", finetuned, None, class_indices, image_size, settings, progress)
    for i, name in enumerate(images.class_names):
        record("class_scores", "finetuned", True, None, name, scores, [i])

    subtitle = f"top {top_n} filters, {images.name} validation set (Table 10's ranking)"
    figures = {
        "pretrained": featurevis_grid(
            rows["pretrained"], f"{model} before fine-tuning ({init_used}), the fine-tuned model's filters\n{subtitle}"
        ),
        "finetuned": featurevis_grid(rows["finetuned"], f"{model} fine-tuned (binary)\n{subtitle}"),
        "unregularized": featurevis_grid(
            rows["unregularized"], f"{model} fine-tuned (binary), without regularization\n{subtitle}"
        ),
        "classes": featurevis_grid(
            rows["classes"], f"{model} fine-tuned (binary)\ntop {top_n} filters of each class's validation images"
        ),
        "class_scores": featurevis_grid(
            [("class score", scores.images, class_indices)],
            f"{model} fine-tuned: class logits\n{', '.join(f'{i}: {c}' for i, c in enumerate(images.class_names))}",
            prefix="Class",
        ),
    }
    return FeaturevisReport(figures, pd.DataFrame(records, columns=FEATUREVIS_COLUMNS), timer.summary())


def write_featurevis(subject: Subject, initial: ModelAdapter, interpret: Interpret, settings: Settings) -> dict:
    """Figs. 27-30 (``featurevis_*.png``), ``featurevis.csv`` and ``featurevis.json``.

    Returns the timing for the run log.
    """
    top_n = interpret.featurevis.top_n
    layers = list(subject.conv_layers)
    report = featurevis_report(
        subject.finetuned,
        initial,
        layers,
        image_set(BINARY, subject.validation, subject.class_names),
        interpret.filters.quantile,
        top_n,
        subject.image_size,
        settings,
        subject.model,
        subject.init_used,
        interpret.batch_size,
    )
    for name, figure in report.figures.items():
        save(figure, plots_dir(subject.name) / f"featurevis_{name}.png")
    write_csv(metrics_dir(subject.name) / "featurevis.csv", report.table)
    write_json(
        metrics_dir(subject.name) / "featurevis.json",
        {
            "model": subject.model,
            "family": subject.family,
            "init_used": subject.init_used,
            "checkpoint": subject.checkpoint,
            "layers": layers,
            "image_size": subject.image_size,
            "top_n": top_n,
            "steps": settings.steps,
            "seed": settings.seed,
            "visualizations": len(report.table),
            "groups": {group: {"visualizations": entry["visualizations"]} for group, entry in report.timing.items()},
        },
    )
    seconds = sum(group["seconds"] for group in report.timing.values())
    return {"seconds": seconds, "seconds_per_visualization": seconds / len(report.table), "groups": report.timing}
