"""`medinterp predict`: preprocessing from metadata, probabilities, bad images, inputs, artifacts."""

from __future__ import annotations

import csv

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from medinterp.cli import main
from medinterp.errors import ConfigError
from medinterp.export import metadata
from medinterp.inference.predict import collect_inputs, predict, preprocess, probabilities, resolve_model

SIZE = 8
WEIGHTS = np.array([[1.5, -2.0], [0.5, 1.0], [-1.0, 0.25]], dtype=np.float32)  # (3 channels, 2 classes)
MEAN, STD = [0.5, 0.4, 0.3], [0.2, 0.25, 0.5]


def _pool_linear(path, layout: str, n_out: int):
    """ONNX: global average pool over space, then a (3 -> n_out) matrix: logits."""
    shape = [None, SIZE, SIZE, 3] if layout == "NHWC" else [None, 3, SIZE, SIZE]
    axes = [1, 2] if layout == "NHWC" else [2, 3]
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, n_out])
    nodes = [
        helper.make_node("ReduceMean", ["input", "axes"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "w"], ["output"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(axes, dtype=np.int64), "axes"),
        numpy_helper.from_array(WEIGHTS[:, :n_out].copy(), "w"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", 18)]
    )
    model.ir_version = 9
    onnx.save(model, str(path))


def _export(tmp_path, layout="NCHW", n_out=2, activation="softmax", normalise=True):
    path = tmp_path / f"model_{layout}_{n_out}.onnx"
    _pool_linear(path, layout, n_out)
    names = ["benign", "malignant"]
    metadata.attach(
        path,
        metadata.make(
            name="demo",
            architecture="demo",
            family="torch",
            task="binary",
            dataset="isic_binary",
            split="train",
            class_names=names,
            input=metadata.input_spec(SIZE, layout, MEAN if normalise else None, STD if normalise else None),
            output=metadata.output_spec("logits", activation),
            metrics={},
            init_used="random",
            provenance={"medinterp": "test"},
            params={},
            framework=metadata.framework_info("torch", "0"),
        ),
    )
    return path


def _images(tmp_path, n=5):
    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def _reference(paths, normalise=True):
    x = np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255 for p in paths])
    if normalise:
        x = (x - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return x.mean(axis=(1, 2)) @ WEIGHTS


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_softmax_probabilities_follow_the_metadata(tmp_path, layout):
    paths = _images(tmp_path)
    run = predict(_export(tmp_path, layout), paths, batch_size=2)
    logits = _reference(paths)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.stack([p.probabilities for p in run.predictions]), expected, atol=1e-5)
    assert run.provider in ("CUDAExecutionProvider", "CPUExecutionProvider")


def test_single_logit_sigmoid_gives_two_columns(tmp_path):
    paths = _images(tmp_path)
    run = predict(_export(tmp_path, "NCHW", n_out=1, activation="sigmoid", normalise=False), paths)
    p1 = 1 / (1 + np.exp(-_reference(paths, normalise=False)[:, 0]))
    got = np.stack([p.probabilities for p in run.predictions])
    np.testing.assert_allclose(got[:, 1], p1, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-9)


def test_unreadable_image_gets_an_error_row_not_a_crash(tmp_path):
    _images(tmp_path, 3)
    bad = tmp_path / "imgs" / "broken.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "preds.csv"
    assert main(["predict", "--model", str(_export(tmp_path)), str(tmp_path / "imgs"), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out)))
    assert [r["image"].rsplit("/", 1)[1] for r in rows] == ["broken.png", "img0.png", "img1.png", "img2.png"]
    assert "unreadable image" in rows[0]["error"] and rows[0]["prob_benign"] == ""
    assert all(r["error"] == "" and r["predicted"] in ("benign", "malignant") for r in rows[1:])
    assert float(rows[1]["prob_benign"]) + float(rows[1]["prob_malignant"]) == pytest.approx(1, abs=1e-5)


def test_csv_inputs_are_relative_to_root(tmp_path):
    paths = _images(tmp_path, 2)
    table = tmp_path / "list.csv"
    table.write_text("image,label\nimgs/img1.png,0\nimgs/img0.png,1\n")
    assert collect_inputs([table]) == [paths[1], paths[0]]
    assert collect_inputs([table], root=tmp_path) == [paths[1], paths[0]]
    (tmp_path / "bad.csv").write_text("file\nx.png\n")
    with pytest.raises(Exception, match="needs an 'image' column"):
        collect_inputs([tmp_path / "bad.csv"])
    with pytest.raises(ConfigError, match="not found"):
        collect_inputs([tmp_path / "nowhere"])


def test_artifact_names_resolve_through_dvc_yaml(tmp_path):
    model = _export(tmp_path)
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump({"artifacts": {"demo-classifier": {"path": model.name, "type": "model"}}})
    )
    assert resolve_model("demo-classifier", tmp_path / "dvc.yaml") == tmp_path / model.name
    with pytest.raises(ConfigError, match="artifacts: demo-classifier"):
        resolve_model("other", tmp_path / "dvc.yaml")


def test_an_artifact_path_with_a_param_resolves_as_dvc_does(tmp_path):
    """``models/isic/${model}/...``: the main ISIC artifacts follow the ``model`` param."""
    model = _export(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"model": model.stem}))
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump({"artifacts": {"main": {"path": "${model}.onnx", "type": "model"}}})
    )
    assert resolve_model("main", tmp_path / "dvc.yaml") == tmp_path / model.name


def test_model_without_metadata_is_refused(tmp_path, capsys):
    bare = tmp_path / "bare.onnx"
    _pool_linear(bare, "NCHW", 2)
    paths = _images(tmp_path, 1)
    assert main(["predict", "--model", str(bare), str(paths[0]), "--out", str(tmp_path / "p.csv")]) == 2
    assert "no 'medinterp' metadata" in capsys.readouterr().err


def test_preprocess_and_probabilities_units():
    pixels = np.full((1, 2, 2, 3), 255, dtype=np.uint8)
    x = preprocess(pixels, {"mean": [0.5] * 3, "std": [0.5] * 3, "layout": "NCHW"})
    assert x.shape == (1, 3, 2, 2) and np.allclose(x, 1.0)
    with pytest.raises(ConfigError, match="activation None"):
        probabilities(np.zeros((1, 2)), None, 2)
