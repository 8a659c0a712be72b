"""Resized image arrays, one ``.npy`` per split table, decoded once and memory-mapped afterwards.

Every training epoch and every later stage reads ``arrays/<table>.npy`` (``(N, S, S, 3) uint8``,
rows in the order of ``splits/<table>.csv``) instead of decoding PNG, JPEG or TIFF files again.
``arrays/index.json`` records, per table, the size and a hash of the split CSV it was made from, so
a stage that finds arrays of another size or of an older split stops with a clear message.

Resizing squashes each image to a square (as the paper fed 700x460 BreakHis images to a 128x128
network) with Pillow's bilinear filter, which antialiases when it shrinks.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from medinterp.datasets.images import read_rgb
from medinterp.errors import ConfigError, DatasetError, MedinterpError
from medinterp.io import atomic_path, write_json

ARRAYS = Path("arrays")
SPLITS = Path("splits")
INDEX = "index.json"


def decode_resized(path: str | Path, size: int) -> np.ndarray:
    """One image as ``(size, size, 3) uint8``."""
    image = Image.fromarray(read_rgb(path))
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def _decode_one(path: Path, size: int) -> np.ndarray:
    """:func:`decode_resized` where any failure is a DatasetError naming the file (in a pool worker too).

    The pool pickles a worker's exception to send it to the parent; every :mod:`medinterp.errors`
    class survives that, but an arbitrary exception may not, so it is wrapped here.
    """
    try:
        return decode_resized(path, size)
    except MedinterpError:
        raise
    except Exception as exc:
        raise DatasetError(path, f"unreadable image ({type(exc).__name__}: {exc})") from None


def decode_all(paths: list[Path], size: int, jobs: int = 2, desc: str = "decode") -> np.ndarray:
    """Decode and resize ``paths`` in ``jobs`` processes, keeping their order.

    The first image (in ``paths`` order) that cannot be decoded stops it with the same
    :class:`DatasetError` whatever ``jobs`` is.
    """
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    if jobs <= 1 or len(paths) < 2:
        for i, pixels in enumerate(tqdm(map(partial(_decode_one, size=size), paths), total=len(paths), desc=desc, unit="img")):
            out[i] = pixels
        return out
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        results = pool.map(partial(_decode_one, size=size), paths, chunksize=max(1, min(64, len(paths) // (4 * jobs))))
        try:
            for i, pixels in enumerate(tqdm(results, total=len(paths), desc=desc, unit="img")):
                out[i] = pixels
        except MedinterpError as exc:
            pool.shutdown(wait=True, cancel_futures=True)
            raise exc.with_traceback(None) from None   # the worker's error, as jobs=1 raises it; no remote traceback
        except BrokenProcessPool as exc:
            raise MedinterpError(
                f"a worker decoding images for '{desc}' died ({exc}); rerun with prepare.jobs: 1 to see which image"
            ) from None
    return out


def csv_digest(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def build(table: str, size: int, data_root: Path, jobs: int = 2, splits: Path = SPLITS, out: Path = ARRAYS) -> dict:
    """Write ``out/<table>.npy`` for ``splits/<table>.csv``; return its index entry."""
    csv = splits / f"{table}.csv"
    if not csv.is_file():
        raise DatasetError(csv, "split table not found; run the split stage first")
    frame = pd.read_csv(csv)
    pixels = decode_all([data_root / p for p in frame["image"]], size, jobs, desc=f"{table} {size}px")
    with atomic_path(out / f"{table}.npy") as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, pixels)
    return {"size": size, "rows": len(frame), "csv": csv.as_posix(), "csv_md5": csv_digest(csv)}


def write_index(entries: dict[str, dict], out: Path = ARRAYS) -> None:
    write_json(out / INDEX, entries)


@dataclass
class ImageTable:
    """A split table and its decoded images, row for row."""

    frame: pd.DataFrame
    images: np.ndarray      # (N, S, S, 3) uint8, memory-mapped

    def subset(self, mask) -> "ImageTable":
        index = np.flatnonzero(np.asarray(mask))
        return ImageTable(self.frame.iloc[index].reset_index(drop=True), self.images[index])

    @property
    def labels(self) -> np.ndarray:
        return self.frame["label"].to_numpy()

    def __len__(self) -> int:
        return len(self.frame)


def load(table: str, size: int, arrays: Path = ARRAYS, splits: Path = SPLITS) -> ImageTable:
    """The table's images at ``size``; a clear error if the prepare stage made them otherwise."""
    index_path = arrays / INDEX
    if not index_path.is_file():
        raise DatasetError(index_path, "not found; run the prepare stage (dvc repro prepare)")
    entry = json.loads(index_path.read_text()).get(table)
    if entry is None:
        raise DatasetError(index_path, f"has no arrays for '{table}'")
    if entry["size"] != size:
        raise ConfigError(f"{arrays / table}.npy holds {entry['size']}px images but this stage wants {size}px; rerun the prepare stage")
    csv = splits / f"{table}.csv"
    if csv_digest(csv) != entry["csv_md5"]:
        raise DatasetError(csv, f"changed since {arrays / table}.npy was made; rerun the prepare stage")
    frame = pd.read_csv(csv)
    images = np.load(arrays / f"{table}.npy", mmap_mode="r")
    if len(images) != len(frame):
        raise DatasetError(arrays / f"{table}.npy", f"has {len(images)} images for {len(frame)} rows of {csv}")
    return ImageTable(frame, images)
