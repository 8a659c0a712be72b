"""Resuming an interrupted training from the end of its last completed epoch.

A training stage killed mid-run (Ctrl-C, SIGKILL, a lost machine) continues where it stopped when
it runs again (``dvc repro`` or ``python -m medinterp.stages.<name> <entry>``): it prints
``resuming <run> after epoch k of n`` and gives the same checkpoint, metrics and dvclive curves,
bit for bit, as a run that was never interrupted.

How it works. After every completed epoch ``training.loop.fit`` writes the loop's state (history,
learning rate and plateau counter, best epoch and its weights, epochs since the best) and the
model's :meth:`~medinterp.training.loop.Trainable.training_state` (weights, optimizer moments,
random-number streams) to ``.resume/<stage>/<run>.pkl``, e.g. ``.resume/isic_binary@resnet50/fold2.pkl``
(one file per fold or run), atomically (a kill mid-write leaves the previous epoch's file). The
folder ``.resume/`` sits at the project root, gitignored and outside every DVC output, because
``dvc repro`` deletes a stage's outputs before running it. A finished run's file stays until its
stage has finished, so a stage of several runs (folds, variants) does not repeat the finished ones;
the stage then deletes ``.resume/<stage>/``.

A file resumes a run only when its fingerprint matches: the md5 of the run's settings, seed, the
data it reads (the prepare stage's index entry and file stamp of each array) and every file of the
``medinterp`` package. A stale file (anything changed) or an unreadable one (truncated, corrupt) is
ignored with a one-line warning, and the run starts from epoch 1 and overwrites it.

``rm -rf .resume`` discards every saved state (the next runs start from epoch 1).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

import medinterp
from medinterp.io import atomic_path

RESUME_DIR = Path(".resume")
ARRAYS_INDEX = Path("arrays/index.json")  # preprocessing.arrays's index; read as JSON to avoid importing it


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


@dataclass(frozen=True)
class ResumeFile:
    """Where one training run keeps its state, and the fingerprint a saved state must carry to resume it."""

    path: Path
    fingerprint: str

    def load(self) -> dict[str, Any] | None:
        """The saved state, or ``None`` when there is none, or it is unreadable or stale (said in one line)."""
        if not self.path.is_file():
            return None
        try:
            with self.path.open("rb") as file:
                saved = pickle.load(file)
            fingerprint, state = saved["fingerprint"], saved["state"]
        except (
            Exception
        ) as exc:  # a truncated or foreign file fails in many ways (EOFError, UnpicklingError, KeyError, ...)
            warn(f"ignoring unreadable resume file {self.path} ({type(exc).__name__}); training from epoch 1")
            return None
        if fingerprint != self.fingerprint:
            warn(
                f"ignoring stale resume file {self.path} (its settings, seed, data or code differ); "
                "training from epoch 1"
            )
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Replace the file with ``state`` atomically: a kill mid-write leaves the previous file."""
        with atomic_path(self.path, now=True) as tmp, open(tmp, "wb") as file:  # now: not at the stage's end
            pickle.dump({"fingerprint": self.fingerprint, "state": state}, file, protocol=pickle.HIGHEST_PROTOCOL)


def _check_name(kind: str, name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"{kind} must be a non-empty name without path separators, got {name!r}")


def resume_file(
    stage: str, run: str, settings: dict[str, Any], seed: int, data: dict[str, Any], root: Path = RESUME_DIR
) -> ResumeFile:
    """The resume file of run ``run`` of stage ``stage`` (e.g. ``isic_binary@resnet50``, ``fold2``):
    its fingerprint covers ``settings`` (JSON-serialisable), ``seed``, ``data`` (e.g.
    :func:`array_inputs`, :func:`file_digests`) and the package's code (:func:`code_digest`)."""
    _check_name("stage", stage)
    _check_name("run", run)
    described = {"settings": settings, "seed": seed, "data": data, "code": code_digest()}
    fingerprint = hashlib.md5(json.dumps(described, sort_keys=True).encode()).hexdigest()
    return ResumeFile(root / stage / f"{run}.pkl", fingerprint)


def discard_stage(stage: str, root: Path = RESUME_DIR) -> None:
    """Delete every resume file of ``stage``: called once the stage has finished all its runs."""
    _check_name("stage", stage)
    shutil.rmtree(root / stage, ignore_errors=True)
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()


def array_inputs(*tables: str, index: Path = ARRAYS_INDEX) -> dict[str, Any]:
    """Per table, its prepare-stage index entry (size, rows, split CSV md5) and its array file's size
    and modification time: rebuilt arrays make a stale resume file, without hashing gigabytes."""
    entries = json.loads(index.read_text(encoding="utf-8"))
    found = {}
    for table in tables:
        entry = entries[table]
        stat = (index.parent / f"{table}.npy").stat()
        found[table] = {**entry, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return found


def file_digests(*paths: str | Path) -> dict[str, str]:
    """The md5 of each file (e.g. the encoder weights a classifier variant starts from)."""
    return {str(path): hashlib.md5(Path(path).read_bytes()).hexdigest() for path in paths}


@lru_cache(maxsize=1)
def code_digest() -> str:
    """The md5 of every file of the ``medinterp`` package (names and contents, bytecode caches left out)."""
    package = Path(medinterp.__file__).parent
    digest = hashlib.md5()
    files = {path.relative_to(package).as_posix(): path for path in package.rglob("*") if path.is_file()}
    for name in sorted(name for name in files if "__pycache__" not in name.split("/")):
        digest.update(name.encode() + b"\0" + files[name].read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass
class SeededBatches:
    """An epoch-batch source whose every random draw (order, augmentation) comes from ``rng``, so a
    trainable can save and restore it with the rest of its training state."""

    rng: np.random.Generator
    draw: Callable[[int, np.random.Generator], Iterable[tuple[np.ndarray, np.ndarray]]]

    def __call__(self, epoch: int) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        return self.draw(epoch, self.rng)
