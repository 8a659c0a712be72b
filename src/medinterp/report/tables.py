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
    key: str                       # the seed's table, e.g. "table2"
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
    """Table 2: accuracy and IRA on BreCaHAD per backbone and training variant."""
    table = Table("table2", "Table 2 (paper): classification accuracy and interpretability on BreCaHAD, %", [
        "backbone", "variant", "weights used", "images evaluated", "accuracy", "IRA", "SD-IRA", "IRM", "mask area",
        "published weights", "published accuracy", "published IRA", "published SD-IRA", "published IRM"],
        note="IRA, SD-IRA and IRM over the images classified malignant correctly; `mask area` is the mean share "
             "of the image inside the Otsu mask, the IRA a heatmap placed at random would reach.")
    run = run or {}
    for backbone, variants in published["paper"]["table2"].items():
        for variant, pub in variants.items():
            row = (run.get(backbone) or {}).get(variant) or {}
            table.rows.append([
                backbone, variant, row.get("weights_used"), row.get("images_evaluated"),
                percent(row.get("accuracy")), percent(row.get("ira")), percent(row.get("sd_ira")),
                percent(row.get("irm")), percent(row.get("mask_area")),
                pub["weights"], pub["accuracy"], pub["ira"], pub["sd_ira"], pub["irm"]])
    return table


def _models(run: dict | None, published_rows: dict) -> list[str]:
    names = [m for m in published_rows if m != "literature"]
    model = (run or {}).get("model")
    return names + ([model] if model and model not in names else [])


def _run_cells(run: dict | None, model: str, keys: list[tuple[str, bool]]) -> list[Any]:
    """This run's values for ``model`` (empty for the models this run did not train)."""
    if not run or run.get("model") != model:
        return [None] * len(keys)
    return [percent(_get(run, k)) if as_percent else _get(run, k) for k, as_percent in keys]


def table6(binary: dict | None, published: dict) -> Table:
    """Table 6: binary task, training and validation (means over the folds) and test accuracy."""
    keys = [("cv.train_accuracy_mean", True), ("cv.train_loss_mean", False), ("cv.val_accuracy_mean", True),
            ("cv.val_loss_mean", False), ("test.accuracy", True)]
    table = Table("table6", "Table 6 (thesis): ISIC binary task, accuracy % and loss", [
        "model", "train accuracy", "train loss", "val accuracy", "val loss", "test accuracy",
        "published train accuracy", "published train loss", "published val accuracy", "published val loss",
        "published test accuracy"],
        note="Training and validation: means over the five folds; test: the kept fold's model on ISIC 2016.")
    rows = published["thesis"]["table6"]
    for model in _models(binary, rows):
        pub = rows.get(model, {})
        table.rows.append([model, *_run_cells(binary, model, keys),
                           *(pub.get(k) for k in ("train_accuracy", "train_loss", "val_accuracy", "val_loss", "test_accuracy"))])
    return table


def table7(binary: dict | None, published: dict) -> Table:
    """Table 7: ISIC 2016 test AUC and accuracy, with the literature rows the thesis compares with."""
    table = Table("table7", "Table 7 (thesis): ISIC 2016 test set, binary task", [
        "model", "AUC", "accuracy", "published AUC", "published accuracy", "published source"])
    rows = published["thesis"]["table7"]
    for model in _models(binary, rows):
        pub = rows.get(model, {})
        table.rows.append([model, *_run_cells(binary, model, [("test.roc_auc", False), ("test.accuracy", True)]),
                           pub.get("auc"), pub.get("accuracy"), pub.get("source")])
    for name, pub in rows.get("literature", {}).items():
        table.rows.append([name, None, None, pub["auc"], pub["accuracy"], pub["source"]])
    return table


def table8(multiclass: dict | None, published: dict) -> Table:
    """Table 8: multiclass training and validation accuracy."""
    table = Table("table8", "Table 8 (thesis): ISIC multiclass task, accuracy %", [
        "model", "train accuracy", "val accuracy", "published train accuracy", "published val accuracy"])
    rows = published["thesis"]["table8"]
    for model in _models(multiclass, rows):
        pub = rows.get(model, {})
        table.rows.append([model, *_run_cells(multiclass, model, [("train.accuracy", True), ("val.accuracy", True)]),
                           pub.get("train_accuracy"), pub.get("val_accuracy")])
    return table


def table9(multiclass: dict | None, published: dict) -> Table:
    """Table 9: multiclass test AUC (one-vs-rest, macro) and validation accuracy."""
    table = Table("table9", "Table 9 (thesis): ISIC multiclass task, test AUC and validation accuracy %", [
        "model", "test AUC", "test accuracy", "val accuracy", "published test AUC", "published val accuracy",
        "published source"])
    rows = published["thesis"]["table9"]
    keys = [("test.roc_auc_ovr_macro", False), ("test.accuracy", True), ("val.accuracy", True)]
    for model in _models(multiclass, rows):
        pub = rows.get(model, {})
        table.rows.append([model, *_run_cells(multiclass, model, keys), pub.get("test_auc"), pub.get("val_accuracy"),
                           pub.get("source")])
    for name, pub in rows.get("literature", {}).items():
        table.rows.append([name, None, None, None, pub["test_auc"], pub["val_accuracy"], pub["source"]])
    return table


def table10(top_filters: dict[str, dict[str, list[int]]] | None, model: str | None, published: dict) -> Table:
    """Table 10: the five most activated filters of the last convolutional layer.

    ``top_filters`` maps the thesis's image sets (``binary_outlier``, ``multiclass``) to this run's
    filter indices for ``model``.
    """
    table = Table("table10", "Table 10 (thesis): top five most activated filters, last convolutional layer", [
        "model", "binary outlier set", "multiclass set", "published binary outlier set", "published multiclass set"])
    rows = published["thesis"]["table10"]
    for name in _models({"model": model} if model else None, rows):
        mine = top_filters if name == model and top_filters else {}
        pub = rows.get(name, {})
        table.rows.append([name, mine.get("binary_outlier"), mine.get("multiclass"),
                           pub.get("binary_outlier"), pub.get("multiclass")])
    return table
