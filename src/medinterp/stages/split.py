"""Stage ``split``: read every dataset in its published layout and write the split tables.

Outputs (small, kept in git): ``splits/breakhis.csv``, ``splits/brecahad.csv``,
``splits/isic_binary.csv``, ``splits/isic2016_test.csv``, ``splits/isic_multiclass.csv``,
``splits/removed.csv`` (every skipped or removed file with its reason), ``splits/sources.csv`` (size
and MD5 of every file the tables name: what later stages depend on instead of the data folder,
see :mod:`medinterp.datasets.sources`) and ``metrics/splits.json`` (per dataset: images read and
skipped by reason; per task: removed by reason, per split and class).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from medinterp import params
from medinterp.datasets.breakhis import read_breakhis
from medinterp.datasets.brecahad import read_brecahad
from medinterp.datasets.isic2016 import read_isic2016
from medinterp.datasets.isic2019 import read_isic2019
from medinterp.datasets.isic2020 import read_duplicates, read_isic2020
from medinterp.datasets.sources import file_digests, referenced_files
from medinterp.errors import ConfigError
from medinterp.io import write_csv, write_json
from medinterp.splits.breakhis import split_breakhis
from medinterp.splits.brecahad import clean_brecahad
from medinterp.splits.isic import isic_binary, isic_multiclass
from medinterp.stages import run
from medinterp.synthetic.marker import MARKER, is_synthetic

SPLITS = Path("splits")


def main() -> None:
    config = params.load()
    seed, root, paths, cfg = config.seed, Path(config.data.root), config.data.paths, config.split
    if config.data.profile == "full" and is_synthetic(root):
        raise ConfigError(
            f"data.profile is 'full' but {root} holds the synthetic sample ({root / MARKER}); "
            "put the real datasets there (README: Real datasets) or run with data.profile=sample"
        )

    breakhis, breakhis_read = read_breakhis(root / paths.breakhis, root)
    brecahad, brecahad_read = read_brecahad(root / paths.brecahad, root)
    isic2020, isic2020_read = read_isic2020(root / paths.isic2020, root)
    isic2019, isic2019_read = read_isic2019(root / paths.isic2019, root)
    isic2016_train, isic2016_train_read = read_isic2016(root / paths.isic2016, "train", root)
    isic2016_test, isic2016_test_read = read_isic2016(root / paths.isic2016, "test", root)
    reads = [breakhis_read, brecahad_read, isic2020_read, isic2019_read, isic2016_train_read, isic2016_test_read]

    c = cfg.breakhis
    breakhis_split, breakhis_removed, breakhis_summary = split_breakhis(
        breakhis, c.magnification, c.val_fraction, c.group_by_slide, c.drop_relabelled_copies, seed
    )
    brecahad_split, brecahad_removed, brecahad_summary = clean_brecahad(
        brecahad, root, list(cfg.brecahad.required_points)
    )
    b = cfg.isic_binary
    binary, isic2016_split, binary_removed, binary_summary = isic_binary(
        isic2020,
        read_duplicates(root / paths.isic2020),
        isic2019,
        isic2016_test,
        list(b.extra_malignant_classes),
        b.drop_duplicates,
        b.folds,
        b.group_by_patient,
        seed,
    )
    binary_summary["isic2016_train_ids_in_test"] = int(
        isic2016_train["image_id"].isin(set(isic2016_test["image_id"])).sum()
    )
    m = cfg.isic_multiclass
    multiclass, multiclass_removed, multiclass_summary = isic_multiclass(
        isic2019, list(m.classes), m.test_fraction, m.val_fraction, m.group_by_lesion, seed
    )

    tasks = {
        "breakhis": (breakhis_removed, breakhis_summary),
        "brecahad": (brecahad_removed, brecahad_summary),
        "isic_binary": (binary_removed, binary_summary),
        "isic_multiclass": (multiclass_removed, multiclass_summary),
    }
    removed = [(r.dataset, f, reason) for r in reads for f, reason in r.skipped]
    removed += [(task, f, reason) for task, (dropped, _) in tasks.items() for f, reason in dropped]
    summary = {
        "read": {r.dataset: r.summary() for r in reads},
        **{
            task: {"removed": len(dropped), "removed_by_reason": _by_reason(dropped), **details}
            for task, (dropped, details) in tasks.items()
        },
    }

    for task, (_, details) in tasks.items():
        for warning in details.get("warnings", []):
            print(f"warning: {task}: {warning}", file=sys.stderr)

    tables = {
        "breakhis": breakhis_split,
        "brecahad": brecahad_split,
        "isic_binary": binary,
        "isic2016_test": isic2016_split,
        "isic_multiclass": multiclass,
    }
    for name, table in tables.items():
        write_csv(SPLITS / f"{name}.csv", table)
    write_csv(SPLITS / "sources.csv", file_digests(root, referenced_files(tables.values())))
    write_csv(SPLITS / "removed.csv", pd.DataFrame(removed, columns=["dataset", "file", "reason"]))
    write_json(Path("metrics") / "splits.json", summary)


def _by_reason(dropped: list[tuple[str, str]]) -> dict[str, int]:
    """Counts per reason, with the file-specific part ("duplicate of Case_1-02 ...") folded away."""
    counts: dict[str, int] = {}
    for _, reason in dropped:
        key = reason.split(" of ")[0] if reason.startswith(("duplicate of", "copy of")) else reason
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


if __name__ == "__main__":
    run(main)
