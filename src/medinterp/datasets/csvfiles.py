"""Reading the datasets' CSV files with errors that name the file or the column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from medinterp.errors import DatasetError


def read_table(path: str | Path, required: Sequence[str], aliases: dict[str, str] | None = None) -> pd.DataFrame:
    """Read a CSV with a header row; CRLF or LF, with or without a final newline, BOM tolerated.

    ``aliases`` renames alternative column names to the canonical one (e.g. ``gender`` -> ``sex``).
    Every value is read as text; callers convert and validate the columns they use.
    """
    path = Path(path)
    frame = _read(path, header=0)
    frame.columns = [str(c).strip() for c in frame.columns]
    if aliases:
        frame = frame.rename(
            columns={a: c for a, c in aliases.items() if a in frame.columns and c not in frame.columns}
        )
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DatasetError(path, f"missing column(s) {missing}; found {list(frame.columns)}")
    return frame


def read_headerless(path: str | Path, names: Sequence[str]) -> pd.DataFrame:
    """Read a CSV without a header row (ISIC 2016 ground truth) into the given column names."""
    path = Path(path)
    frame = _read(path, header=None)
    if frame.shape[1] != len(names):
        raise DatasetError(path, f"expected {len(names)} columns, found {frame.shape[1]}")
    frame.columns = list(names)
    return frame


def _read(path: Path, header: int | None) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(path, "file not found")
    try:
        frame = pd.read_csv(path, header=header, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(path, "file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(path, f"not a readable CSV ({exc})") from exc
    return frame.apply(lambda col: col.str.strip())
