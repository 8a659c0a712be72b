"""Resized image arrays, one ``.npy`` per split table, decoded once and memory-mapped afterwards.

Every training epoch and every later stage reads ``arrays/<table>.npy`` (``(N, S, S, 3) uint8``,
rows in the order of ``splits/<table>.csv``) instead of decoding PNG, JPEG or TIFF files again.
``arrays/index.json`` records, per table, the size and a hash of the split CSV it was made from, so
a stage that finds arrays of another size or of an older split stops with a clear message.

Resizing squashes each image to a square (as the paper fed 700x460 BreakHis images to a 128x128
network) with Pillow's bilinear filter, which antialiases when it shrinks. A JPEG of at least
``8 * size`` on both sides is first decoded at 1/2, 1/4 or 1/8 scale by libjpeg's DCT scaling
(Pillow's ``draft``), the most that keeps both sides at least ``4 * size`` (:data:`DRAFT_FACTOR`);
the bilinear filter does the rest. The factor is 4, not 2, because the DCT-scaled image is a coarser
prefilter than the bilinear one, and the smaller the decoded image is against the target, the more
it shows. Measured against a full decode, in uint8 levels, on synthetic photos (smooth colours,
discs, hairs, noise; quality 90; 6000x4000, 4288x2848, 3000x2000, 2000x1500, 1800x1800, 1024x768,
900x900, 600x450; two random draws) at 64, 128 and 224 px: factor 4 differs by a mean of at most
0.24 and a maximum of 3, factor 2 by up to 0.52 and 9, factor 1 by up to 1.19 and 25. On the
bundled sample's 318 JPEGs at 32 px: factor 4 max 4, factor 2 max 19. Factor 4 keeps most of the
speed where it matters, on the large photos: the decode cost falls with the decoded pixel count, and
a large photo is still decoded at 1/4 or 1/8 scale (to 64 px both factors reach the 1/8 limit).
A smaller JPEG is decoded in full.

Writing is incremental, so memory stays bounded whatever the number of images: each table's file
is created at full length (:func:`numpy.lib.format.open_memmap` on the temporary path of
:func:`medinterp.io.atomic_path`) and the decoding processes write their rows into it themselves;
only row numbers and errors go through the pool's pipes. A process maps the file for one chunk of
:data:`CHUNK_ROWS` rows at a time, because pages written through a mapping count in its resident
set until it is unmapped (215 MB of rows through one mapping: 244 MB peak RSS; mapped per 64 rows:
39 MB). An image that several tables of one run share at one size (ISIC 2019's melanomas are in
``isic_binary`` and ``isic_multiclass``) is decoded for the first and its row copied into the rest.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib.format import open_memmap
from PIL import Image
from tqdm import tqdm

from medinterp.datasets.images import read_rgb_reduced
from medinterp.errors import ConfigError, DatasetError, MedinterpError
from medinterp.io import atomic_path, write_json

ARRAYS = Path("arrays")
SPLITS = Path("splits")
INDEX = "index.json"
DRAFT_FACTOR = 4  # JPEGs decoded at >= this many times the target size (module docstring)
CHUNK_ROWS = 64  # rows written per mapping of an output file: at most 9.6 MB resident at 224 px


def decode_resized(path: str | Path, size: int) -> np.ndarray:
    """One image as ``(size, size, 3) uint8``."""
    pixels, box = read_rgb_reduced(path, DRAFT_FACTOR * size)
    image = Image.fromarray(pixels)
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=box), dtype=np.uint8)


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


def _decode_into(target: Path, rows: list[int], paths: list[Path]) -> int:
    """Decode ``paths`` into ``rows`` of the ``.npy`` file ``target``, in order; return how many."""
    out = open_memmap(target, mode="r+")
    for row, path in zip(rows, paths):
        out[row] = _decode_one(path, out.shape[1])
    return len(rows)


def _decode_rows(
    pool: Executor | None, jobs: int, target: Path, rows: list[int], paths: list[Path], bar: tqdm, desc: str
) -> None:
    """Fill ``rows`` of ``target`` from ``paths``, in the ``jobs`` processes of ``pool`` (or here without one).

    The first image (in ``paths`` order) that cannot be decoded stops it with the same
    :class:`DatasetError` with or without a pool: chunks are consumed in order and each stops at
    its first failure.
    """
    step = max(1, min(CHUNK_ROWS, len(rows) // (4 * max(1, jobs))))
    chunks = [(rows[i : i + step], paths[i : i + step]) for i in range(0, len(rows), step)]
    if pool is None or len(rows) < 2:
        for chunk_rows, chunk_paths in chunks:
            bar.update(_decode_into(target, chunk_rows, chunk_paths))
        return
    try:
        for done in pool.map(partial(_decode_into, target), *zip(*chunks)):
            bar.update(done)
    except MedinterpError as exc:
        pool.shutdown(wait=True, cancel_futures=True)
        raise exc.with_traceback(None) from None  # the worker's error, as jobs=1 raises it; no remote traceback
    except BrokenProcessPool as exc:
        raise MedinterpError(
            f"a worker decoding images for '{desc}' died ({exc}); rerun with prepare.jobs: 1 to see which image"
        ) from None


def _copy_rows(copies: list[tuple[Path, int, int]], target: Path) -> None:
    """Copy decoded rows ``(source file, source row, row)`` into ``target``, mapping both per chunk."""
    for start in range(0, len(copies), CHUNK_ROWS):
        out = open_memmap(target, mode="r+")
        sources: dict[Path, np.memmap] = {}
        for source, source_row, row in copies[start : start + CHUNK_ROWS]:
            if source not in sources:
                sources[source] = open_memmap(source, mode="r")
            out[row] = sources[source][source_row]


def csv_digest(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def build_all(
    sizes: dict[str, int], data_root: Path, jobs: int = 2, splits: Path = SPLITS, out: Path = ARRAYS
) -> dict[str, dict]:
    """Write ``out/<table>.npy`` for each ``table: size`` of ``sizes`` from ``splits/<table>.csv``,
    decoding each distinct image and size once; return the index entries.

    The files are renamed into place together once all are written; a failure leaves none.
    """
    csvs = {table: _split_csv(splits, table) for table in sizes}  # every table found before decoding any
    entries = {}
    decoded: dict[tuple[Path, int], tuple[Path, int]] = {}  # (image, size) -> (file, row) that holds it
    with ExitStack() as outputs, ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else nullcontext() as pool:
        for table, size in sizes.items():
            frame = pd.read_csv(csvs[table])
            paths = [data_root / p for p in frame["image"]]
            target = outputs.enter_context(atomic_path(out / f"{table}.npy"))
            open_memmap(target, mode="w+", dtype=np.uint8, shape=(len(paths), size, size, 3))  # header and length only
            new_rows, copies = [], []
            for row, path in enumerate(paths):
                source = decoded.setdefault((path, size), (target, row))
                if source == (target, row):
                    new_rows.append(row)
                else:
                    copies.append((*source, row))
            desc = f"{table} {size}px"
            with tqdm(total=len(paths), desc=desc, unit="img") as bar:
                _decode_rows(pool, jobs, target, new_rows, [paths[row] for row in new_rows], bar, desc)
                _copy_rows(copies, target)
                bar.update(len(copies))
            entries[table] = {
                "size": size,
                "rows": len(frame),
                "csv": csvs[table].as_posix(),
                "csv_md5": csv_digest(csvs[table]),
            }
    return entries


def build(table: str, size: int, data_root: Path, jobs: int = 2, splits: Path = SPLITS, out: Path = ARRAYS) -> dict:
    """Write ``out/<table>.npy`` for ``splits/<table>.csv``; return its index entry."""
    return build_all({table: size}, data_root, jobs, splits, out)[table]


def _split_csv(splits: Path, table: str) -> Path:
    csv = splits / f"{table}.csv"
    if not csv.is_file():
        raise DatasetError(csv, "split table not found; run the split stage first")
    return csv


def write_index(entries: dict[str, dict], out: Path = ARRAYS) -> None:
    write_json(out / INDEX, entries)


@dataclass
class ImageTable:
    """A split table and its decoded images, row for row."""

    frame: pd.DataFrame
    images: np.ndarray  # (N, S, S, 3) uint8, memory-mapped

    def subset(self, mask) -> ImageTable:
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
        raise ConfigError(
            f"{arrays / table}.npy holds {entry['size']}px images but this stage wants {size}px; "
            "rerun the prepare stage"
        )
    csv = splits / f"{table}.csv"
    if csv_digest(csv) != entry["csv_md5"]:
        raise DatasetError(csv, f"changed since {arrays / table}.npy was made; rerun the prepare stage")
    frame = pd.read_csv(csv)
    images = np.load(arrays / f"{table}.npy", mmap_mode="r")
    if len(images) != len(frame):
        raise DatasetError(arrays / f"{table}.npy", f"has {len(images)} images for {len(frame)} rows of {csv}")
    return ImageTable(frame, images)
