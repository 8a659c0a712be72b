"""The contents of an ISIC model's reports, ``metrics/isic/<entry>/binary.json`` and
``metrics/isic/<entry>/multiclass.json`` (:mod:`medinterp.isic.layout`).

Numbers sit under short dotted keys (``cv.val_roc_auc_mean``,
``test.roc_auc``, ``folds.fold0.val_f1``, ``per_class.test.MEL.recall``), so ``dvc metrics diff``
and ``dvc exp show`` list them; confusion matrices are lists, which DVC skips but people and the
report read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medinterp.evaluation.classification import multiclass_metrics
from medinterp.evaluation.scalars import scalars
from medinterp.isic.crossval import CrossValidation
from medinterp.training.loop import FitResult

PER_CLASS_KEYS = ("precision", "recall", "f1", "roc_auc", "support")


def run_block(model: str, family: str, init_used: str, seed: int, profile: str, image_size: int) -> dict[str, Any]:
    """What produced the numbers: the first keys of both reports."""
    return {
        "model": model,
        "family": family,
        "init_used": init_used,
        "seed": seed,
        "profile": profile,
        "image_size": image_size,
    }


def binary_report(
    cv: CrossValidation, test_labels: np.ndarray, class_names: list[str], run: dict[str, Any], settings: dict[str, Any]
) -> dict[str, Any]:
    """Cross-validation (mean and std over folds, each fold), the best fold's model on the test
    set (the thesis's Table 7), and the pooled out-of-fold validation predictions."""
    return {
        **run,
        "cv": {"folds": len(cv.folds), **cv.summary},
        "test": {
            "fold": cv.best_fold,
            "n": int(len(test_labels)),
            **scalars(test_labels, cv.test_prob, class_names, confusion=True),
        },
        "val_pooled": scalars(cv.labels, cv.val_prob, class_names, confusion=True),
        "folds": {f"fold{row['fold']}": {k: v for k, v in row.items() if k != "fold"} for row in cv.folds},
        "settings": settings,
    }


def multiclass_report(
    fit: FitResult,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    class_names: list[str],
    run: dict[str, Any],
    class_weights: list[float],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Training and validation at the best epoch (Table 8), each evaluated split's accuracy and
    one-vs-rest macro ROC AUC (Table 9), per-class scores and confusion matrices.

    ``splits`` maps a split name (``val``, ``test``) to its labels and probabilities."""
    full = {name: multiclass_metrics(labels, prob, class_names) for name, (labels, prob) in splits.items()}
    report: dict[str, Any] = {**run, "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run}
    report["train"] = {k[len("train_") :]: v for k, v in fit.best.items() if k.startswith("train_")}
    for name, (labels, prob) in splits.items():
        report[name] = {"n": int(len(labels)), **scalars(labels, prob, class_names)}
    report["val"] = {"loss": fit.best["val_loss"], **report.get("val", {})}
    report["per_class"] = {
        name: {
            c: {k: m["per_class"][c][k] for k in PER_CLASS_KEYS if m["per_class"][c][k] is not None}
            for c in class_names
        }
        for name, m in full.items()
    }
    report["confusion_matrix"] = {name: m["confusion_matrix"] for name, m in full.items()}
    report["confusion_matrix_normalized"] = {name: m["confusion_matrix_normalized"] for name, m in full.items()}
    report["class_weights"] = dict(zip(class_names, class_weights))
    report["settings"] = settings
    return report
