"""Stage ``prepare``: decode every split table's images once, resized for the stages that read them.

Outputs ``arrays/<table>.npy`` and ``arrays/index.json`` (see :mod:`medinterp.preprocessing.arrays`):
BreakHis at ``paper.image_size``, BreCaHAD at ``paper.evaluate.image_size`` (the paper's test set;
``paper.image_size`` unless set), the ISIC tables at ``isic.image_size`` (each from the active
profile unless set in params.yaml).
"""

from __future__ import annotations

from pathlib import Path

from medinterp import params as P
from medinterp.preprocessing.arrays import build, write_index
from medinterp.settings import resolve
from medinterp.stages import run

TABLES = {"paper": ("breakhis", "brecahad"), "isic": ("isic_binary", "isic2016_test", "isic_multiclass")}


def main() -> None:
    params = P.load_params()
    root = Path(P.get(params, "data.root"))
    jobs = int(P.get(params, "prepare.jobs"))
    entries = {}
    for section, tables in TABLES.items():
        resolved = resolve(params, section)
        for table in tables:
            entries[table] = build(table, int(_size(resolved, table)), root, jobs)
    write_index(entries)


def _size(resolved: dict, table: str) -> int:
    if table == "brecahad":
        return (resolved.get("evaluate") or {}).get("image_size") or resolved["image_size"]
    return resolved["image_size"]


if __name__ == "__main__":
    run(main)
