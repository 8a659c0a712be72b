"""The report's own figures: confusion matrices drawn from a stage's predictions table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medinterp.interpret.figures import plt, save


def confusion_counts(predictions: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """Counts with the actual class in rows and the predicted class in columns, in ``classes`` order."""
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(predictions["actual"]) - set(index) | set(predictions["predicted"]) - set(index))
    if unknown:
        raise ValueError(f"predictions name classes outside {list(classes)}: {unknown}")
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(counts, (predictions["actual"].map(index).to_numpy(), predictions["predicted"].map(index).to_numpy()), 1)
    return counts


def confusion_figure(
    predictions: pd.DataFrame, classes: Sequence[str], title: str, path: str | Path, normalise: bool
) -> None:
    """A confusion matrix; ``normalise`` divides each row by its class's images (recall on the diagonal)."""
    counts = confusion_counts(predictions, classes)
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalise else counts
    figure, axes = plt.subplots(figsize=(1.2 + 0.6 * len(classes), 1.0 + 0.6 * len(classes)))
    axes.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalise else max(int(counts.max()), 1))
    for (i, j), value in np.ndenumerate(shown):
        dark = value > (0.5 if normalise else counts.max() / 2)
        axes.text(
            j,
            i,
            f"{value:.2f}" if normalise else str(value),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if dark else "black",
        )
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    save(figure, path)
