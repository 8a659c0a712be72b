"""Errors that name the file and the problem, so a stage can print them without a traceback."""

from __future__ import annotations

from pathlib import Path


class MedinterpError(Exception):
    """Base class for errors a user can act on; stage entry points print these without a traceback."""


class DatasetError(MedinterpError):
    """A dataset file is missing, unreadable or does not follow its published layout."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(MedinterpError):
    """A parameter is missing or has a value the code cannot use."""
