"""The model families' layering, read from the source (``ast``), never by importing it.

``medinterp.models.keras`` and ``medinterp.models.torch`` build on framework-free code
(``medinterp.training``, ``interpret``, ``export``, ``evaluation``, ``params``, ``registry``,
``models/*.py`` ...) and never on a task package (``medinterp.isic``, ``medinterp.paper``,
``medinterp.stages``), neither directly nor through the medinterp modules they import; a family
never imports the other family's framework or package; and both families keep the same job in
a file of the same name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
FAMILIES = ("keras", "torch")
TASK_PACKAGES = ("medinterp.isic", "medinterp.paper", "medinterp.stages")
# what a family's process must not load: the other framework and the other family's modules
OTHER_FRAMEWORK = {
    "keras": ("torch", "torchvision", "medinterp.models.torch"),
    "torch": ("tensorflow", "keras", "tf2onnx", "medinterp.models.keras"),
}
SHARED_JOBS = ("adapter", "build", "checkpoint", "train", "isic_classifier", "export", "transforms", "paper_networks")
FAMILY_ONLY = {"keras": {"optimizers"}, "torch": {"data"}}  # a file with no counterpart, on purpose

Sources = dict[str, tuple[str, bool]]  # module name -> (source text, is a package)


def project_sources(root: Path = SRC) -> Sources:
    """Every module of the ``medinterp`` package below ``root``."""
    found = {}
    for path in sorted((root / "medinterp").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path.read_text(encoding="utf-8"), package)
    return found


def _function_level(tree: ast.AST) -> set[int]:
    """ids of the nodes inside a function: they run when it is called, not when the module loads."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            inside.update(id(child) for child in ast.walk(node) if child is not node)
    return inside


def imports_of(name: str, sources: Sources) -> dict[str, bool]:
    """Every module that module ``name`` names in an import statement anywhere (module level, in
    functions, relative ones resolved) or as a ``medinterp.*`` string (``importlib``'s argument),
    with whether one of those imports runs when the module loads. ``from x import y`` counts as
    importing ``x`` and ``x.y`` (``y`` may be a submodule)."""
    source, package = sources[name]
    tree = ast.parse(source, filename=name)
    deferred = _function_level(tree)
    here = name if package else name.rpartition(".")[0]
    found: dict[str, bool] = {}

    def add(module: str, node: ast.AST, at_load: bool | None = None) -> None:
        loads = id(node) not in deferred if at_load is None else at_load
        found[module] = found.get(module, False) or loads

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = here.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            add(base, node)
            for alias in node.names:
                if alias.name != "*":
                    add(f"{base}.{alias.name}", node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("medinterp."):
            if all(part.isidentifier() for part in node.value.split(".")):
                add(node.value, node, at_load=False)
    return found


def _within(module: str, prefixes: tuple[str, ...]) -> str | None:
    return next((p for p in prefixes if module == p or module.startswith(p + ".")), None)


def reached(start: str, sources: Sources) -> dict[str, list[str]]:
    """Each medinterp module that loading ``start`` may load (every import, functions' too, and the
    packages on the way), with the chain of imports from ``start`` to it."""
    chains = {start: [start]}
    todo = [start]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        targets = [".".join(parts[:i]) for i in range(1, len(parts))] + list(imports_of(name, sources))
        for target in targets:
            if target in sources and target not in chains:
                chains[target] = [*chains[name], target]
                todo.append(target)
    return chains


def _as_module(name: str, sources: Sources) -> str:
    """``name``, or its longest prefix that is a module (``from x import function``: ``x``)."""
    parts = name.split(".")
    return next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in sources), name)


def layering_problems(sources: Sources) -> list[str]:
    """One line per forbidden import reached from a module of either family."""
    problems = []
    for family in FAMILIES:
        package = f"medinterp.models.{family}"
        for start in sorted(n for n in sources if n == package or n.startswith(package + ".")):
            for name, chain in sorted(reached(start, sources).items()):
                for imported, at_load in sorted(imports_of(name, sources).items()):
                    imported = _as_module(imported, sources)
                    via = " -> ".join([*chain, imported])
                    if _within(imported, TASK_PACKAGES):
                        problems.append(f"{start} depends on a task package: {via}")
                    # the other framework: in the family's own modules anywhere, in what they use at load time
                    own = name == package or name.startswith(package + ".")
                    if _within(imported, OTHER_FRAMEWORK[family]) and (own or at_load):
                        problems.append(f"{start} ({family}) loads {imported}: {via}")
    return sorted(set(problems))


@pytest.fixture(scope="module")
def sources() -> Sources:
    return project_sources()


def test_families_depend_on_framework_free_code_only(sources):
    assert {f"medinterp.models.{family}" for family in FAMILIES} <= set(sources)
    problems = layering_problems(sources)
    assert not problems, "layering broken:\n" + "\n".join(problems)


def test_the_check_reports_forbidden_imports(sources):
    """The check is not vacuous: fake modules with each kind of forbidden import, direct, in a
    function, through a shared module or by name, are each reported; a clean fake is not."""
    fake = dict(sources)
    fake["medinterp.models.torch.fake_direct"] = ("from medinterp.isic.layout import model_folder\n", False)
    fake["medinterp.models.keras.fake_lazy"] = ("def f():\n    from medinterp import paper\n    return paper\n", False)
    fake["medinterp.fake_shared"] = ("import numpy\nfrom .stages import run\n", False)
    fake["medinterp.models.torch.fake_transitive"] = ("from medinterp import fake_shared\n", False)
    fake["medinterp.models.keras.fake_by_name"] = (
        "import importlib\nM = importlib.import_module('medinterp.stages.split')\n",
        False,
    )
    fake["medinterp.models.torch.fake_framework"] = ("def f():\n    import tensorflow as tf\n    return tf\n", False)
    fake["medinterp.models.keras.fake_other_family"] = ("from medinterp.models.torch.build import build\n", False)
    fake["medinterp.models.torch.fake_clean"] = ("import torch\nfrom medinterp.training.loop import fit\n", False)
    problems = layering_problems(fake)
    expected = {
        "fake_direct": "medinterp.models.torch.fake_direct -> medinterp.isic.layout",
        "fake_lazy": "medinterp.models.keras.fake_lazy -> medinterp.paper",
        "fake_transitive": "medinterp.models.torch.fake_transitive -> medinterp.fake_shared -> medinterp.stages",
        "fake_by_name": "medinterp.models.keras.fake_by_name -> medinterp.stages.split",
        "fake_framework": "(torch) loads tensorflow: medinterp.models.torch.fake_framework -> tensorflow",
        "fake_other_family": "(keras) loads medinterp.models.torch.build",
    }
    for name, text in expected.items():
        assert any(text in line for line in problems), (name, problems)
    assert not [line for line in problems if "fake_clean" in line]
    assert {line.split()[0] for line in problems} == {n for n in fake if n.rpartition(".")[2] in expected}


def test_imports_of_reads_every_kind_of_import():
    source = (
        "import os\nfrom . import sibling\nfrom ..up import thing\nimport a.b as ab\n"
        "class K:\n    from x import y\n"
        "def f():\n    import late\n    return 'medinterp.by.name', 'medinterp.not a module'\n"
    )
    found = imports_of("medinterp.pkg.mod", {"medinterp.pkg.mod": (source, False)})
    assert found == {
        "os": True,
        "medinterp.pkg": True,
        "medinterp.pkg.sibling": True,
        "medinterp.up": True,
        "medinterp.up.thing": True,
        "a.b": True,
        "x": True,
        "x.y": True,
        "late": False,
        "medinterp.by.name": False,
    }


def test_both_families_keep_each_shared_job_in_a_file_of_the_same_name():
    files = {
        family: {p.stem for p in (SRC / "medinterp" / "models" / family).glob("*.py")} - {"__init__"}
        for family in FAMILIES
    }
    for family in FAMILIES:
        assert files[family] == set(SHARED_JOBS) | FAMILY_ONLY[family], family


def test_the_families_table_names_the_same_module_in_both_families():
    from medinterp.models.families import JOBS  # numpy-free: no framework is imported

    for job, by_family in JOBS.items():
        assert set(by_family) == set(FAMILIES), job
        modules = {family: module for family, (module, _) in by_family.items()}
        assert {m.rpartition(".")[2] for m in modules.values()} <= set(SHARED_JOBS), job
        assert len({m.rpartition(".")[2] for m in modules.values()}) == 1, (job, modules)
        assert len({name for _, name in by_family.values()}) == 1, job
        for family, module in modules.items():
            assert module.startswith(f"medinterp.models.{family}."), (job, module)
