"""The content digest of every dataset file the split tables send downstream (``splits/sources.csv``).

At the real archives' counts (67,979 files) a DVC dependency on the data folder is a walk with a
state lookup and an ignore check per file, which would dominate every ``dvc status`` and grows with
the file count. So no stage depends on the folder. ``split`` reruns when its params change
(``data.profile``, ``data.root``, ``data.paths``) or when forced (``dvc repro -f split``, the
documented step after changing files under ``data.root``); it then records here the size and MD5
of each image and annotation file its tables name, and the later stages depend on this file. A
changed pixel changes a digest, so ``prepare`` reruns exactly for the files it decodes, and the
digests are the same on every machine (no paths outside ``data.root``, no times).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from medinterp.errors import DatasetError

FILE_COLUMNS = ("image", "annotation")  # the columns of the split tables that name dataset files


def referenced_files(tables: Iterable[pd.DataFrame]) -> list[str]:
    """The distinct files (relative to ``data.root``) the tables' file columns name, sorted."""
    files: set[str] = set()
    for table in tables:
        for column in FILE_COLUMNS:
            if column in table:
                files.update(table[column].dropna().astype(str))
    return sorted(files)


def file_digests(root: Path, files: list[str]) -> pd.DataFrame:
    """``file, bytes, md5`` for each of ``files`` below ``root``, in the given order."""
    rows = []
    for name in tqdm(files, desc="digest", unit="file", disable=len(files) < 1000):
        path = root / name
        try:
            with open(path, "rb") as handle:
                digest = hashlib.file_digest(handle, "md5").hexdigest()
            size = path.stat().st_size
        except OSError as exc:
            raise DatasetError(path, f"cannot be read ({exc.strerror or exc})") from None
        rows.append((name, size, digest))
    return pd.DataFrame(rows, columns=["file", "bytes", "md5"])
