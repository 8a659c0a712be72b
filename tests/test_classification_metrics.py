"""Our classification metrics against scikit-learn's on fixed predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from medinterp.evaluation.classification import binary_metrics, multiclass_metrics, roc_auc, roc_curve

RNG = np.random.default_rng(3)
Y = RNG.integers(0, 2, 60)
P = np.clip(0.3 * Y + RNG.random(60) * 0.7, 0, 1).round(2)   # rounded: many tied scores


def test_binary_metrics_match_sklearn():
    ours = binary_metrics(Y, P)
    pred = (P >= 0.5).astype(int)
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(Y, pred))
    assert ours["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(Y, pred))
    assert ours["roc_auc"] == pytest.approx(sk.roc_auc_score(Y, P))
    assert ours["precision"] == pytest.approx(sk.precision_score(Y, pred))
    assert ours["recall"] == pytest.approx(sk.recall_score(Y, pred))
    assert ours["f1"] == pytest.approx(sk.f1_score(Y, pred))
    assert ours["confusion_matrix"] == sk.confusion_matrix(Y, pred).tolist()


def test_roc_curve_matches_sklearn_points():
    fpr, tpr, _ = roc_curve(Y, P)
    sk_fpr, sk_tpr, _ = sk.roc_curve(Y, P, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)


def test_hand_computed_binary_example():
    # TP=2 FN=1 FP=1 TN=2 at threshold 0.5
    m = binary_metrics([1, 1, 1, 0, 0, 0], [0.9, 0.6, 0.2, 0.7, 0.1, 0.3])
    assert m["confusion_matrix"] == [[2, 1], [1, 2]]
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["roc_auc"] == pytest.approx(6 / 9)   # 6 of the 9 (positive, negative) pairs ranked right


def test_auc_undefined_for_one_class_and_no_predicted_positives():
    assert roc_auc([1, 1, 1], [0.2, 0.5, 0.9]) is None
    m = binary_metrics([1, 0, 1], [0.1, 0.2, 0.3])
    assert m["precision"] == 0.0 and m["recall"] == 0.0 and m["f1"] == 0.0


def test_multiclass_metrics_match_sklearn():
    k = 4
    y = RNG.integers(0, k, 80)
    logits = RNG.normal(size=(80, k)) + 1.5 * np.eye(k)[y]
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    names = ["A", "B", "C", "D"]
    ours = multiclass_metrics(y, prob, names)
    pred = prob.argmax(axis=1)
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(y, pred))
    assert ours["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y, pred))
    assert ours["roc_auc_ovr_macro"] == pytest.approx(sk.roc_auc_score(y, prob, multi_class="ovr", average="macro"))
    precision = sk.precision_score(y, pred, average=None, zero_division=0)
    recall = sk.recall_score(y, pred, average=None, zero_division=0)
    for c, name in enumerate(names):
        assert ours["per_class"][name]["precision"] == pytest.approx(precision[c])
        assert ours["per_class"][name]["recall"] == pytest.approx(recall[c])
    np.testing.assert_allclose(ours["confusion_matrix_normalized"], sk.confusion_matrix(y, pred, normalize="true"), atol=1e-6)


def test_multiclass_shape_is_checked():
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        multiclass_metrics([0, 1], np.ones((2, 2)) / 2, ["a", "b", "c"])
