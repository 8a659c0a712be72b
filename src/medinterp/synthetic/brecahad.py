"""BreCaHAD miniature: ``images/Case_<c>-<nn>.tif`` (1360x1024, deflate TIFF) and
``groundTruth/Case_<c>-<nn>.json`` in the files' byte format, with duplicate pictures and an
image without tumour points, as the paper found in the real set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medinterp.synthetic.counts import BreCaHADCounts
from medinterp.synthetic.files import ImageTask

DATASET_KEY = 2
WIDTH, HEIGHT = 1360, 1024


def brecahad_tasks(out: Path, counts: BreCaHADCounts, seed: int) -> list[ImageTask]:
    rng = np.random.default_rng((seed, 100 + DATASET_KEY))
    root = out / "BreCaHAD"
    stems = []
    for case, n in counts.images_per_case.items():
        # Case numbers have gaps in the real set (Case_11 = 07, 09, 10, ...).
        numbers = sorted(rng.choice(np.arange(1, n + 4), size=n, replace=False))
        stems += [f"Case_{case}-{int(k):02d}" for k in numbers]
    order = rng.permutation(len(stems))
    duplicates = {
        int(i): int(s) for i, s in zip(order[: counts.duplicates], order[counts.duplicates : 2 * counts.duplicates])
    }
    without_tumor = {int(i) for i in order[2 * counts.duplicates : 2 * counts.duplicates + counts.without_tumor]}
    tasks = []
    for i, stem in enumerate(stems):
        source = duplicates.get(i, i)
        tasks.append(
            ImageTask(
                path=root / "images" / f"{stem}.tif",
                renderer="brecahad",
                key=(seed, DATASET_KEY, source),
                args={"width": WIDTH, "height": HEIGHT, "with_tumor": source not in without_tumor},
                annotation=root / "groundTruth" / f"{stem}.json",
            )
        )
    return tasks
