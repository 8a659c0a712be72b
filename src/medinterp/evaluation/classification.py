"""Classification metrics from true labels and predicted probabilities, written once for both families.

Binary: ``prob`` is P(class 1) per image and the prediction is ``prob >= threshold``. Multiclass:
``prob`` is ``(N, K)`` and the prediction is the arg-max. The confusion matrix, ROC curve, AUC and
precision / recall / F1 are scikit-learn's. ROC AUC is the trapezoidal area under the ROC curve
with every threshold kept; it is ``None`` when only one class is present, where it is undefined.
Precision, recall and F1 of a class nobody predicted (or nobody has) are 0 (``zero_division=0``).
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as sk


def roc_curve(y_true, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct score, from (0, 0) up; and the thresholds."""
    return sk.roc_curve(np.asarray(y_true, dtype=int), np.asarray(score, dtype=np.float64), drop_intermediate=False)


def roc_auc(y_true, score) -> float | None:
    y_true = np.asarray(y_true, dtype=int)
    if len(np.unique(y_true)) < 2:
        return None
    fpr, tpr, _ = roc_curve(y_true, score)
    return sk.auc(
        fpr, tpr
    )  # not roc_auc_score, whose curve drops collinear points: the same area but not to the last bit


def _per_class(y_true, y_pred, n_classes: int) -> dict[str, np.ndarray]:
    """The confusion matrix (``confusion``, and row-normalised ``normalized``) and per class
    precision, recall, F1 and support."""
    labels = np.arange(n_classes)
    if len(y_true) == 0:  # scikit-learn refuses an empty set: every count and score of one is 0
        zeros = np.zeros(n_classes)
        return {
            "confusion": np.zeros((n_classes, n_classes), dtype=np.int64),
            "normalized": np.zeros((n_classes, n_classes)),
            "precision": zeros,
            "recall": zeros,
            "f1": zeros,
            "support": np.zeros(n_classes, dtype=np.int64),
        }
    precision, recall, _, support = sk.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    # F1 is ours, as the harmonic mean of precision and recall: scikit-learn's 2 tp / (2 tp + fp + fn) is equal
    # in exact arithmetic but can differ in the last bit, and the metrics files record F1 to the last bit
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return {
        "confusion": sk.confusion_matrix(y_true, y_pred, labels=labels),
        "normalized": sk.confusion_matrix(y_true, y_pred, labels=labels, normalize="true"),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
    }


def _balanced_accuracy(scores: dict[str, np.ndarray]) -> float | None:
    # the mean recall of the classes present, as sklearn's balanced_accuracy_score, which would warn at every
    # epoch of a validation set that lacks a predicted class
    present = scores["support"] > 0
    return float(scores["recall"][present].mean()) if present.any() else None


def binary_metrics(y_true, prob, threshold: float = 0.5) -> dict:
    """Accuracy, balanced accuracy, ROC AUC, precision, recall, F1 (of class 1) and the confusion matrix."""
    y_true = np.asarray(y_true, dtype=int)
    prob = np.asarray(prob, dtype=np.float64)
    y_pred = (prob >= threshold).astype(int)
    scores = _per_class(y_true, y_pred, 2)
    return {
        "n": int(len(y_true)),
        "accuracy": sk.accuracy_score(y_true, y_pred) if len(y_true) else None,
        "balanced_accuracy": _balanced_accuracy(scores),
        "roc_auc": roc_auc(y_true, prob),
        "precision": float(scores["precision"][1]),
        "recall": float(scores["recall"][1]),
        "f1": float(scores["f1"][1]),
        "confusion_matrix": scores["confusion"].tolist(),
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
    scores = _per_class(y_true, y_pred, k)
    # one-vs-rest per class, averaging the classes present: sklearn's roc_auc_score(multi_class="ovr") refuses
    # a validation set that lacks a class (or, given labels=, makes the average NaN)
    aucs = [roc_auc(y_true == c, prob[:, c]) for c in range(k)]
    defined = [a for a in aucs if a is not None]
    return {
        "n": int(len(y_true)),
        "accuracy": sk.accuracy_score(y_true, y_pred) if len(y_true) else None,
        "balanced_accuracy": _balanced_accuracy(scores),
        "roc_auc_ovr_macro": float(np.mean(defined)) if defined else None,
        "roc_auc_classes": len(defined),
        "per_class": {
            name: {
                "precision": float(scores["precision"][c]),
                "recall": float(scores["recall"][c]),
                "f1": float(scores["f1"][c]),
                "roc_auc": aucs[c],
                "support": int(scores["support"][c]),
            }
            for c, name in enumerate(class_names)
        },
        "confusion_matrix": scores["confusion"].tolist(),
        "confusion_matrix_normalized": scores["normalized"].round(6).tolist(),
    }
