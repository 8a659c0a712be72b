"""Stratified (optionally grouped) folds and hold-outs, the building block of every split here."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from medinterp.errors import ConfigError


def stratified_folds(labels, groups, n_folds: int, seed: int) -> np.ndarray:
    """Fold number (0..n_folds-1) per row; rows of one group always share a fold.

    ``groups=None`` gives plain stratified folds. Stratification is as close as the group sizes
    allow (scikit-learn's StratifiedGroupKFold).
    """
    labels = np.asarray(labels)
    n_groups = len(set(groups)) if groups is not None else len(labels)
    if n_folds < 2:
        raise ConfigError(f"need at least 2 folds, got {n_folds}")
    if n_groups < n_folds:
        raise ConfigError(f"cannot make {n_folds} folds from {n_groups} {'groups' if groups is not None else 'rows'}")
    smallest = int(np.unique(labels, return_counts=True)[1].min())
    if smallest < n_folds:
        raise ConfigError(f"the smallest class has {smallest} images, fewer than the {n_folds} folds it must be spread over")
    if groups is None:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(labels, labels)
    else:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(labels, labels, np.asarray(groups))
    fold = np.full(len(labels), -1, dtype=int)
    for k, (_, held_out) in enumerate(splitter):
        fold[held_out] = k
    return fold


def stratified_holdout(labels, groups, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a held-out part of about ``fraction`` of the rows.

    The hold-out is one fold of ``round(1 / fraction)`` stratified (grouped) folds, so 0.2 gives
    one fold of five, as in an 80/20 split. The seed picks the fold too: scikit-learn's grouped
    folds place the largest groups first, so always taking fold 0 would always hold them out.
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"hold-out fraction must be in (0, 1), got {fraction}")
    n_folds = max(2, round(1 / fraction))
    chosen = np.random.default_rng(seed).integers(n_folds)
    return stratified_folds(labels, groups, n_folds, seed) == chosen


def counts_by(frame, column: str, classes) -> dict[str, dict[str, int]]:
    """``{split: {class: n, ..., "total": n}}`` for the split column ``column``."""
    out = {}
    for value in sorted(frame[column].unique(), key=str):
        part = frame[frame[column] == value]
        per_class = {str(c): int((part["class_name"] == c).sum()) for c in classes}
        out[str(value)] = {**per_class, "total": int(len(part))}
    return out
