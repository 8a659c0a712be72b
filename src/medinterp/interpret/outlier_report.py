"""What the ``interpret_outliers`` stage writes: the z-score outliers of a validation set (thesis
section 5.5, Fig. 17); :mod:`medinterp.interpret.outliers` has the rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medinterp.interpret.figures import outlier_figure, save
from medinterp.interpret.layout import metrics_dir, outlier_list, plots_dir
from medinterp.interpret.outliers import channel_stats, outlier_table, panels
from medinterp.io import write_csv, write_json
from medinterp.preprocessing.arrays import ImageTable


def example_rows(shares: np.ndarray, count: int) -> np.ndarray:
    """Rows of ``count`` images spread over the ranking by outlier share, the highest first and the
    lowest last, so the figure shows flagged and unflagged images."""
    order = np.argsort(-np.asarray(shares), kind="stable")
    if count <= 0 or len(order) == 0:
        return order[:0]
    return order[np.unique(np.round(np.linspace(0, len(order) - 1, min(count, len(order)))).astype(int))]


def outlier_report(table: ImageTable, z: float, min_share: float, examples: int):
    """The outlier list (``image, class_name, outlier_share, outlier``; statistics over the set
    itself), Fig. 17 for ``examples`` images and a summary for the metrics file."""
    stats = channel_stats(table.images)
    frame = outlier_table(table.images, table.frame["image"].tolist(), z, min_share, stats)
    frame.insert(1, "class_name", table.frame["class_name"].to_numpy())
    rows = example_rows(frame["outlier_share"].to_numpy(), examples)
    ids = (
        table.frame["image_id"] if "image_id" in table.frame else table.frame["image"].map(lambda p: Path(p).stem)
    )  # BreakHis has no id column
    names = [f"{ids.iloc[i]} ({'outlier' if frame['outlier'].iloc[i] else 'not an outlier'})" for i in rows]
    figure = outlier_figure(
        [panels(np.asarray(table.images[i]), stats, z) for i in rows],
        names,
        frame["outlier_share"].iloc[rows].tolist(),
        z,
    )
    summary = {
        "images": len(frame),
        "outliers": int(frame["outlier"].sum()),
        "outliers_per_class": {
            str(c): int(n) for c, n in frame.groupby("class_name", sort=True)["outlier"].sum().items()
        },
        "outlier_share_mean": float(frame["outlier_share"].mean()),
        "z": z,
        "min_share": min_share,
        "channel_mean": [float(v) for v in stats.mean],
        "channel_std": [float(v) for v in stats.std],
    }
    return frame, figure, summary


def write_outliers(subject: str, validation: ImageTable, z: float, min_share: float, examples: int) -> None:
    """``outliers.csv``, ``outliers.json`` and ``outliers.png`` (Fig. 17) of a validation set."""
    frame, figure, summary = outlier_report(validation, z, min_share, examples)
    write_csv(outlier_list(subject), frame)
    write_json(metrics_dir(subject) / "outliers.json", summary)
    save(figure, plots_dir(subject) / "outliers.png")
