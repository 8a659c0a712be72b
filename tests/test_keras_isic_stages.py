"""``family=keras`` through every per-model stage on tiny generated data: ISIC training (both tasks),
export and the interpretation stages, in one process that never imports PyTorch; then the files'
contracts: the checkpoint and the ONNX model reproduce the predictions the training stages wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from medinterp.export import metadata
from medinterp.inference.predict import predict
from medinterp.models import checkpoint as checkpoint_files

STAGES = (
    "split",
    "prepare",
    "isic_binary",
    "isic_multiclass",
    "isic_export",
    "interpret_outliers",
    "interpret_filters",
    "interpret_featurevis",
    "interpret_sanity",
)
PROBE = (
    "import importlib, sys\n"
    "names = sys.argv[1:]\n"
    "for name in names:\n"
    "    sys.argv = ['stage'] if name in ('split', 'prepare') else ['stage', 'mobilenet_v2']   # foreach's ${item}\n"
    "    importlib.import_module(f'medinterp.stages.{name}').main()\n"
    "print('torch loaded:', 'torch' in sys.modules)\n"
)


def _params(data: Path) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["root"] = str(data)
    params["split"]["isic_multiclass"].update(test_fraction=0.34, val_fraction=0.5)
    params["split"]["isic_binary"]["folds"] = 2  # the Keras path of the cross-validation, at the least cost
    params.update(models=["mobilenet_v2"], model="mobilenet_v2", family="keras")
    sample = params["profiles"]["sample"]
    sample["paper"]["image_size"] = 32
    sample["isic"].update(
        image_size=32,
        binary={"epochs": 1, "batch_size": 8, "learning_rate": 0.001},
        multiclass={"epochs": 2, "batch_size": 8, "learning_rate": 0.001},
    )
    sample["interpret"] = {
        "featurevis": {"steps": 3, "top_n": 1},
        "sanity": {"layers": 2, "natural_images": 2, "top_n": 1},
    }
    params["interpret"]["batch_size"] = 8
    params["interpret"]["outliers"].update(min_share=0.1, examples=3)
    params["interpret"]["filters"].update(quantile=0.5, top_k=3, heatmap_top=2)
    return params


@pytest.fixture(scope="module")
def workdir(tiny_data, tmp_path_factory):
    work = tmp_path_factory.mktemp("keras_isic")
    (work / "params.yaml").write_text(yaml.safe_dump(_params(tiny_data)))
    result = subprocess.run([sys.executable, "-c", PROBE, *STAGES], cwd=work, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "torch loaded: False" in result.stdout
    return work


def test_training_stages_record_the_keras_family(workdir):
    for task in ("binary", "multiclass"):
        report = json.loads((workdir / f"metrics/isic/mobilenet_v2/{task}.json").read_text())
        info = checkpoint_files.read_info(workdir / f"models/isic/mobilenet_v2/{task}/checkpoint.npz")
        assert report["model"] == info["architecture"] == "mobilenet_v2"
        assert report["family"] == info["family"] == "keras" and info["normalisation"]["layout"] == "NHWC"
    binary = json.loads((workdir / "metrics/isic/mobilenet_v2/binary.json").read_text())
    assert binary["cv"]["folds"] == 2 and "train_accuracy_mean" in binary["cv"] and binary["test"]["n"] == 12


def test_exported_models_give_the_probabilities_the_training_stages_wrote(workdir):
    parity = json.loads((workdir / "metrics/isic/mobilenet_v2/export.json").read_text())
    measured = json.loads((workdir / "logs/isic_export@mobilenet_v2.json").read_text())["onnx_parity"]
    data_root = Path(yaml.safe_load((workdir / "params.yaml").read_text())["data"]["root"])
    for task in ("binary", "multiclass"):
        assert parity[task]["within_tolerance"] and measured[task]["max_abs_diff"] <= parity[task]["tolerance"]
        onnx = workdir / f"models/isic/mobilenet_v2/{task}/model.onnx"
        meta = metadata.read(onnx)
        assert meta["family"] == "keras" and meta["input"]["shape"] == [None, 32, 32, 3]
        written = pd.read_csv(workdir / f"plots/isic/mobilenet_v2/{task}/predictions_test.csv")
        run = predict(onnx, [data_root / image for image in written["image"]], batch_size=5)
        got = np.stack([p.probabilities for p in run.predictions])
        if task == "binary":  # the binary CSV holds P(malignant) only
            got, columns = got[:, 1:], ["prob_malignant"]
        else:
            columns = [f"prob_{name}" for name in meta["class_names"]]
        np.testing.assert_allclose(got, written[columns].to_numpy(), atol=1e-5)


def test_interpretation_stages_ran_on_the_keras_checkpoints(workdir):
    filters = json.loads((workdir / "metrics/interpret/mobilenet_v2/filters.json").read_text())
    assert (filters["model"], filters["family"], filters["layer"]) == ("mobilenet_v2", "keras", "out_relu")
    table10 = pd.read_csv(workdir / "metrics/interpret/mobilenet_v2/table10.csv")
    assert len(table10) and set(table10["model"]) == {"mobilenet_v2"}
    featurevis = json.loads((workdir / "metrics/interpret/mobilenet_v2/featurevis.json").read_text())
    assert (
        featurevis["family"] == "keras"
        and featurevis["layers"] == ["Conv1", "out_relu"]
        and featurevis["visualizations"] > 0
    )
    sanity = pd.read_csv(workdir / "metrics/interpret/mobilenet_v2/sanity_similarity.csv")
    assert sanity["layer"].tolist()[0] == "Conv1" and sanity["featurevis_vs_natural"].abs().le(1).all()
    for name in ("filters_heatmap", "outliers", "sanity_layers"):
        assert (workdir / "plots/interpret/mobilenet_v2" / f"{name}.png").is_file()
