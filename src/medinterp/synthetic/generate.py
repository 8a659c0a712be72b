"""Write the synthetic datasets below one folder, in the published layouts the readers expect."""

from __future__ import annotations

import math
import shutil
from dataclasses import asdict, replace
from pathlib import Path

from medinterp.synthetic.breakhis import breakhis_tasks
from medinterp.synthetic.brecahad import brecahad_tasks
from medinterp.synthetic.counts import FULL, SAMPLE, Counts, scaled
from medinterp.synthetic.files import ImageTask, run_tasks
from medinterp.synthetic.isic import isic_tasks
from medinterp.synthetic.marker import write_marker

DATASETS = ("breakhis", "brecahad", "isic")
FOLDERS = {"breakhis": ("BreaKHis_v1",), "brecahad": ("BreCaHAD",), "isic": ("ISIC_2016", "ISIC_2019", "ISIC_2020")}


def counts_for(size: str, fraction: float | None = None) -> Counts:
    """``sample`` (the bundled miniature), ``full`` (the real archives' counts) or a fraction of full."""
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
        return scaled(fraction)
    if size == "sample":
        return SAMPLE
    if size == "full":
        return FULL
    raise ValueError(f"size must be 'sample' or 'full', not {size!r}")


def generate(
    out: str | Path,
    counts: Counts = SAMPLE,
    seed: int = 0,
    jobs: int = 1,
    datasets: tuple[str, ...] = DATASETS,
    fast: bool = False,
    original_resolution: float = 0.0,
) -> None:
    """Write ``datasets`` below ``out``; their folders are replaced, so a rerun gives the same bytes.

    ``fast`` draws pictures the quick way (vectorised nuclei, lesions drawn at half size and scaled
    up, PNGs without ``optimize``): the same layouts, sizes, formats and class signal, other bytes.
    The bundled sample is written with ``fast=False``. ``original_resolution`` is the share of ISIC
    pictures written at the archives' real sizes (6000x4000 and others) to measure decode cost.

    ``out/SYNTHETIC.json`` records the seed and counts and marks the folder as synthetic, so the
    full profile can refuse to train on it.
    """
    out = Path(out)
    unknown = set(datasets) - set(DATASETS)
    if unknown:
        raise ValueError(f"unknown dataset(s) {sorted(unknown)}; choose from {DATASETS}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    check_original_resolution(original_resolution)
    if original_resolution > 0 and "isic" not in datasets:
        raise ValueError("original_resolution applies to the ISIC pictures; add isic to the datasets")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; the synthetic datasets need a folder")
    for name in datasets:
        for folder in FOLDERS[name]:
            shutil.rmtree(out / folder, ignore_errors=True)

    def run(tasks: list[ImageTask], description: str) -> None:
        run_tasks([_quick(task) for task in tasks] if fast else tasks, jobs, description)

    if "breakhis" in datasets:
        run(breakhis_tasks(out, counts.breakhis, seed), "BreakHis")
    if "brecahad" in datasets:
        run(brecahad_tasks(out, counts.brecahad, seed), "BreCaHAD")
    if "isic" in datasets:
        run(isic_tasks(out, counts.isic2016, counts.isic2019, counts.isic2020, seed, original_resolution), "ISIC")
    info = {"generator": "medinterp synth", "seed": seed, "datasets": list(datasets), "counts": asdict(counts)}
    if fast or original_resolution:  # the sample's marker stays as it was
        info.update(fast=fast, original_resolution=original_resolution)
    write_marker(out, info)


def check_original_resolution(share: float) -> None:
    if (
        isinstance(share, bool)
        or not isinstance(share, (int, float))
        or not math.isfinite(share)
        or not 0 <= share <= 1
    ):
        raise ValueError(f"original_resolution must be a share in [0, 1], got {share!r}")


def _quick(task: ImageTask) -> ImageTask:
    return replace(task, args={**task.args, "fast": True}, save={**task.save, "optimize": False})
