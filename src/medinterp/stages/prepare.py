"""Stage ``prepare``: decode every split table's images once, resized for the stages that read them.

Outputs ``arrays/<table>.npy`` and ``arrays/index.json`` (see :mod:`medinterp.preprocessing.arrays`):
BreakHis at ``paper.image_size``, BreCaHAD at ``paper.evaluate.image_size`` (the paper's test set;
``paper.image_size`` unless set), the ISIC tables at ``isic.image_size`` (each from the active
profile unless set in params.yaml). The peak memory of the run is logged, not written to an
output: outputs are the same on every machine.
"""

from __future__ import annotations

import logging
import resource
from pathlib import Path

from medinterp import params
from medinterp.preprocessing.arrays import build_all, write_index
from medinterp.stages import run

log = logging.getLogger(__name__)


def main() -> None:
    config = params.load()
    write_index(build_all(config.image_sizes(), Path(config.data.root), config.prepare.jobs))
    # ru_maxrss is in KiB on Linux; for children, that of the largest decoding process that has ended
    parent, child = (
        resource.getrusage(who).ru_maxrss / 1024 for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    log.info("prepare: peak RSS %.0f MiB in this process, %.0f MiB in the largest decoding process", parent, child)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run(main)
