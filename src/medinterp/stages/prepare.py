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
from medinterp.stages import run


def main() -> None:
    params = P.load()
    root = Path(params.data.root)
    entries = {table: build(table, size, root, params.prepare.jobs) for table, size in params.image_sizes().items()}
    write_index(entries)


if __name__ == "__main__":
    run(main)
