"""DVC stage entry points: read params, call the library, write outputs atomically.

Each stage runs as its own process (``python -m medinterp.stages.<name>``), so TensorFlow and
PyTorch never share one. Python imports this package before the stage's module, so the numerics
are pinned here, before any stage imports numpy or a framework (``medinterp.numerics``).
"""

from __future__ import annotations

import sys
from typing import Callable

from medinterp import numerics
from medinterp.errors import MedinterpError

try:
    numerics.configure()
except numerics.NumericsError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)


def run(main: Callable[[], None]) -> None:
    """Run a stage; an error the user can act on is printed as one line, without a traceback."""
    try:
        main()
    except MedinterpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
