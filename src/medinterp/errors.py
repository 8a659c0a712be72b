"""Errors that name the file and the problem, so a stage can print them without a traceback.

Every class here survives a pickle round trip: a worker process of a process pool (the prepare
stage decodes images in several) sends its error back to the parent by pickling it, and an error
that cannot be rebuilt from its pickle turns into a ``BrokenProcessPool`` that names no file.
"""

from __future__ import annotations

import os
from pathlib import Path

DEBUG_ENV = "MEDINTERP_DEBUG"


def debugging() -> bool:
    """``MEDINTERP_DEBUG=1`` (or ``true``/``yes``): show the traceback behind a one-line error."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class MedinterpError(Exception):
    """Base class for errors a user can act on; stage entry points print these without a traceback."""


class DatasetError(MedinterpError):
    """A dataset file is missing, unreadable or does not follow its published layout."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        # Exception pickles as cls(*self.args), i.e. with the one formatted message; rebuild from both fields.
        return type(self), (self.path, self.problem)


class ImageError(DatasetError):
    """An image file that exists but cannot be decoded (empty, truncated, corrupt, not an image).

    ``reason`` is a short fixed category ("truncated image"), what the dataset readers record when
    they skip the file; ``detail`` says what the decoder found, for the message.
    """

    def __init__(self, path: str | Path, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(path, f"{reason} ({detail})" if detail else reason)

    def __reduce__(self):
        return type(self), (self.path, self.reason, self.detail)


class ConfigError(MedinterpError):
    """A parameter is missing or has a value the code cannot use."""


class FoldError(ConfigError):
    """Too few groups or images for the folds asked (``medinterp.splits.folds``).

    It carries the numbers, so each split can say which dataset and param and what would fix it:
    ``kind`` is ``"folds"`` (fewer than 2 asked), ``"fraction"`` (hold-out fraction not in (0, 1)),
    ``"groups"`` (fewer groups, or rows when ungrouped, than folds) or ``"class"`` (the class
    ``label`` has fewer images than folds); ``count`` is the groups, rows or images there are.
    """

    def __init__(self, message: str, kind: str, n_folds: int, count: int = 0, label=None, grouped: bool = False):
        self.kind, self.n_folds, self.count, self.label, self.grouped = kind, n_folds, count, label, grouped
        super().__init__(message)

    def __reduce__(self):
        return type(self), (str(self), self.kind, self.n_folds, self.count, self.label, self.grouped)
