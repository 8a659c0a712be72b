"""Run logs: what a stage measured about this run on this machine, kept out of the tracked outputs.

Training speed, seconds per step and the exact ONNX Runtime parity differ from machine to machine
and run to run; written into ``metrics/`` they would make ``git status`` and ``dvc metrics diff``
show noise as change. Each stage writes them to ``logs/<stage>.json`` instead (gitignored, not a
DVC output), with the numerics it ran under and the CPU it ran on.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from medinterp import numerics
from medinterp.io import write_json

LOG_DIR = Path("logs")


def cpu_model() -> str:
    """The CPU's model name (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def write(stage: str, **sections: Any) -> Path:
    """Write ``logs/<stage>.json``: ``sections`` (e.g. ``speed``, ``onnx_parity``) beside the numerics and machine."""
    path = LOG_DIR / f"{stage}.json"
    write_json(path, {"stage": stage, **sections, "numerics": numerics.describe(), "machine": machine()})
    return path
