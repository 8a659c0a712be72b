"""Class weights for imbalanced training sets, framework-free (both families' losses take them).

- ``balanced``: inversely proportional to class frequency, ``n / (k * n_c)``, the rule of
  scikit-learn's ``compute_class_weight("balanced")``; the thesis's binary task (section 4.3.2).
- ``by_frequency_rank``: the thesis's manual multiclass weights, ``rarest`` (0.9) for the class with
  the fewest images down to ``most_frequent`` (0.2) for the one with the most. The thesis names only
  those two ends; the classes between get evenly spaced values by their rank, and classes with
  equal counts share the mean of their ranks' values.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from medinterp.errors import ConfigError


def class_counts(labels, n_classes: int) -> np.ndarray:
    labels = np.asarray(labels, dtype=int)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    return np.bincount(labels, minlength=n_classes)


def balanced(labels, n_classes: int) -> np.ndarray:
    counts = class_counts(labels, n_classes)
    if (counts == 0).any():
        missing = np.flatnonzero(counts == 0).tolist()
        raise ConfigError(
            f"class(es) {missing} have no training images, "
            "so no weight inversely proportional to their frequency exists"
        )
    return counts.sum() / (n_classes * counts.astype(np.float64))


def by_frequency_rank(labels, n_classes: int, rarest: float, most_frequent: float) -> np.ndarray:
    counts = class_counts(labels, n_classes)
    if n_classes == 1:
        return np.array([float(rarest)])
    rank = rankdata(counts, method="average")  # 1 = fewest images
    return rarest + (most_frequent - rarest) * (rank - 1) / (n_classes - 1)


def from_mapping(class_names: list[str], mapping: dict, where: str) -> np.ndarray:
    """Weights given class by class (``{class name: weight}``), in ``class_names`` order."""
    missing = [c for c in class_names if c not in mapping]
    unknown = [c for c in mapping if c not in class_names]
    if missing or unknown:
        raise ConfigError(
            f"params.yaml: {where} must give a weight for each of {class_names}; missing {missing}, unknown {unknown}"
        )
    return np.array([float(mapping[c]) for c in class_names])


def manual(labels, class_names: list[str], mapping: dict | None, weight_range, where: str) -> np.ndarray:
    """The thesis's manual multiclass weights: ``mapping`` class by class when given, else
    ``weight_range`` (``[rarest, most_frequent]``) spread over the classes by frequency rank."""
    if mapping:
        return from_mapping(class_names, mapping, f"{where}.class_weights")
    if not (
        isinstance(weight_range, list)
        and len(weight_range) == 2
        and all(isinstance(w, (int, float)) for w in weight_range)
    ):
        raise ConfigError(
            f"params.yaml: {where}.class_weight_range should be [rarest, most_frequent], found {weight_range!r}"
        )
    return by_frequency_rank(labels, len(class_names), float(weight_range[0]), float(weight_range[1]))
