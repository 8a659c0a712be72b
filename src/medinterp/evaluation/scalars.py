"""Flat numeric views of the classification metrics, for epoch logs, fold summaries and
``dvc metrics``, which read numbers and skip lists."""

from __future__ import annotations

import math

import numpy as np

from medinterp.evaluation.classification import binary_metrics, multiclass_metrics

BINARY_KEYS = ("accuracy", "balanced_accuracy", "roc_auc", "precision", "recall", "f1")
MULTICLASS_KEYS = ("accuracy", "balanced_accuracy", "roc_auc_ovr_macro")


def confusion_counts(matrix) -> dict[str, int]:
    """``tn, fp, fn, tp`` of a 2 x 2 ``[true, predicted]`` matrix."""
    (tn, fp), (fn, tp) = np.asarray(matrix).tolist()
    return {"tn": tn, "fp": fp, "fn": fn, "tp": tp}


def scalars(y_true, prob, class_names: list[str], confusion: bool = False) -> dict[str, float]:
    """The numeric metrics of a binary (``prob`` of shape ``(N,)``) or multiclass (``(N, K)``)
    prediction; metrics undefined here (ROC AUC with one class present) are left out."""
    prob = np.asarray(prob)
    if prob.ndim == 1:
        full = binary_metrics(y_true, prob)
        out = {k: full[k] for k in BINARY_KEYS}
        if confusion:
            out |= confusion_counts(full["confusion_matrix"])
    else:
        full = multiclass_metrics(y_true, prob, class_names)
        out = {k: full[k] for k in MULTICLASS_KEYS}
    return {k: v for k, v in out.items() if v is not None}


def mean_std(rows: list[dict[str, float]]) -> dict[str, float]:
    """``<key>_mean`` and ``<key>_std`` (population standard deviation, ddof 0) over ``rows``, for
    every key with a value in at least one row; rows without it are left out of that key."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    out: dict[str, float] = {}
    for key in keys:
        values = [float(row[key]) for row in rows if key in row and not math.isnan(float(row[key]))]
        if values:
            out[f"{key}_mean"] = float(np.mean(values))
            out[f"{key}_std"] = float(np.std(values))
    return out
