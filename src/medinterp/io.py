"""Atomic output writing: a stage that is interrupted never leaves a half-written file for DVC to record.

Every output goes through :func:`atomic_path` (directly, or through :func:`write_text`,
:func:`write_json`, :func:`write_csv`, :func:`copy_file`): the data is written to a temporary file
beside the target, created with the mode the umask gives (0644 under umask 022, like any file a
program creates), flushed to disk (``fsync``) and only then renamed onto the target; the
directory is fsynced after the rename where the OS allows, so the rename itself survives a crash.
A failure inside the block removes the temporary file and leaves the old target as it was.

A :func:`transaction` (``medinterp.stages.run`` opens one around every stage, the CLI around every
command) makes a stage's outputs one unit: while it is open, each write stops after the fsync and
its rename waits; when the block ends without an exception all renames happen together (SIGINT
deferred meanwhile), on any exception every temporary file is removed and the previous outputs
stay. So a full disk or a Ctrl-C leaves the previous complete set or the new one, never a mix.

A file written earlier in the same transaction is not at its path yet: code that reads back what
it wrote (an ONNX export read for its parity check and to attach its metadata) reads
:func:`readable` ``(path)`` (the pending temporary file, else ``path``) and asks :func:`exists`;
a second write to a pending path replaces the pending version.
"""

from __future__ import annotations

import errno as _errno
import json
import os
import secrets
import shutil
import signal
import stat
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from medinterp.errors import MedinterpError, debugging

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _key(path: str | Path) -> Path:
    return Path(os.path.abspath(path))


class Transaction:
    """The renames a stage's writes are waiting for: target -> fsynced temporary file."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.pending: dict[Path, Path] = {}
        self.lock = threading.Lock()

    def add(self, path: Path, tmp: Path) -> None:
        with self.lock:
            before = self.pending.pop(_key(path), None)
            self.pending[_key(path)] = tmp
        if before is not None and before != tmp:
            _unlink(before)

    def lookup(self, path: str | Path) -> Path | None:
        with self.lock:
            return self.pending.get(_key(path))

    def discard(self) -> None:
        """Remove every pending temporary file; the targets stay as they were."""
        with self.lock:
            pending, self.pending = self.pending, {}
        for tmp in pending.values():
            _unlink(tmp)

    def commit(self) -> None:
        """Rename every pending file onto its target. Should a rename fail, the targets already
        replaced get their previous files back (kept as hard links meanwhile, where the file system
        has them) and the error is raised."""
        with self.lock:
            pending, self.pending = self.pending, {}
        had = {target: target.exists() for target in pending}
        backups = {target: _link_backup(target) for target in pending}
        done: list[Path] = []
        try:
            for target, tmp in pending.items():
                os.replace(tmp, target)
                done.append(target)
        except BaseException:
            for target in reversed(done):
                try:
                    if backups[target] is not None:
                        os.replace(backups[target], target)
                        backups[target] = None
                    elif not had[target]:
                        target.unlink(missing_ok=True)
                except OSError:
                    pass
            for target, tmp in pending.items():
                if target not in done:
                    _unlink(tmp)
            raise
        finally:
            for backup in backups.values():
                if backup is not None:
                    _unlink(backup)
        for folder in dict.fromkeys(target.parent for target in done):
            fsync_dir(folder)


_active: Transaction | None = None
_active_lock = threading.Lock()


def current_transaction() -> Transaction | None:
    """The transaction open in this process, if any (a forked worker does not inherit it)."""
    txn = _active
    return txn if txn is not None and txn.pid == os.getpid() else None


@contextmanager
def transaction() -> Iterator[Transaction]:
    """Make the writes of the block one unit: all renamed at its end, or none if it raises.

    Inside an open transaction this joins it (the outermost one commits)."""
    global _active
    outer = current_transaction()
    if outer is not None:
        yield outer
        return
    txn = Transaction()
    with _active_lock:
        _active = txn
    try:
        try:
            yield txn
        except BaseException:
            with deferred_sigint(reraise=False):
                txn.discard()
            raise
        with deferred_sigint():
            txn.commit()
    finally:
        with _active_lock:
            if _active is txn:
                _active = None


@contextmanager
def deferred_sigint(reraise: bool = True) -> Iterator[None]:
    """Hold back Ctrl-C during the block (main thread only); raise it once the block is done
    (``reraise``) or drop it (the caller is raising already)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:  # a handler not installed from Python: leave it alone
        yield
        return
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught and reraise:
        raise KeyboardInterrupt


def readable(path: str | Path) -> Path:
    """Where the current content of ``path`` is: its pending temporary file inside a transaction
    that wrote it, else ``path``."""
    txn = current_transaction()
    pending = txn.lookup(path) if txn is not None else None
    return pending if pending is not None else Path(path)


def exists(path: str | Path) -> bool:
    """Whether ``path`` exists, counting a file written earlier in the open transaction."""
    return readable(path).exists()


def fsync_dir(folder: str | Path) -> None:
    """Flush a directory's entries (a rename into it) to disk, where the OS allows it."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # e.g. EINVAL: a file system that does not sync directories
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path, mode: int) -> None:
    """Give ``path`` ``mode`` (a writer may have replaced the file it was given) and flush it to disk."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
            os.chmod(path, mode)
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _link_backup(target: Path) -> Path | None:
    """A hard link to the file at ``target`` (None when there is none or links are unsupported)."""
    if not target.is_file():
        return None
    for _ in range(100):
        backup = target.with_name(f".{target.name}.{secrets.token_hex(4)}.old")
        try:
            os.link(target, backup)
            return backup
        except FileExistsError:
            continue
        except OSError:
            return None
    return None


def _create_temp(path: Path, suffix: str) -> tuple[Path, int]:
    """A new empty file beside ``path``, created as any file is (mode 0666 less the umask), and its mode."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
        try:
            fd = os.open(tmp, _CREATE, 0o666)
        except FileExistsError:
            continue
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
        return tmp, mode
    raise FileExistsError(_errno.EEXIST, "no free temporary name", str(path))


def _named(exc: OSError, path: Path, tmp: Path) -> OSError:
    """``exc`` naming the output instead of its temporary file, so the user's message says which output."""
    if exc.errno is None or exc.filename not in (None, str(tmp), tmp):
        return exc
    return OSError(exc.errno, exc.strerror, str(path))


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp", now: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; if the block succeeds the file is fsynced
    and renamed onto ``path`` (inside a :func:`transaction`: at its end, unless ``now``, for state
    that must survive the stage being killed, such as ``training.resume``'s). ``suffix`` ends the
    temporary name, for writers that insist on one (Keras's ``.weights.h5``)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(_errno.EISDIR, "is a folder, not a file to write", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, mode = _create_temp(path, suffix)
    try:
        yield tmp
        _fsync_file(tmp, mode)
        txn = None if now else current_transaction()
        if txn is not None:
            txn.add(path, tmp)
            return
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        _unlink(tmp)
        named = _named(exc, path, tmp)
        if named is exc:
            raise
        raise named from exc
    except BaseException:
        _unlink(tmp)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    """Write a CSV with LF line endings and fixed float formatting, so equal data gives equal bytes."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n", float_format="%.6g")


def copy_file(source: str | Path, path: str | Path) -> None:
    """Copy ``source`` (its pending version, if the open transaction wrote it) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        shutil.copyfile(readable(source), tmp)


def check_writable(path: str | Path, what: str = "output") -> Path:
    """Raise ``ValueError`` with the reason unless a file can be written at ``path``: it is no
    folder, and its folder exists as a writable folder or can be created."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder; give a file name")
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{what} {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path}: folder {parent} is not writable")
    return path


# --- how a stage or a command ends on an error (medinterp.stages.run, medinterp.cli.main) ---

INTERRUPTED, TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that an open transaction is rolled back
    (``medinterp.stages.run`` opens one around every stage)."""


def describe_os_error(exc: OSError) -> str:
    """``<file>: <problem>`` for an OSError (``splits/removed.csv: No space left on device``)."""
    problem = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None and exc.filename2 is not None:
        return f"{exc.filename} -> {exc.filename2}: {problem}"
    if exc.filename is not None:
        return f"{exc.filename}: {problem}"
    return problem


def report_error(exc: BaseException, debug: bool | None = None) -> int | None:
    """Print the one-line message for an error the user can act on (a :class:`MedinterpError`, an
    ``OSError`` such as a full disk, Ctrl-C or SIGTERM), with the traceback first when debugging;
    return the exit code, or None for anything else (a bug: the caller lets its traceback show)."""
    if isinstance(exc, MedinterpError):
        message, code = str(exc), 2
    elif isinstance(exc, OSError):
        message, code = describe_os_error(exc), 1
    elif isinstance(exc, KeyboardInterrupt):
        message, code = "interrupted (Ctrl-C)", INTERRUPTED
    elif isinstance(exc, Terminated):
        message, code = "terminated (SIGTERM)", TERMINATED
    else:
        return None
    if debugging() if debug is None else debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` for the block (main thread only), so it unwinds like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is None:
        yield
        return

    pid = os.getpid()

    def raise_terminated(signum, frame):
        if os.getpid() != pid:  # a forked worker (a process pool's) inherited this: die as SIGTERM asks
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated()

    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
