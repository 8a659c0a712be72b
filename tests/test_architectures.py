"""Every architecture of both studies in one run: the `models` / `paper.backbones` entries, the
per-entry stages DVC makes of them, what an experiment on the lists reruns, and the committed
report's Tables 6-10 filled for the thesis's three architectures."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from medinterp import params, registry
from medinterp.errors import ConfigError

PER_MODEL = (
    "isic_binary",
    "isic_multiclass",
    "isic_export",
    "interpret_outliers",
    "interpret_filters",
    "interpret_featurevis",
    "interpret_sanity",
)
THESIS = ("alexnet", "vgg16", "resnet50")


def _dvc_yaml() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())


@pytest.mark.parametrize(
    "entry, family, preferred, key",
    [
        ("resnet50", "auto", "torch", "torch:resnet50"),
        ("resnet50", "auto", "keras", "keras:resnet50"),
        ("resnet50", "keras", "torch", "keras:resnet50"),
        ("torch-resnet50", "keras", "keras", "torch:resnet50"),  # the prefix wins over both defaults
        ("keras-mobilenet_v2", "auto", "torch", "keras:mobilenet_v2"),
        ("alexnet", "auto", "keras", "torch:alexnet"),  # only one family has it
        ("nasnet_mobile", "auto", "torch", "keras:nasnet_mobile"),
    ],
)
def test_an_entry_names_one_spec(entry, family, preferred, key):
    assert registry.lookup(entry, family, preferred).key == key


@pytest.mark.parametrize(
    "entry, message",
    [
        ("keras-alexnet", "model 'alexnet' exists only in the torch family, not in keras"),
        ("jax-resnet50", "model 'jax-resnet50' is not registered"),  # not a family: the whole entry is the name
        ("torch-", "model '' is not registered"),
    ],
)
def test_a_bad_entry_is_one_line(entry, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        registry.lookup(entry)


def test_each_entry_is_a_valid_dvc_stage_name_and_folder():
    """DVC allows only `_` and `-` as punctuation in a stage name; the entry is also a folder name."""
    from dvc.stage.utils import is_valid_name

    for spec in registry.REGISTRY.values():
        entry = f"{spec.family}{registry.FAMILY_SEPARATOR}{spec.name}"
        assert is_valid_name(entry) and not is_valid_name(entry.replace("-", ":"))  # torch:resnet50 would not do
        assert registry.lookup(entry) is spec


def test_the_defaults_are_both_studies_whole():
    config = params.validate(yaml.safe_load((REPO / "params.yaml").read_text()))
    assert [config.model_spec(m).key for m in config.models] == [f"torch:{m}" for m in THESIS]
    assert [config.paper_for(b)[0].key for b in config.paper.backbones] == [
        "keras:nasnet_mobile",
        "keras:densenet201",
        "keras:mobilenet_v2",
    ]
    assert config.model in config.models


def test_per_model_stages_run_once_per_entry_and_ignore_the_lists():
    """`foreach: ${models}` makes one stage per entry; none depends on `models` or `model`, so adding an
    entry (or re-pointing the main artifacts) retrains no other architecture."""
    stages = _dvc_yaml()["stages"]
    for name in PER_MODEL:
        stage = stages[name]
        assert stage["foreach"] == "${models}", name
        assert "${item}" in stage["do"]["cmd"]
        assert not {"models", "model"} & set(stage["do"].get("params", [])), name
        outs = [
            next(iter(o)) if isinstance(o, dict) else o
            for o in stage["do"].get("outs", []) + stage["do"].get("metrics", [])
        ]
        assert all("${item}" in out for out in outs), (name, outs)
    for name in ("paper_autoencoder", "paper_classifier"):
        assert stages[name]["foreach"] == "${paper.backbones}"
        assert not {"models", "model", "paper.backbones", "paper"} & set(stages[name]["do"]["params"])


def test_dvc_lists_one_stage_per_default_entry():
    listed = subprocess.run(
        [sys.executable, "-m", "dvc", "stage", "list", "--name-only"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in PER_MODEL:
        assert [s for s in listed if s.startswith(f"{name}@")] == [f"{name}@{m}" for m in THESIS]


def test_every_default_architecture_has_its_artifacts_and_the_main_ones_follow_model():
    artifacts = _dvc_yaml()["artifacts"]
    for model in THESIS:
        for task in ("binary", "multiclass"):
            assert artifacts[f"isic-{model}-{task}-classifier"]["path"] == f"models/isic/{model}/{task}/model.onnx"
    assert artifacts["isic-binary-classifier"]["path"] == "models/isic/${model}/binary/model.onnx"
    assert artifacts["isic-multiclass-classifier"]["path"] == "models/isic/${model}/multiclass/model.onnx"


def _report_rows(table: str) -> list[dict[str, str]]:
    """Rows of one table of the committed metrics/report.md, as {column: cell}."""
    text = (REPO / "metrics/report.md").read_text()
    section = text.split(f"## {table} ")[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("|") and not line.startswith("|---")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[1:]]


@pytest.mark.parametrize(
    "table, columns",
    [
        ("Table 6", ["train accuracy", "train loss", "val accuracy", "val loss", "test accuracy"]),
        ("Table 7", ["AUC", "accuracy"]),
        ("Table 8", ["train accuracy", "val accuracy"]),
        ("Table 9", ["test AUC", "test accuracy", "val accuracy"]),
        ("Table 10", ["binary outlier set", "multiclass set"]),
    ],
)
def test_the_committed_report_fills_the_thesis_tables_for_all_three(table, columns):
    rows = {row["model"]: row for row in _report_rows(table) if row["family"] == "torch"}
    for model in THESIS:
        for column in columns:
            cell = rows[model][column]
            assert re.fullmatch(r"[\d., ]+", cell), (table, model, column, cell)


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "expected one argument, an entry of models (dvc.yaml passes it as ${item}), got []"),
        (["densenet201"], "'densenet201' is not in models ['alexnet', 'vgg16', 'resnet50']"),
    ],
)
def test_a_per_model_stage_without_its_entry_stops_in_one_line(tmp_path, monkeypatch, capsys, argv, message):
    from medinterp.stages import isic_binary, run

    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["isic_binary", *argv])
    with pytest.raises(SystemExit) as stopped:
        run(isic_binary.main)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.strip().count("\n") == 0 and message in err, err
