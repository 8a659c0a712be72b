"""ROC curves as tables for ``dvc plots``: columns ``fpr`` and ``tpr``.

The AUCs reported in the metrics are computed exactly by :mod:`medinterp.evaluation.classification`;
these tables are for drawing. The binary curve is scikit-learn's; the macro-average curve is ours,
as scikit-learn has no averaged ROC curve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from medinterp.evaluation.classification import roc_curve

GRID_POINTS = 101


def roc_table(y_true, score) -> pd.DataFrame:
    """Every point of the binary ROC curve, from (0, 0) to (1, 1)."""
    fpr, tpr, _ = roc_curve(y_true, score)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr})


def macro_roc_table(y_true, prob, points: int = GRID_POINTS) -> pd.DataFrame:  # ours: sklearn averages AUCs, not curves
    """The macro-average one-vs-rest ROC curve: each class's curve (linear between its points, as
    the trapezoidal AUC reads it) sampled on a common false-positive-rate grid, then averaged over
    the classes for which the curve is defined (present, and not the only class present)."""
    y_true = np.asarray(y_true, dtype=int)
    prob = np.asarray(prob, dtype=np.float64)
    grid = np.linspace(0.0, 1.0, points)
    curves = []
    for c in range(prob.shape[1]):
        positive = y_true == c
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, prob[:, c])
        curves.append(_sample(fpr, tpr, grid))
    tpr = np.mean(curves, axis=0) if curves else np.full(points, np.nan)
    # the curve starts at (0, 0) and may rise straight up from there
    return pd.DataFrame({"fpr": np.r_[0.0, grid], "tpr": np.r_[0.0, tpr]})


def _sample(fpr: np.ndarray, tpr: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The piecewise-linear curve through the ROC points at ``x``; where several points share one
    fpr (a vertical step), the value there is the top of the step."""
    j = np.clip(np.searchsorted(fpr, x, side="right") - 1, 0, len(fpr) - 2)
    x0, x1, y0, y1 = fpr[j], fpr[j + 1], tpr[j], tpr[j + 1]
    t = np.divide(x - x0, x1 - x0, out=np.ones_like(x), where=x1 > x0)
    return y0 + t * (y1 - y0)
