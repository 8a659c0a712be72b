"""The classification metrics on hand-computed cases (what guards the wiring to scikit-learn, which
computes most of them) and against scikit-learn's one-call functions on random predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from medinterp.evaluation.classification import binary_metrics, multiclass_metrics, roc_auc, roc_curve

RNG = np.random.default_rng(3)
Y = RNG.integers(0, 2, 60)
P = np.clip(0.3 * Y + RNG.random(60) * 0.7, 0, 1).round(2)  # rounded: many tied scores


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
    assert (
        m["precision"] == pytest.approx(2 / 3)
        and m["recall"] == pytest.approx(2 / 3)
        and m["f1"] == pytest.approx(2 / 3)
    )
    assert m["accuracy"] == pytest.approx(4 / 6) and m["balanced_accuracy"] == pytest.approx(2 / 3) and m["n"] == 6
    assert m["roc_auc"] == pytest.approx(6 / 9)  # 6 of the 9 (positive, negative) pairs ranked right
    # TP=1 FN=2 FP=0 TN=3 at threshold 0.8: precision 1, recall 1/3, F1 = 2 * 1/3 / (4/3)
    m = binary_metrics([1, 1, 1, 0, 0, 0], [0.9, 0.6, 0.2, 0.7, 0.1, 0.3], threshold=0.8)
    assert m["confusion_matrix"] == [[3, 0], [2, 1]]
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((1.0, 1 / 3, 0.5))
    assert m["balanced_accuracy"] == pytest.approx((1 + 1 / 3) / 2)


def test_hand_computed_roc_curve_with_a_tie():
    # sorted: 0.9 (pos), 0.9 (neg) tied, 0.5 (pos), 0.1 (neg); one point per distinct score, from (0, 0)
    fpr, tpr, thresholds = roc_curve([1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1])
    assert fpr.tolist() == [0.0, 0.5, 0.5, 1.0] and tpr.tolist() == [0.0, 0.5, 1.0, 1.0]
    assert thresholds.tolist() == [np.inf, 0.9, 0.5, 0.1]
    # pairs (0.9, 0.9) tie: 1/2, (0.9, 0.1) 1, (0.5, 0.9) 0, (0.5, 0.1) 1
    assert roc_auc([1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1]) == pytest.approx(2.5 / 4)
    fpr, tpr, _ = roc_curve([1, 1, 0, 0], [0.5] * 4)  # all scores equal: the diagonal, AUC 1/2
    assert fpr.tolist() == [0.0, 1.0] and tpr.tolist() == [0.0, 1.0]
    assert roc_auc([1, 1, 0, 0], [0.5] * 4) == 0.5


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
    np.testing.assert_allclose(
        ours["confusion_matrix_normalized"], sk.confusion_matrix(y, pred, normalize="true"), atol=1e-6
    )


def test_hand_computed_multiclass_example_with_an_absent_class():
    prob = np.array(
        [
            [0.7, 0.1, 0.1, 0.1],
            [0.6, 0.2, 0.1, 0.1],
            [0.3, 0.4, 0.2, 0.1],  # A: predicted A, A, B
            [0.2, 0.5, 0.2, 0.1],
            [0.1, 0.3, 0.5, 0.1],  # B: predicted B, C
            [0.1, 0.1, 0.7, 0.1],
        ]
    )  # C: predicted C; no D
    m = multiclass_metrics([0, 0, 0, 1, 1, 2], prob, ["A", "B", "C", "D"])
    assert m["confusion_matrix"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert (
        m["confusion_matrix_normalized"][0] == [0.666667, 0.333333, 0.0, 0.0]
        and m["confusion_matrix_normalized"][3] == [0.0] * 4
    )
    expected = {"A": (1.0, 2 / 3, 0.8, 3, 1.0), "B": (0.5, 0.5, 0.5, 2, 7 / 8), "C": (0.5, 1.0, 2 / 3, 1, 1.0)}
    for name, (precision, recall, f1, support, auc) in expected.items():
        got = m["per_class"][name]
        assert (got["precision"], got["recall"], got["f1"], got["roc_auc"]) == pytest.approx(
            (precision, recall, f1, auc)
        ), name
        assert got["support"] == support
    assert m["per_class"]["D"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "roc_auc": None, "support": 0}
    assert m["accuracy"] == pytest.approx(4 / 6) and m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["roc_auc_classes"] == 3 and m["roc_auc_ovr_macro"] == pytest.approx((1 + 7 / 8 + 1) / 3)


def test_an_empty_set_scores_zero_counts():
    m = binary_metrics([], [])
    assert m == {
        "n": 0,
        "accuracy": None,
        "balanced_accuracy": None,
        "roc_auc": None,
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "confusion_matrix": [[0, 0], [0, 0]],
    }
    m = multiclass_metrics(np.zeros(0, int), np.zeros((0, 3)), ["a", "b", "c"])
    assert (
        m["n"] == 0
        and m["accuracy"] is None
        and m["roc_auc_ovr_macro"] is None
        and m["confusion_matrix"] == [[0] * 3] * 3
    )
    assert m["per_class"]["a"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "roc_auc": None, "support": 0}


def test_multiclass_shape_is_checked():
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        multiclass_metrics([0, 1], np.ones((2, 2)) / 2, ["a", "b", "c"])
