"""Every DVC stage depends on all the project code its entry point runs, so an edit to any module a
stage imports (directly, through other modules, or by name through importlib) reruns the stage.

The stages are read through DVC itself (foreach and ``${...}`` resolved, as ``dvc repro`` sees
them); each one's code is the import closure of the module its ``cmd`` runs (medinterp.provenance).
"""

from __future__ import annotations

import posixpath
import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from medinterp.provenance import code_digest, import_closure

REPO = Path(__file__).resolve().parents[1]
ENTRY = re.compile(r"^python -m (medinterp\.stages\.\w+)(\s|$)")


def resolved_stages(root: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (cmd, deps as written after templating, normalised) of each stage of root/dvc.yaml."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {
            stage.name: (stage.cmd, [posixpath.normpath(dep.def_path) for dep in stage.deps])
            for stage in repo.index.stages
            if stage.cmd  # data.dvc and other .dvc files run nothing
        }


def missing_deps(files: list[Path], deps: list[str]) -> list[str]:
    """The files that no dep covers: a dep covers its own path and everything below it."""
    normalised = [dep.rstrip("/") for dep in deps]
    return [
        f.as_posix()
        for f in files
        if not any(f.as_posix() == dep or f.as_posix().startswith(dep + "/") for dep in normalised)
    ]


def entry_module(cmd: str) -> str:
    match = ENTRY.match(cmd)
    assert match, f"cmd {cmd!r} does not run `python -m medinterp.stages.<name>`: its code deps cannot be checked"
    return match.group(1)


@pytest.fixture(scope="module")
def stages() -> dict[str, tuple[str, list[str]]]:
    return resolved_stages(REPO)


def test_every_stage_depends_on_the_code_it_imports(stages):
    assert stages, "no stages found in dvc.yaml"
    problems = []
    for name, (cmd, deps) in sorted(stages.items()):
        for file in missing_deps(import_closure(entry_module(cmd)), deps):
            problems.append(f"stage {name}: no dep covers {file}")
    assert not problems, "dvc.yaml is missing code deps:\n" + "\n".join(problems)


def test_every_code_dep_exists(stages):
    """A code dep left behind by a rename would fail `dvc repro` (missing dependency)."""
    stale = [
        f"stage {name}: {dep}"
        for name, (_, deps) in sorted(stages.items())
        for dep in deps
        if dep.startswith("src/") and not (REPO / dep).exists()
    ]
    assert not stale, "dvc.yaml depends on code that does not exist:\n" + "\n".join(stale)


def test_the_check_reports_a_removed_dep():
    """The check is not vacuous: from deps that cover a stage's closure, drop one needed file (or
    the folder that covered several) and exactly that is reported."""
    closure = import_closure("medinterp.stages.isic_binary")
    files = [f.as_posix() for f in closure]
    models = [f for f in files if f.startswith("src/medinterp/models/")]
    deps = [f for f in files if f not in models] + ["src/medinterp/models"]
    assert missing_deps(closure, deps) == []
    assert missing_deps(closure, [d for d in deps if d != "src/medinterp/io.py"]) == ["src/medinterp/io.py"]
    assert missing_deps(closure, [d for d in deps if d != "src/medinterp/models"]) == models
    assert "src/medinterp/models/keras/isic_classifier.py" in models  # reached only by name, through families.py


def test_missing_deps_by_hand():
    files = [
        Path("src/medinterp/models/keras/export.py"),
        Path("src/medinterp/io.py"),
        Path("src/medinterp/modelsx.py"),
    ]
    assert missing_deps(files, ["src/medinterp/models/", "src/medinterp/io.py"]) == ["src/medinterp/modelsx.py"]
    assert missing_deps(files, ["src/medinterp/models"]) == ["src/medinterp/io.py", "src/medinterp/modelsx.py"]
    assert missing_deps(files, ["src"]) == []


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture()
def fake_package(tmp_path) -> Path:
    """src/pkg: every way a module can pull in another, and modules nothing imports."""
    _write(
        tmp_path / "src",
        {
            "pkg/__init__.py": "",
            "pkg/base.py": "import os\n",
            "pkg/stages/__init__.py": "from pkg import base\n",  # runs before any stage
            "pkg/stages/job.py": """\
            from . import helper                     # relative, a submodule
            from ..models import build               # two levels up
            import json

            def main():
                import importlib
                import pkg.lazy                      # inside a function
                return importlib.import_module("pkg.byname"), "pkg.not_a_module", "not.pkg"
            """,
            "pkg/stages/helper.py": "from pkg.util.deep import VALUE\n",  # a name, not a module
            "pkg/stages/other.py": "",  # nothing imports it
            "pkg/models/__init__.py": "from .registry import REG\n",
            "pkg/models/build.py": "",
            "pkg/models/registry.py": "REG = {}\n",
            "pkg/util/__init__.py": "",
            "pkg/util/deep.py": "VALUE = 1\n",
            "pkg/lazy.py": "",
            "pkg/byname.py": "from pkg.util import deep\n",
            "pkg/unused.py": "",
        },
    )
    return tmp_path / "src"


def test_import_closure_of_a_fake_package(fake_package):
    closure = [p.as_posix() for p in import_closure("pkg.stages.job", fake_package)]
    assert closure == sorted(
        f"src/pkg/{name}"
        for name in [
            "__init__.py",
            "base.py",  # package on the way, and its import
            "stages/__init__.py",
            "stages/job.py",
            "stages/helper.py",  # relative import
            "models/__init__.py",
            "models/build.py",
            "models/registry.py",  # `from ..x import y`, x's __init__
            "util/__init__.py",
            "util/deep.py",  # `from x.y import name`
            "lazy.py",  # function-level import
            "byname.py",  # a string naming a module
        ]
    )


def test_import_closure_rejects_an_unknown_module(fake_package):
    with pytest.raises(ModuleNotFoundError):
        import_closure("pkg.nothing", fake_package)


def test_code_digest_follows_the_closure_only(fake_package):
    before = code_digest("pkg.stages.job", fake_package)
    (fake_package / "pkg/unused.py").write_text("x = 1\n")
    (fake_package / "pkg/stages/other.py").write_text("x = 1\n")
    assert code_digest("pkg.stages.job", fake_package) == before
    (fake_package / "pkg/lazy.py").write_text("x = 1\n")
    assert code_digest("pkg.stages.job", fake_package) != before


def test_real_closure_includes_packages_and_named_modules():
    closure = {p.as_posix() for p in import_closure("medinterp.stages.isic_export")}
    assert {
        "src/medinterp/__init__.py",
        "src/medinterp/stages/__init__.py",
        "src/medinterp/stages/isic_export.py",
    } <= closure
    # models/families.py names each family's module as a string for importlib: both count
    assert {"src/medinterp/models/torch/export.py", "src/medinterp/models/keras/export.py"} <= closure


def test_no_stage_walks_the_image_folders(tmp_path):
    """No stage depends on params.yaml's data.root as a whole (a walk of 68,000 files per `dvc
    status`): split on the label files below it and its data params, every later stage that reads
    dataset files on split's digests of them (splits/sources.csv)."""
    from dvc.repo import Repo

    repo, outside = tmp_path / "repo", tmp_path / "elsewhere" / "datasets"
    repo.mkdir()
    Repo.init(str(repo), no_scm=True).close()
    shutil.copy(REPO / "dvc.yaml", repo / "dvc.yaml")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["root"] = str(outside)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))

    stages = resolved_stages(repo)
    in_data = {
        name: [d for d in deps if d == str(outside) or d.startswith(str(outside) + "/") or d.split("/")[0] == "data"]
        for name, (_, deps) in stages.items()
    }
    assert sorted(name for name, deps in in_data.items() if deps) == ["split"], (
        "only split reads dataset files directly"
    )
    # the label files (which also make `dvc repro --pull` fetch data.dvc), never a folder of images
    label_files = {posixpath.relpath(d, str(outside)) for d in in_data["split"]}
    assert label_files == {
        "BreCaHAD/groundTruth",
        "ISIC_2019/ISIC_2019_Training_GroundTruth.csv",
        "ISIC_2019/ISIC_2019_Training_Metadata.csv",
        "ISIC_2020/ISIC_2020_Training_Duplicates.csv",
        "ISIC_2016/ISBI2016_ISIC_Part3_Training_GroundTruth.csv",
        "ISIC_2016/ISBI2016_ISIC_Part3_Test_GroundTruth.csv",
    }
    for name in ("prepare", "paper_evaluate", "paper_explanations"):
        assert {"splits", "splits/sources.csv"} & set(stages[name][1]), f"stage {name} lacks split's digests"
    split = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["split"]
    assert "data" in split["params"], "split must rerun when data.root, data.paths or data.profile change"


def test_stages_only_an_experiment_makes_depend_on_their_code_too(tmp_path):
    """``interpret_paper`` and torch paper backbones have no stage under the default params; with
    them named, their stages' deps cover their code as well."""
    from dvc.repo import Repo

    Repo.init(str(tmp_path), no_scm=True)
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["paper"]["backbones"].append("torch-resnet50")
    params["interpret"]["paper"]["backbones"] = ["torch-resnet50"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    found = resolved_stages(tmp_path)
    added = {
        name: found[name]
        for name in (
            "interpret_paper@torch-resnet50-vanilla",
            "paper_autoencoder@torch-resnet50",
            "paper_classifier@torch-resnet50",
        )
    }
    problems = [
        f"stage {name}: no dep covers {file}"
        for name, (cmd, deps) in added.items()
        for file in missing_deps(import_closure(entry_module(cmd)), deps)
    ]
    assert not problems, "\n".join(problems)
    assert "models/paper/torch-resnet50" in added["interpret_paper@torch-resnet50-vanilla"][1]
