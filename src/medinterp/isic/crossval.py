"""The thesis's binary protocol, framework-free: k-fold cross-validation over the ``fold`` column of
``splits/isic_binary.csv``, every fold's model also tested on the ISIC 2016 test set, and the best
fold's model kept as the task's model.

A family supplies ``train_fold(fold, train_index, val_index)`` returning a trained model
(:class:`medinterp.training.classifier.Trained`); everything else (which rows train and validate,
metrics per fold, mean and standard deviation, out-of-fold predictions, the choice of the best fold)
is here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from medinterp.evaluation.scalars import mean_std, scalars
from medinterp.preprocessing.arrays import ImageTable
from medinterp.training.classifier import Trained
from medinterp.training.loop import direction


@dataclass
class CrossValidation:
    folds: list[dict[str, float]]  # per fold: best epoch, train_*, val_* (with confusion counts), test_*
    summary: dict[str, float]  # <metric>_mean and <metric>_std over the folds
    best_fold: int
    best: Trained  # the best fold's model
    labels: np.ndarray  # of the cross-validated table, row for row
    val_prob: np.ndarray  # out-of-fold: each row predicted by the model it validated
    test_prob: np.ndarray  # the best fold's model on the test set
    train_images_per_second: list[float]  # per fold, for the run log (it depends on the machine)


def fold_indices(folds: np.ndarray, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows that train (every other fold) and validate (``fold``)."""
    folds = np.asarray(folds)
    if not (folds == fold).any():
        raise ValueError(f"fold {fold} has no rows")
    return np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)


def better(value: float | None, best: float | None, metric: str) -> bool:
    """Losses are lower-is-better, every other metric higher-is-better; an undefined value never wins."""
    if value is None or np.isnan(value):
        return False
    if best is None:
        return True
    return value < best if direction(metric) == "min" else value > best


def cross_validate(
    table: ImageTable,
    test: ImageTable,
    class_names: list[str],
    train_fold: Callable[[int, np.ndarray, np.ndarray], Trained],
    best_by: str = "val_roc_auc",
) -> CrossValidation:
    """Train and evaluate one model per fold; keep the one with the best ``best_by`` (a key of the
    fold rows, e.g. ``val_roc_auc`` or ``val_loss``; the first fold wins ties)."""
    folds = table.frame["fold"].to_numpy()
    labels = table.labels
    val_prob: np.ndarray | None = None
    rows: list[dict[str, float]] = []
    speeds: list[float] = []
    best_fold, best, best_value, best_test = -1, None, None, None
    for fold in sorted(np.unique(folds).tolist()):
        train_index, val_index = fold_indices(folds, fold)
        trained = train_fold(fold, train_index, val_index)
        prob = trained.predict(np.asarray(table.images[val_index]))
        if val_prob is None:
            val_prob = np.zeros((len(labels),) + prob.shape[1:])
        val_prob[val_index] = prob
        test_prob = trained.predict(np.asarray(test.images))
        fit = trained.fit
        row = {
            "fold": fold,
            "best_epoch": fit.best_epoch,
            "epochs_run": fit.epochs_run,
            "train_images": len(train_index),
            "val_images": len(val_index),
        }
        row |= {k: v for k, v in fit.best.items() if k.startswith("train_")}
        row["val_loss"] = fit.best["val_loss"]
        row |= {f"val_{k}": v for k, v in scalars(labels[val_index], prob, class_names, confusion=True).items()}
        row |= {f"test_{k}": v for k, v in scalars(test.labels, test_prob, class_names).items()}
        row |= {f"class_weight_{c}": w for c, w in zip(class_names, trained.class_weights)}
        rows.append(row)
        speeds.append(trained.train_images_per_second)
        if better(row.get(best_by), best_value, best_by) or best is None:
            best_fold, best, best_value, best_test = fold, trained, row.get(best_by), test_prob
    summary = mean_std(
        [{k: v for k, v in row.items() if k != "fold" and not k.startswith("class_weight_")} for row in rows]
    )
    return CrossValidation(rows, summary, best_fold, best, labels, val_prob, best_test, speeds)
