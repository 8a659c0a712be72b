"""The checkpoint contract both families share: one ``checkpoint.npz`` file per ISIC task holding the
weights as named arrays and, as JSON, what they are.

``models/isic/binary/checkpoint.npz`` and ``models/isic/multiclass/checkpoint.npz`` are such files,
whichever family trained them. numpy alone reads them, so a later stage learns the family and
architecture (:func:`read_info`) before it imports the framework that rebuilds the network
(``medinterp.models.torch.checkpoint``, ``medinterp.models.keras.checkpoint``). The arrays are keyed
by the framework's own names: a PyTorch ``state_dict``'s keys, a Keras variable's ``path``.

``info`` holds at least: ``architecture`` (registry name), ``family``, ``task`` (``binary`` |
``multiclass``), ``class_names`` (output order), ``num_outputs`` (1 for the binary task's single
logit), ``image_size``, ``normalisation`` (``layout`` of the network's input, and ``mean``/``std``
applied after dividing by 255, or ``None`` where the network normalises inside), ``init_used``,
``seed``, ``settings`` (the resolved task settings) and ``dropout``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from medinterp.errors import ConfigError
from medinterp.io import atomic_path, readable

NAME = "checkpoint.npz"
FORMAT = "medinterp-classifier-checkpoint"
VERSION = 1
REQUIRED_INFO = (
    "architecture",
    "family",
    "task",
    "class_names",
    "num_outputs",
    "image_size",
    "normalisation",
    "init_used",
    "seed",
    "settings",
    "dropout",
)
_INFO = "__medinterp_info__"


def path_in(folder: str | Path) -> Path:
    """The checkpoint a training stage writes into ``folder``."""
    return Path(folder) / NAME


def save(path: str | Path, info: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` and ``info`` (plain JSON values) to ``path`` atomically."""
    missing = [k for k in REQUIRED_INFO if k not in info]
    if missing:
        raise ValueError(f"checkpoint info lacks {missing}")
    if _INFO in arrays:
        raise ValueError(f"'{_INFO}' is reserved for the checkpoint's info")
    header = json.dumps({"format": FORMAT, "version": VERSION, "info": info}, allow_nan=False)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **{_INFO: np.array(header)}, **arrays)


def _header(archive, path: Path) -> dict[str, Any]:
    if _INFO not in archive.files:
        raise ConfigError(f"{path}: not a {FORMAT} file (no info inside); rerun the stage that writes it (dvc repro)")
    header = json.loads(str(archive[_INFO]))
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ConfigError(
            f"{path}: {header.get('format')} version {header.get('version')} is not supported "
            f"(expected {FORMAT} version {VERSION}); rerun the stage that writes it (dvc repro)"
        )
    return header["info"]


def _open(path: Path):
    found = readable(path)  # a checkpoint this stage wrote is read from its pending file
    if not found.is_file():
        raise ConfigError(f"{path}: checkpoint not found; run the stage that makes it (dvc repro)")
    try:
        return np.load(found, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path}: not a readable checkpoint ({exc})") from exc


def read_info(path: str | Path) -> dict[str, Any]:
    """The ``info`` of a checkpoint, without reading its weights."""
    path = Path(path)
    with _open(path) as archive:
        return _header(archive, path)


def read(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A checkpoint's ``info`` and its arrays by name."""
    path = Path(path)
    with _open(path) as archive:
        info = _header(archive, path)
        return info, {name: archive[name] for name in archive.files if name != _INFO}


def require_family(info: dict[str, Any], family: str, path: str | Path) -> None:
    if info.get("family") != family:
        raise ConfigError(f"{path}: a {info.get('family')} checkpoint, read here as {family}")


def match_arrays(expected: list[str], found: dict[str, np.ndarray], path: str | Path) -> None:
    """Refuse a checkpoint whose array names differ from the rebuilt network's."""
    missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    if missing or extra:
        raise ConfigError(
            f"{path}: its weights do not fit the network its info names (missing {missing[:5]}, "
            f"unexpected {extra[:5]}); rerun the stage that writes it (dvc repro)"
        )
