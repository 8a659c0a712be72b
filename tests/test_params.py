"""The params schema: one line naming the key for every bad value, the docs generated from it, and
the repository's params.yaml equal to its defaults."""

from __future__ import annotations

import copy
import re
from typing import get_args

import pytest
import yaml
from conftest import REPO

from medinterp import params
from medinterp.datasets.brecahad import ANNOTATION_KEYS
from medinterp.datasets.isic2019 import CLASSES as ISIC2019_CLASSES
from medinterp.errors import ConfigError
from medinterp.evaluation.scalars import BINARY_KEYS, MULTICLASS_KEYS
from medinterp.interpret.ira import CONSTANT_POLICIES
from medinterp.stages import run

RAW = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))


def _with(key: str, value, drop: str | None = None) -> dict:
    raw = copy.deepcopy(RAW)
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    if drop:
        node.pop(drop)
    node[last] = value
    return raw


def _resolve_all(config: params.Params) -> None:
    config.isic_task("binary"), config.isic_task("multiclass"), config.interpret_settings(), config.image_sizes()
    for backbone in config.paper.backbones:
        config.paper_for(backbone)


@pytest.mark.parametrize(
    "key, value, drop, message",
    [
        ("isic.binary.epoch", 1, None, "isic.binary.epoch is not a param; did you mean isic.binary.epochs?"),
        (
            "split.breakhis.val_fracton",
            0.5,
            None,
            "split.breakhis.val_fracton is not a param; did you mean split.breakhis.val_fraction?",
        ),
        (
            "split.breakhis.val_frac",
            0.5,
            "val_fraction",
            "split.breakhis.val_frac is not a param; did you mean split.breakhis.val_fraction?",
        ),
        (
            "profiles.sample.isic.binary.epoch",
            3,
            None,
            "profiles.sample.isic.binary.epoch is not a param; did you mean profiles.sample.isic.binary.epochs?",
        ),
        ("isic.zzz", 3, None, "isic.zzz is not a param; the keys here are ['image_size', 'weights'"),
        ("isic.binary.epochs", "ten", None, "isic.binary.epochs is 'ten': should be a valid integer"),
        ("seed", "abc", None, "seed is 'abc': should be a valid integer"),
        ("seed", -1, None, "seed is -1: should be greater than or equal to 0"),
        ("isic.binary.learning_rate", -0.001, None, "isic.binary.learning_rate is -0.001: should be greater than 0"),
        ("paper.classifier.dropout", 1.0, None, "paper.classifier.dropout is 1.0: should be less than 1"),
        (
            "split.breakhis.magnification",
            300,
            None,
            "split.breakhis.magnification is 300: should be 40, 100, 200 or 400",
        ),
        ("split.isic_binary.folds", 1, None, "split.isic_binary.folds is 1: should be greater than or equal to 2"),
        (
            "paper.variants",
            ["vanila"],
            None,
            "paper.variants[0] is 'vanila': should be 'vanilla', 'encoder-imagenet' or 'encoder-random'",
        ),
        (
            "paper.backbones",
            ["resnet51"],
            None,
            "paper.backbones is ['resnet51']: 'resnet51': model 'resnet51' is not registered; choose one of",
        ),
        (
            "paper.backbones",
            ["keras-alexnet"],
            None,
            "paper.backbones is ['keras-alexnet']: 'keras-alexnet': model 'alexnet' exists only in the torch family",
        ),
        (
            "paper.backbones",
            ["torch-alexnet", "alexnet"],
            None,
            "paper.backbones is ['torch-alexnet', 'alexnet']: names ['torch:alexnet'] more than once",
        ),
        (
            "model",
            "resnet51",
            None,
            "model 'resnet51' is not one of models ['alexnet', 'vgg16', 'resnet50']: add it there",
        ),
        ("models", ["vgg16", "torch-vgg16"], None, "models: names ['torch:vgg16'] more than once"),
        ("models", [], None, "models is []: List should have at least 1 item"),
        ("family", "keras", None, "models: 'alexnet': model 'alexnet' exists only in the torch family, not in keras"),
        (
            "interpret.paper.backbones",
            ["alexnet"],
            None,
            "interpret.paper.backbones ['alexnet'] are not in paper.backbones",
        ),
        (
            "isic.augment.hue",
            [0.2, 0.1],
            None,
            r"isic.augment.hue is [0.2, 0.1]: should be [low, high] with low <= high",
        ),
        ("isic.augment.crop_scale", [0.5, 1.5], None, r"isic.augment.crop_scale is [0.5, 1.5]: should lie in (0, 1]"),
        (
            "interpret.sanity.layers",
            0,
            None,
            "interpret.sanity.layers is 0: should be greater than or equal to 1 or should be 'all'",
        ),
        (
            "split.isic_multiclass.classes",
            ["MEL", "XX"],
            None,
            "split.isic_multiclass.classes[1] is 'XX': should be 'MEL'",
        ),
        (
            "split.isic_multiclass.classes",
            ["MEL", "MEL"],
            None,
            "split.isic_multiclass.classes is ['MEL', 'MEL']: lists a class twice",
        ),
        ("isic.multiclass.class_weights", {"MEL": 0.3, "QQ": 1}, None, "isic.multiclass.class_weights.QQ is 'QQ'"),
        ("data.profile", "medium", None, "data.profile is 'medium': should be 'sample' or 'full'"),
        (
            "profiles.sample.isic.image_size",
            None,
            None,
            "isic.image_size is null and not set in profiles.sample.isic; give it a value",
        ),
        (
            "paper.classifier.monitor",
            "val_aucc",
            None,
            "paper.classifier.monitor is 'val_aucc': should be 'val_loss', 'val_accuracy' or 'val_roc_auc'",
        ),
        ("isic.binary.best_fold_by", "test_roc_auc", None, "isic.binary.best_fold_by is 'test_roc_auc'"),
        (
            "profiles.sample.paper.autoencoder",
            {"epochs": 0},
            None,
            "profiles.sample.paper.autoencoder.epochs is 0: should be greater than or equal to 1",
        ),
        ("isic.binary.freeze", "classifier", None, "isic.binary.freeze is 'classifier': should be a valid list"),
        ("paper.evaluate.points", ["tumour"], None, "paper.evaluate.points[0] is 'tumour'"),
        (
            "paper.evaluate.constant_heatmap",
            "drop",
            None,
            "paper.evaluate.constant_heatmap is 'drop': should be 'zero' or 'skip'",
        ),
        ("prepare.jobs", 0, None, "prepare.jobs is 0: should be greater than or equal to 1"),
        ("interpret", "all", None, "interpret is 'all': should be a valid dictionary"),
    ],
)
def test_bad_params_are_one_line_naming_the_key(key, value, drop, message):
    raw = _with(key, value, drop)
    with pytest.raises(ConfigError) as caught:
        _resolve_all(params.validate(raw))
    text = str(caught.value)
    assert text.startswith("params.yaml: ") and "\n" not in text
    assert message in text, text


def test_null_inherited_values_come_from_profile_then_registry():
    raw = _with("data.profile", "full")
    config = params.validate(raw)
    alexnet = params.validate({**raw, "model": "alexnet"}).isic_task("binary")
    assert (alexnet.epochs, alexnet.batch_size, alexnet.learning_rate, alexnet.image_size) == (15, 32, 0.0001, 224)
    assert config.isic_task("multiclass").epochs == 40  # registry (resnet50), not the profile
    assert params.validate(_with("isic.binary.epochs", 9)).isic_task("binary").epochs == 9  # params.yaml wins
    assert params.validate(_with("profiles.sample.isic.binary.epochs", 6)).isic_task("binary").epochs == 6


def test_image_sizes_are_resolved_once_for_prepare():
    assert params.validate(RAW).image_sizes() == {
        "breakhis": 64,
        "brecahad": 128,
        "isic_binary": 64,
        "isic2016_test": 64,
        "isic_multiclass": 64,
    }
    full = params.validate(_with("data.profile", "full")).image_sizes()
    assert full["breakhis"] == full["brecahad"] == 128 and full["isic_binary"] == 224
    assert params.validate(_with("paper.evaluate.image_size", 96)).image_sizes()["brecahad"] == 96


def test_files_that_are_not_params(tmp_path):
    with pytest.raises(ConfigError, match="not found; run the stage from the repository root"):
        params.load(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML") as caught:
        params.load(tmp_path / "params.yaml")
    assert "\n" not in str(caught.value)
    (tmp_path / "params.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level, found list"):
        params.load(tmp_path / "params.yaml")


def test_a_stage_with_a_misspelt_param_stops_before_any_work(tmp_path, monkeypatch, capsys):
    from medinterp.stages import split

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_with("split.breakhis.val_fracton", 0.5)))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        run(split.main)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err
    assert (
        err.strip()
        == "error: params.yaml: split.breakhis.val_fracton is not a param; did you mean split.breakhis.val_fraction?"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_repository_params_are_the_schema_defaults():
    """docs/params.md shows the schema's defaults: they must be what params.yaml runs with."""
    assert params.load(REPO / "params.yaml").model_dump(mode="json") == params.Params().model_dump(mode="json")


def test_params_reference_is_generated_from_the_schema():
    documented = (REPO / "docs" / "params.md").read_text(encoding="utf-8")
    assert documented == params.reference(), "regenerate: uv run python -m medinterp.params --docs > docs/params.md"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for key in _leaf_keys(RAW):
        assert f"| `{key}` |" in documented, key
        assert f"| `{key}` |" not in readme, f"README documents {key} by hand; link docs/params.md instead"


def _leaf_keys(tree: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        if key == "profiles":
            continue
        if isinstance(value, dict) and key != "class_weights":
            keys += _leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def test_schema_choices_are_the_libraries_names():
    assert set(get_args(params.AnnotationClass)) == set(ANNOTATION_KEYS)
    assert get_args(params.PaperEvaluate.model_fields["constant_heatmap"].annotation) == CONSTANT_POLICIES
    assert get_args(params.IsicClass) == tuple(c for c in ISIC2019_CLASSES if c != "UNK")
    assert get_args(params.ValMetric) == (
        "val_loss",
        *(f"val_{k}" for k in dict.fromkeys(BINARY_KEYS + MULTICLASS_KEYS)),
    )
    assert set(params.VARIANTS) == set(get_args(params.VariantName))


def test_no_module_reads_raw_params():
    """Stages and libraries get typed settings: nothing indexes the params dict or reads params.yaml itself."""
    raw_access = re.compile(r"params\[|P\.get\(|load_params|yaml\.safe_load\(.*params")
    offenders = [
        f"{path}:{n}"
        for path in sorted((REPO / "src").rglob("*.py"))
        if path.name != "params.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if raw_access.search(line)
    ]
    assert offenders == []
