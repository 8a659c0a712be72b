"""Classification metrics from true labels and predicted probabilities, written once for both families.

Binary: ``prob`` is P(class 1) per image and the prediction is ``prob >= threshold``. Multiclass:
``prob`` is ``(N, K)`` and the prediction is the arg-max. ROC AUC is the area under the ROC curve
by the trapezoidal rule over all thresholds (ties handled as scikit-learn does); it is ``None`` when
only one class is present, where it is undefined. Precision, recall and F1 of a class nobody
predicted (or nobody has) are 0, as scikit-learn's ``zero_division=0``.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """``[true, predicted]`` counts."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return matrix


def roc_curve(y_true, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct score, from (0, 0) up; and the thresholds."""
    y_true = np.asarray(y_true, dtype=int)
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(-score, kind="mergesort")
    score, y_true = score[order], y_true[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(y_true)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    positives, negatives = tps[-1], fps[-1]
    tpr = np.r_[0.0, tps / positives] if positives else np.full(len(tps) + 1, np.nan)
    fpr = np.r_[0.0, fps / negatives] if negatives else np.full(len(fps) + 1, np.nan)
    return fpr, tpr, np.r_[np.inf, score[last_of_tie]]


def roc_auc(y_true, score) -> float | None:
    y_true = np.asarray(y_true, dtype=int)
    if len(np.unique(y_true)) < 2:
        return None
    fpr, tpr, _ = roc_curve(y_true, score)
    return float(np.trapezoid(tpr, fpr))


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def per_class(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and F1 per class from a confusion matrix."""
    tp = np.diag(matrix).astype(np.float64)
    precision = _safe_divide(tp, matrix.sum(axis=0))
    recall = _safe_divide(tp, matrix.sum(axis=1))
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1}


def binary_metrics(y_true, prob, threshold: float = 0.5) -> dict:
    """Accuracy, balanced accuracy, ROC AUC, precision, recall, F1 (of class 1) and the confusion matrix."""
    y_true = np.asarray(y_true, dtype=int)
    prob = np.asarray(prob, dtype=np.float64)
    y_pred = (prob >= threshold).astype(int)
    matrix = confusion_matrix(y_true, y_pred, 2)
    scores = per_class(matrix)
    present = matrix.sum(axis=1) > 0
    return {
        "n": int(len(y_true)),
        "accuracy": float(np.mean(y_pred == y_true)) if len(y_true) else None,
        "balanced_accuracy": float(scores["recall"][present].mean()) if present.any() else None,
        "roc_auc": roc_auc(y_true, prob),
        "precision": float(scores["precision"][1]),
        "recall": float(scores["recall"][1]),
        "f1": float(scores["f1"][1]),
        "confusion_matrix": matrix.tolist(),
    }


def multiclass_metrics(y_true, prob, class_names: list[str]) -> dict:
    """Accuracy, balanced accuracy, one-vs-rest macro ROC AUC, per-class precision/recall/F1,
    raw and row-normalised confusion matrices."""
    y_true = np.asarray(y_true, dtype=int)
    prob = np.asarray(prob, dtype=np.float64)
    k = len(class_names)
    if prob.ndim != 2 or prob.shape[1] != k:
        raise ValueError(f"expected probabilities of shape (N, {k}), got {prob.shape}")
    y_pred = prob.argmax(axis=1)
    matrix = confusion_matrix(y_true, y_pred, k)
    scores = per_class(matrix)
    aucs = [roc_auc(y_true == c, prob[:, c]) for c in range(k)]
    defined = [a for a in aucs if a is not None]
    present = matrix.sum(axis=1) > 0
    return {
        "n": int(len(y_true)),
        "accuracy": float(np.mean(y_pred == y_true)) if len(y_true) else None,
        "balanced_accuracy": float(scores["recall"][present].mean()) if present.any() else None,
        "roc_auc_ovr_macro": float(np.mean(defined)) if defined else None,
        "roc_auc_classes": len(defined),
        "per_class": {
            name: {"precision": float(scores["precision"][c]), "recall": float(scores["recall"][c]),
                   "f1": float(scores["f1"][c]), "roc_auc": aucs[c], "support": int(matrix[c].sum())}
            for c, name in enumerate(class_names)
        },
        "confusion_matrix": matrix.tolist(),
        "confusion_matrix_normalized": _safe_divide(matrix, matrix.sum(axis=1, keepdims=True)).round(6).tolist(),
    }
