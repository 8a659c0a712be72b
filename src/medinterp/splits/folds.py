"""Stratified (optionally grouped) folds and hold-outs, the building block of every split here."""

from __future__ import annotations

import math

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from medinterp.errors import FoldError


def stratified_folds(labels, groups, n_folds: int, seed: int) -> np.ndarray:
    """Fold number (0..n_folds-1) per row; rows of one group always share a fold.

    ``groups=None`` gives plain stratified folds. Stratification is as close as the group sizes
    allow (scikit-learn's StratifiedGroupKFold).
    """
    labels = np.asarray(labels)
    grouped = groups is not None
    n_groups = len(set(groups)) if grouped else len(labels)
    if n_folds < 2:
        raise FoldError(f"need at least 2 folds, got {n_folds}", "folds", n_folds)
    if n_groups < n_folds:
        raise FoldError(
            f"cannot make {n_folds} folds from {n_groups} {'groups' if grouped else 'rows'}",
            "groups",
            n_folds,
            n_groups,
            grouped=grouped,
        )
    values, counts = np.unique(labels, return_counts=True)
    smallest = int(counts.min())
    if smallest < n_folds:
        label = values[counts.argmin()].item()
        raise FoldError(
            f"the smallest class has {smallest} images, fewer than the {n_folds} folds it must be spread over",
            "class",
            n_folds,
            smallest,
            label,
            grouped,
        )
    if groups is None:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(labels, labels)
    else:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(
            labels, labels, np.asarray(groups)
        )
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
        raise FoldError(f"hold-out fraction must be in (0, 1), got {fraction}", "fraction", 0)
    n_folds = holdout_folds(fraction)
    chosen = np.random.default_rng(seed).integers(n_folds)
    return stratified_folds(labels, groups, n_folds, seed) == chosen


def holdout_folds(fraction: float) -> int:
    """How many folds :func:`stratified_holdout` makes for ``fraction`` (it holds out one of them)."""
    return max(2, round(1 / fraction))


def fraction_for(n_folds: int) -> float:
    """The smallest fraction (two decimals) whose hold-out needs no more than ``n_folds`` folds (``n_folds >= 2``)."""
    return math.ceil(100 / (n_folds + 0.5) + 1e-9) / 100


def either(*fixes: str) -> str:
    """``"a, b or c"`` from the non-empty ``fixes``: the ways out a split error offers."""
    fixes = tuple(f for f in fixes if f)
    return fixes[0] if len(fixes) == 1 else ", ".join(fixes[:-1]) + " or " + fixes[-1]


def counts_by(frame, column: str, classes) -> dict[str, dict[str, int]]:
    """``{split: {class: n, ..., "total": n}}`` for the split column ``column``."""
    out = {}
    for value in sorted(frame[column].unique(), key=str):
        part = frame[frame[column] == value]
        per_class = {str(c): int((part["class_name"] == c).sum()) for c in classes}
        out[str(value)] = {**per_class, "total": int(len(part))}
    return out
