"""DVC stage entry points: read params, call the library, write outputs atomically.

Each stage runs as its own process (``python -m medinterp.stages.<name>``), so TensorFlow and
PyTorch never share one. Python imports this package before the stage's module, so the numerics
are pinned here, before any stage imports numpy or a framework (``medinterp.numerics``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from medinterp import numerics
from medinterp.errors import ConfigError, MedinterpError, debugging

try:
    numerics.configure()
except numerics.NumericsError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)


def _interrupted_while_importing(kind, exc, tb) -> None:
    """Ctrl-C before :func:`run` is reached (a stage spends seconds importing its libraries) is one
    line too; Python still ends the process as killed by SIGINT (exit 130)."""
    if issubclass(kind, KeyboardInterrupt) and not debugging():
        print("error: interrupted (Ctrl-C)", file=sys.stderr)
        return
    sys.__excepthook__(kind, exc, tb)


sys.excepthook = _interrupted_while_importing

# after the pins: medinterp.io imports pandas, so numpy
from medinterp import io  # noqa: E402
from medinterp.io import Terminated, report_error, sigterm_raises  # noqa: E402


def run(main: Callable[[], None]) -> None:
    """Run a stage in one output transaction (``medinterp.io.transaction``): its outputs are all
    renamed into place when ``main`` returns, and none is when it raises. An error the user can act
    on ends the process with one line on stderr, without a traceback (``MEDINTERP_DEBUG=1`` shows
    it): exit 2 for a :class:`MedinterpError`, 1 for an ``OSError`` (a full disk), 130 for Ctrl-C,
    143 for SIGTERM."""
    try:
        with sigterm_raises(), io.transaction():
            main()
    except (MedinterpError, OSError, KeyboardInterrupt, Terminated) as exc:
        sys.exit(report_error(exc))


def foreach_item(list_param: str) -> str:
    """The one argument of a ``foreach`` stage (``python -m medinterp.stages.<name> <entry>``): the
    entry of the list param ``list_param`` that dvc.yaml passes as ``${item}``."""
    if len(sys.argv) != 2:
        raise ConfigError(
            f"expected one argument, an entry of {list_param} (dvc.yaml passes it as ${{item}}), got {sys.argv[1:]}"
        )
    return sys.argv[1]
