"""Per-image predictions as tables: the CSVs the ISIC stages write, the confusion-matrix plots read
and later stages (report, inference checks) compare against."""

from __future__ import annotations

import numpy as np
import pandas as pd

THRESHOLD = 0.5


def predicted_labels(prob: np.ndarray) -> np.ndarray:
    """``prob >= 0.5`` for binary ``(N,)`` probabilities, the arg-max for ``(N, K)``."""
    prob = np.asarray(prob)
    return (prob >= THRESHOLD).astype(int) if prob.ndim == 1 else prob.argmax(axis=1)


def predictions_table(
    frame: pd.DataFrame, prob: np.ndarray, class_names: list[str], extra: dict | None = None
) -> pd.DataFrame:
    """``image``, ``image_id``, any ``extra`` columns, ``label``, ``actual`` and ``predicted`` (class
    names), then the probabilities: ``prob_<class 1>`` for a binary model (P of the positive class),
    ``prob_<class>`` for each class otherwise."""
    prob = np.asarray(prob, dtype=np.float64)
    labels = frame["label"].to_numpy()
    out = pd.DataFrame({"image": frame["image"].to_numpy(), "image_id": frame["image_id"].to_numpy()})
    for key, values in (extra or {}).items():
        out[key] = np.asarray(values)
    out["label"] = labels
    out["actual"] = [class_names[k] for k in labels]
    out["predicted"] = [class_names[k] for k in predicted_labels(prob)]
    if prob.ndim == 1:
        out[f"prob_{class_names[1]}"] = prob
    else:
        for k, name in enumerate(class_names):
            out[f"prob_{name}"] = prob[:, k]
    return out
