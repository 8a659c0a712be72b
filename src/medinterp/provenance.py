"""Which source files a module's code depends on, found by reading (``ast``), never by importing.

Used to check that each DVC stage depends on all the code it runs (tests/test_stage_deps.py), and
to stamp exported models with a digest of that code. Standard library only: it must run where
neither framework is installed, and importing a module to inspect it would load its framework.
"""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]  # the folder that holds the medinterp package (src/)

_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def _source(name: str, root: Path) -> Path | None:
    """The file that defines module ``name`` below ``root``, None when no module has that name."""
    base = root.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):  # a package wins, as in Python
        if candidate.is_file():
            return candidate
    return None


def _imported(name: str, path: Path, top: str, root: Path) -> set[str]:
    """Names of the ``top`` modules that the file of module ``name`` may import: every import
    statement anywhere in it (functions included) and every string literal that names one of them
    (the names ``importlib`` is given, as in models/families.py)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")  # level 1: this package, 2: its parent, ...
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            # `from x import y`: y may be a submodule; if it is not a module, _source finds nothing
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(top + ".")
            and _DOTTED.fullmatch(node.value)
            and _source(node.value, root) is not None
        ):
            found.add(node.value)
    return {n for n in found if n == top or n.startswith(top + ".")}


def import_closure(module: str, source_root: Path | str | None = None) -> list[Path]:
    """Source files that ``python -m module`` executes from the module's own top-level package:
    the module, what it imports (recursively), and each package's ``__init__.py`` on the way.

    ``source_root`` is the folder holding the package (default: this project's ``src``); paths are
    returned relative to its parent (the repository root: ``src/medinterp/io.py``), sorted.
    """
    root = Path(source_root).resolve() if source_root is not None else SOURCE_ROOT
    top = module.split(".")[0]
    main = _source(module, root)
    if main is None:
        raise ModuleNotFoundError(f"no module {module!r} below {root}")
    seen: dict[str, Path] = {}
    todo = [module]
    if main.name == "__init__.py" and (main.parent / "__main__.py").is_file():
        todo.append(f"{module}.__main__")  # `python -m package` runs its __main__
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _source(name, root)
        if path is None:  # `from x import y` where y is a function or class, not a module
            continue
        seen[name] = path
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
        todo.extend(_imported(name, path, top, root))
    return sorted(p.relative_to(root.parent) for p in set(seen.values()))


def code_digest(module: str, source_root: Path | str | None = None) -> str:
    """sha256 of the code ``python -m module`` runs (its import closure's paths and contents), so a
    model exported by one version of the code can be told from one exported by another.

    Paths enter relative to ``source_root`` (``medinterp/io.py``): the same code gives the same
    digest from a checkout's src/ and from an installed copy."""
    root = Path(source_root).resolve() if source_root is not None else SOURCE_ROOT
    digest = hashlib.sha256()
    for relative in import_closure(module, root):
        path = root.parent / relative
        data = path.read_bytes()
        name = path.relative_to(root).as_posix().encode()
        # with the length, bytes cannot move from one file to the next and keep the digest
        digest.update(name + b"\0" + str(len(data)).encode() + b"\0")
        digest.update(data)
    return digest.hexdigest()
