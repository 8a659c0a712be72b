"""This run's results beside the published ones, table by table.

Each builder takes this run's metrics as the stages wrote them and the published numbers
(:func:`medinterp.report.published.load_published`) and returns a :class:`Table` whose cells are
plain values. Columns named ``published ...`` hold the seeds' numbers and nothing else; this run's
fractions become percentages where the seed prints percentages, so a row reads across.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PUBLISHED_PREFIX = "published "


@dataclass
class Table:
    key: str  # the seed's table, e.g. "table2"
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""

    def published_columns(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c.startswith(PUBLISHED_PREFIX)]


def percent(value: float | None) -> float | None:
    return None if value is None else 100.0 * float(value)


def _get(tree: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def table2(run: dict | None, published: dict) -> Table:
    """Table 2: accuracy and IRA on BreCaHAD per backbone and training variant; backbones this run
    trained that the paper did not (``torch-resnet50``) follow the published ones."""
    table = Table(
        "table2",
        "Table 2 (paper): classification accuracy and interpretability on BreCaHAD, %",
        [
            "backbone",
            "family",
            "variant",
            "weights used",
            "images evaluated",
            "accuracy",
            "IRA",
            "SD-IRA",
            "IRM",
            "mask area",
            "published weights",
            "published accuracy",
            "published IRA",
            "published SD-IRA",
            "published IRM",
        ],
        note="IRA, SD-IRA and IRM over the images classified malignant correctly; `mask area` is the mean share "
        "of the image inside the Otsu mask, the IRA a heatmap placed at random would reach.",
    )
    run = run or {}
    rows = published["paper"]["table2"]
    for backbone, variants in [*rows.items(), *((b, {v: {} for v in run[b]}) for b in run if b not in rows)]:
        for variant, pub in variants.items():
            row = (run.get(backbone) or {}).get(variant) or {}
            table.rows.append(
                [
                    backbone,
                    row.get("family"),
                    variant,
                    row.get("weights_used"),
                    row.get("images_evaluated"),
                    percent(row.get("accuracy")),
                    percent(row.get("ira")),
                    percent(row.get("sd_ira")),
                    percent(row.get("irm")),
                    percent(row.get("mask_area")),
                    pub.get("weights"),
                    pub.get("accuracy"),
                    pub.get("ira"),
                    pub.get("sd_ira"),
                    pub.get("irm"),
                ]
            )
    return table


def _thesis_rows(runs: list[dict], published_rows: dict) -> list[tuple[str, dict | None, dict]]:
    """``(model, this run's metrics or None, published)`` per row: the thesis's models first, each
    beside every run of that architecture, then this run's other models."""
    names = [m for m in published_rows if m != "literature"]
    out: list[tuple[str, dict | None, dict]] = []
    for name in names:
        mine = [r for r in runs if r.get("model") == name]
        out += [(name, r, published_rows[name]) for r in mine] or [(name, None, published_rows[name])]
    return out + [(r["model"], r, {}) for r in runs if r.get("model") not in names]


def _run_cells(run: dict | None, keys: list[tuple[str, bool]]) -> list[Any]:
    """This run's family and values (empty for the models this run did not train)."""
    if not run:
        return [None] * (len(keys) + 1)
    return [run.get("family"), *(percent(_get(run, k)) if as_percent else _get(run, k) for k, as_percent in keys)]


def table6(binary: list[dict], published: dict) -> Table:
    """Table 6: binary task, training and validation (means over the folds) and test accuracy."""
    keys = [
        ("cv.train_accuracy_mean", True),
        ("cv.train_loss_mean", False),
        ("cv.val_accuracy_mean", True),
        ("cv.val_loss_mean", False),
        ("test.accuracy", True),
    ]
    table = Table(
        "table6",
        "Table 6 (thesis): ISIC binary task, accuracy % and loss",
        [
            "model",
            "family",
            "train accuracy",
            "train loss",
            "val accuracy",
            "val loss",
            "test accuracy",
            "published train accuracy",
            "published train loss",
            "published val accuracy",
            "published val loss",
            "published test accuracy",
        ],
        note="Training and validation: means over the five folds; test: the kept fold's model on ISIC 2016.",
    )
    for model, run, pub in _thesis_rows(binary, published["thesis"]["table6"]):
        table.rows.append(
            [
                model,
                *_run_cells(run, keys),
                *(pub.get(k) for k in ("train_accuracy", "train_loss", "val_accuracy", "val_loss", "test_accuracy")),
            ]
        )
    return table


def table7(binary: list[dict], published: dict) -> Table:
    """Table 7: ISIC 2016 test AUC and accuracy, with the literature rows the thesis compares with."""
    table = Table(
        "table7",
        "Table 7 (thesis): ISIC 2016 test set, binary task",
        ["model", "family", "AUC", "accuracy", "published AUC", "published accuracy", "published source"],
    )
    rows = published["thesis"]["table7"]
    for model, run, pub in _thesis_rows(binary, rows):
        table.rows.append(
            [
                model,
                *_run_cells(run, [("test.roc_auc", False), ("test.accuracy", True)]),
                pub.get("auc"),
                pub.get("accuracy"),
                pub.get("source"),
            ]
        )
    for name, pub in rows.get("literature", {}).items():
        table.rows.append([name, None, None, None, pub["auc"], pub["accuracy"], pub["source"]])
    return table


def table8(multiclass: list[dict], published: dict) -> Table:
    """Table 8: multiclass training and validation accuracy."""
    table = Table(
        "table8",
        "Table 8 (thesis): ISIC multiclass task, accuracy %",
        ["model", "family", "train accuracy", "val accuracy", "published train accuracy", "published val accuracy"],
    )
    for model, run, pub in _thesis_rows(multiclass, published["thesis"]["table8"]):
        table.rows.append(
            [
                model,
                *_run_cells(run, [("train.accuracy", True), ("val.accuracy", True)]),
                pub.get("train_accuracy"),
                pub.get("val_accuracy"),
            ]
        )
    return table


def table9(multiclass: list[dict], published: dict) -> Table:
    """Table 9: multiclass test AUC (one-vs-rest, macro) and validation accuracy."""
    table = Table(
        "table9",
        "Table 9 (thesis): ISIC multiclass task, test AUC and validation accuracy %",
        [
            "model",
            "family",
            "test AUC",
            "test accuracy",
            "val accuracy",
            "published test AUC",
            "published val accuracy",
            "published source",
        ],
    )
    rows = published["thesis"]["table9"]
    keys = [("test.roc_auc_ovr_macro", False), ("test.accuracy", True), ("val.accuracy", True)]
    for model, run, pub in _thesis_rows(multiclass, rows):
        table.rows.append(
            [model, *_run_cells(run, keys), pub.get("test_auc"), pub.get("val_accuracy"), pub.get("source")]
        )
    for name, pub in rows.get("literature", {}).items():
        table.rows.append([name, None, None, None, None, pub["test_auc"], pub["val_accuracy"], pub["source"]])
    return table


def table10(top_filters: list[dict], published: dict) -> Table:
    """Table 10: the five most activated filters of the last convolutional layer.

    ``top_filters`` holds one entry per model of this run: ``model``, ``family`` and, per thesis
    image set (``binary_outlier``, ``multiclass``), this run's filter indices.
    """
    table = Table(
        "table10",
        "Table 10 (thesis): top five most activated filters, last convolutional layer",
        [
            "model",
            "family",
            "binary outlier set",
            "multiclass set",
            "published binary outlier set",
            "published multiclass set",
        ],
    )
    for model, run, pub in _thesis_rows(top_filters, published["thesis"]["table10"]):
        table.rows.append(
            [
                model,
                *_run_cells(run, [("binary_outlier", False), ("multiclass", False)]),
                pub.get("binary_outlier"),
                pub.get("multiclass"),
            ]
        )
    return table


EXPLANATION_METRICS = {  # key in metrics/explanations.json -> what the table shows
    "ira_lift": "IRA lift (IRA / Otsu mask area; 1 = a map placed at random)",
    "ira": "IRA, %",
    "pointing_game": "pointing game, % of images",
    "relevance_mass_accuracy": "relevance mass accuracy, %",
    "top_k_intersection": "top-k intersection, %",
}


def explanation_runs(explanations: dict) -> dict[str, dict[str, dict]]:
    """The backbone -> variant -> method -> metrics part of ``metrics/explanations.json`` (it also holds
    the conventions and the seed)."""
    return {
        backbone: variants for backbone, variants in explanations.items() if backbone not in ("conventions", "seed")
    }


def _run_columns(runs: dict[str, dict[str, dict]]) -> tuple[list[tuple[str, str]], list[str]]:
    columns = [(backbone, variant) for backbone, variants in runs.items() for variant in variants]
    methods = list(dict.fromkeys(m for variants in runs.values() for methods in variants.values() for m in methods))
    return columns, methods


def explanation_tables(explanations: dict, randomization: dict) -> list[Table]:
    """The explanation benchmark: one table per metric (methods as rows, backbone / variant as columns,
    baselines included), then the randomization test's last step."""
    runs = explanation_runs(explanations)
    columns, methods = _run_columns(runs)
    heads = [f"{backbone} {variant}" for backbone, variant in columns]
    built = []
    for key, title in EXPLANATION_METRICS.items():
        table = Table(f"explanations_{key}", f"Explanation benchmark: {title}", ["method", *heads])
        scale = (lambda v: v) if key == "ira_lift" else percent
        for method in methods:
            table.rows.append([method, *(scale(runs[b][v].get(method, {}).get(key)) for b, v in columns)])
        counts = "; ".join(
            f"{b} {v}: {first.get('images_evaluated')} ({first.get('images_correct_explained')} classified correctly)"
            for b, v in columns
            for first in [next(iter(runs[b][v].values()), {})]
        )
        table.note = (
            f"BreCaHAD images scored per classifier: {counts}. An image whose map is zero everywhere "
            "counts with 0 where paper.evaluate.constant_heatmap is zero (the default)."
        )
        built.append(table)
    rand = explanation_runs(randomization)
    table = Table(
        "randomization",
        "Randomization test (Adebayo et al. 2018): Spearman with every layer shuffled",
        ["method", *heads],
    )
    failing: dict[str, list[str]] = {}
    for method in methods:
        cells = []
        for b, v in columns:
            result = (rand.get(b, {}).get(v) or {}).get(method, {})
            cells.append(result.get("final_spearman"))
            if result.get("fails"):
                failing.setdefault(method, []).append(f"{b} {v}")
        table.rows.append([method, *cells])
    limit = next((c.get("max_spearman") for c in randomization.get("conventions", {}).values()), None)
    table.note = (
        f"Mean Spearman rank correlation between each method's map with the trained weights and with every "
        f"parameter layer shuffled; above {limit} the method fails (its maps do not depend on what the model "
        "learnt). Failing: " + ("; ".join(f"{m} ({', '.join(w)})" for m, w in failing.items()) or "none") + "."
    )
    built.append(table)
    return built
