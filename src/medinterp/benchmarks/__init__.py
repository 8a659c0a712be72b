"""Machine benchmarks that are not pipeline stages: the GPU check (``gpu_check``) and the scale run
(``scale``). Their numbers belong to a machine, so they go to metrics files no stage writes."""

from __future__ import annotations

import sys
from collections.abc import Callable


def run_script(main: Callable[[], None]) -> None:
    """``main()`` with the CLI's one-line errors and exit codes, as the stages end."""
    from medinterp.io import report_error

    try:
        main()
    except BaseException as exc:
        code = report_error(exc)
        if code is None:
            raise
        sys.exit(code)
