"""The ISIC stages end to end on tiny generated data: split, prepare, isic_binary, isic_multiclass
and isic_export, then the checkpoint and ONNX contracts against the predictions they wrote."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from medinterp.export import metadata
from medinterp.export.parity import run as onnx_run
from medinterp.models.torch.checkpoint import load_checkpoint
from medinterp.models.torch.train import predict_logits
from medinterp.models.torch.transforms import to_input
from medinterp.preprocessing.arrays import load
from medinterp.stages import isic_binary, isic_export, isic_multiclass, prepare, split
from medinterp.training import class_weights
from medinterp.training.classifier import probabilities

FOLDS = 5


def _params(data: Path, **changes) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["root"] = str(data)
    params["split"]["isic_multiclass"].update(test_fraction=0.34, val_fraction=0.5)
    params.update(models=["mobilenet_v2"], model="mobilenet_v2")
    sample = params["profiles"]["sample"]
    sample["paper"]["image_size"] = 32
    sample["isic"].update(
        image_size=32,
        binary={"epochs": 1, "batch_size": 8, "learning_rate": 0.001},
        multiclass={"epochs": 2, "batch_size": 8, "learning_rate": 0.001},
    )
    params.update(changes)
    return params


@pytest.fixture(scope="module")
def workdir(tiny_data, tmp_path_factory):
    """A folder where every ISIC stage has run once on the tiny data."""
    work = tmp_path_factory.mktemp("isic")
    (work / "params.yaml").write_text(yaml.safe_dump(_params(tiny_data)))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        split.main()
        prepare.main()
        patch.setattr(sys, "argv", ["stage", "mobilenet_v2"])  # the ${item} of the foreach stages
        for stage in (isic_binary, isic_multiclass, isic_export):
            stage.main()
    return work


def test_binary_stage_cross_validates_and_tests(workdir):
    report = json.loads((workdir / "metrics/isic/mobilenet_v2/binary.json").read_text())
    table = pd.read_csv(workdir / "splits/isic_binary.csv")
    assert report["model"] == "mobilenet_v2" and report["init_used"] == "random" and report["seed"] == 0
    assert report["cv"]["folds"] == FOLDS and set(report["folds"]) == {f"fold{k}" for k in range(FOLDS)}
    assert sum(sum(f[f"val_{c}"] for c in ("tn", "fp", "fn", "tp")) for f in report["folds"].values()) == len(table)
    for key in (
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "val_balanced_accuracy",
        "val_precision",
        "val_recall",
        "val_f1",
    ):
        values = [f[key] for f in report["folds"].values()]
        assert report["cv"][f"{key}_mean"] == pytest.approx(np.mean(values)) and report["cv"][
            f"{key}_std"
        ] == pytest.approx(np.std(values))
    assert {"accuracy", "roc_auc", "tn", "fp", "fn", "tp"} <= set(report["test"]) and report["test"]["n"] == 12
    assert report["settings"]["epochs"] == 1 and report["settings"]["learning_rate"] == 0.001

    val = pd.read_csv(workdir / "plots/isic/mobilenet_v2/binary/predictions_val.csv")
    assert val["image"].tolist() == table["image"].tolist() and val["fold"].tolist() == table["fold"].tolist()
    for k in range(FOLDS):
        curve = pd.read_csv(
            workdir / f"plots/isic/mobilenet_v2/binary/training/plots/metrics/fold{k}/val_loss.tsv", sep="\t"
        )
        assert curve["step"].tolist() == [1]
    roc = pd.read_csv(workdir / "plots/isic/mobilenet_v2/binary/roc_test.csv")
    assert roc.iloc[0].tolist() == [0.0, 0.0] and roc.iloc[-1].tolist() == [1.0, 1.0]


def test_checkpoints_reproduce_the_written_predictions(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    report = json.loads(Path("metrics/isic/mobilenet_v2/binary.json").read_text())
    model, info = load_checkpoint("models/isic/mobilenet_v2/binary/checkpoint.npz")
    assert (
        info["task"] == "binary"
        and info["class_names"] == ["benign", "malignant"]
        and info["fold"] == report["test"]["fold"]
    )
    assert info["seed"] == report["test"]["fold"] and info["image_size"] == 32
    test = load("isic2016_test", 32)
    written = pd.read_csv("plots/isic/mobilenet_v2/binary/predictions_test.csv")
    assert probabilities(predict_logits(model, np.asarray(test.images))) == pytest.approx(
        written["prob_malignant"].to_numpy(), abs=1e-5
    )
    table = load("isic_binary", 32)
    rows = (table.frame["fold"] == info["fold"]).to_numpy()
    oof = pd.read_csv("plots/isic/mobilenet_v2/binary/predictions_val.csv")["prob_malignant"].to_numpy()[rows]
    assert probabilities(predict_logits(model, np.asarray(table.images[rows]))) == pytest.approx(oof, abs=1e-5)

    model, info = load_checkpoint("models/isic/mobilenet_v2/multiclass/checkpoint.npz")
    classes = yaml.safe_load(Path("params.yaml").read_text())["split"]["isic_multiclass"]["classes"]
    assert info["task"] == "multiclass" and info["class_names"] == classes and info["num_outputs"] == 8
    multi = load("isic_multiclass", 32)
    part = multi.subset(multi.frame["split"] == "test")
    written = pd.read_csv("plots/isic/mobilenet_v2/multiclass/predictions_test.csv")
    expected = probabilities(predict_logits(model, np.asarray(part.images)))
    assert written[[f"prob_{c}" for c in classes]].to_numpy() == pytest.approx(expected, abs=1e-5)


def test_multiclass_stage_reports_tables_8_and_9(workdir):
    report = json.loads((workdir / "metrics/isic/mobilenet_v2/multiclass.json").read_text())
    classes = yaml.safe_load((workdir / "params.yaml").read_text())["split"]["isic_multiclass"]["classes"]
    assert {"loss", "accuracy"} <= set(report["train"]) and {"loss", "accuracy", "roc_auc_ovr_macro"} <= set(
        report["val"]
    )
    assert {"accuracy", "roc_auc_ovr_macro"} <= set(report["test"])
    assert set(report["per_class"]["test"]) == set(classes) and {"precision", "recall"} <= set(
        report["per_class"]["test"]["MEL"]
    )
    matrix = np.array(report["confusion_matrix_normalized"]["val"])
    assert matrix.shape == (8, 8) and np.allclose(
        matrix.sum(axis=1)[np.array(report["confusion_matrix"]["val"]).sum(axis=1) > 0], 1.0
    )
    table = pd.read_csv(workdir / "splits/isic_multiclass.csv")
    expected = class_weights.by_frequency_rank(table.loc[table["split"] == "train", "label"], 8, 0.9, 0.2)
    assert list(report["class_weights"].values()) == pytest.approx(expected)
    predictions = pd.read_csv(workdir / "plots/isic/mobilenet_v2/multiclass/predictions_val.csv")
    assert len(predictions) == report["val"]["n"] and set(predictions["actual"]) <= set(classes)


def test_exported_models_match_pytorch_and_carry_metadata(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    parity = json.loads(Path("metrics/isic/mobilenet_v2/export.json").read_text())
    measured = json.loads(Path("logs/isic_export@mobilenet_v2.json").read_text())["onnx_parity"]
    for task in ("binary", "multiclass"):
        assert parity[task]["within_tolerance"] and parity[task]["tolerance"] == 1e-4
        assert measured[task]["max_abs_diff"] <= 1e-4 and measured[task]["samples"] == parity[task]["samples"]
        meta = metadata.read(f"models/isic/mobilenet_v2/{task}/model.onnx")
        assert meta["architecture"] == "mobilenet_v2" and meta["family"] == "torch" and meta["init_used"] == "random"
        assert meta["input"]["shape"] == [None, 3, 32, 32] and meta["input"]["layout"] == "NCHW"
    meta = metadata.read("models/isic/mobilenet_v2/binary/model.onnx")
    assert (
        meta["output"]["activation"] == "sigmoid"
        and meta["metrics"]["test_roc_auc"]
        == json.loads(Path("metrics/isic/mobilenet_v2/binary.json").read_text())["test"]["roc_auc"]
    )
    test = load("isic2016_test", 32)
    logits, _ = onnx_run(
        "models/isic/mobilenet_v2/binary/model.onnx",
        to_input(np.asarray(test.images)).numpy(),
        providers=["CPUExecutionProvider"],
    )
    written = pd.read_csv("plots/isic/mobilenet_v2/binary/predictions_test.csv")["prob_malignant"].to_numpy()
    assert probabilities(logits) == pytest.approx(written, abs=1e-4)
