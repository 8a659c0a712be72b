"""The file that marks a data folder as the generator's output rather than real downloads."""

from __future__ import annotations

import json
from pathlib import Path

MARKER = "SYNTHETIC.json"


def write_marker(out: Path, info: dict) -> None:
    (out / MARKER).write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")


def is_synthetic(data_root: str | Path) -> bool:
    return (Path(data_root) / MARKER).is_file()
