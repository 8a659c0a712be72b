"""The registry seen from outside: a model declared in ``artifacts:`` is fetched from a second clone
with ``dvc get`` and ``dvc artifacts get``, and ``medinterp predict`` on the fetched file gives
the probabilities the evaluation code computes with the framework model: an ISIC classifier on
ISIC images, and a paper classifier on BreCaHAD images through Table 2's evaluation."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
from conftest import run_command

from medinterp.inference.predict import predict
from medinterp.models.torch.checkpoint import load_checkpoint
from medinterp.models.torch.train import predict_logits
from medinterp.preprocessing.arrays import decode_resized
from medinterp.training.classifier import probabilities

ARTIFACTS = """artifacts:
  isic-binary-classifier:
    path: models/isic/binary/model.onnx
    type: model
    desc: tiny test classifier
    labels: [dataset-isic, task-binary, architecture-mobilenet_v2, family-torch]
  paper-mobilenet-v2-vanilla-classifier:
    path: models/paper/mobilenet_v2/classifier/vanilla.onnx
    type: model
    desc: tiny test classifier
    labels: [dataset-breakhis, task-binary, architecture-mobilenet_v2, family-keras]
"""
PAPER_ONNX = "models/paper/mobilenet_v2/classifier/vanilla.onnx"
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]


def _dvc(cwd, *args) -> str:
    return run_command([sys.executable, "-m", "dvc", *args], cwd)


def _tiny_paper_classifier(path):
    """A random Keras MobileNetV2 paper classifier at 32 px whose probabilities differ between
    images, exported. Returns the Keras model."""
    from medinterp import registry
    from medinterp.models.keras.build import build_backbone, set_batchnorm_momentum
    from medinterp.models.keras.export import OnnxExporter, framework
    from medinterp.models.keras.paper_networks import build_classifier
    from medinterp.models.keras.train import configure_tensorflow
    from medinterp.paper.artifacts import onnx_metadata

    configure_tensorflow(0)
    spec = registry.get("mobilenet_v2", "keras")
    model = build_classifier(build_backbone(spec, 32)[0], 8, 0.5)
    # Batch-norm statistics of real batches: with the initial ones (mean 0, variance 1) the random
    # network saturates and every image gets the same logit.
    set_batchnorm_momentum(model, 0.0)
    model(np.random.default_rng(0).random((16, 32, 32, 3)).astype(np.float32), training=True)
    meta = onnx_metadata(
        spec,
        "classifier",
        "vanilla",
        32,
        "random",
        {},
        {"paper": {"classifier": {"head_units": 8, "dropout": 0.5}}},
        framework(),
        {"medinterp": "test"},
    )
    probe = np.random.default_rng(0).random((4, 32, 32, 3)).astype(np.float32)
    OnnxExporter(model, "logit").export(path, meta, probe, 1e-3)
    return model


@pytest.fixture(scope="module")
def second_clone(tmp_path_factory, tiny_onnx_classifier):
    """A repository holding two registered models, pushed to a local remote and cloned; and an
    unrelated folder to fetch into. Returns ``(clone, elsewhere, keras_model)``."""
    tmp_path = tmp_path_factory.mktemp("registry")
    origin, store, clone, elsewhere = (tmp_path / n for n in ("origin", "store", "clone", "elsewhere"))
    models = origin / "models" / "isic" / "binary"
    models.mkdir(parents=True)
    shutil.copy(tiny_onnx_classifier, models / "model.onnx")
    (origin / PAPER_ONNX).parent.mkdir(parents=True)
    keras_model = _tiny_paper_classifier(origin / PAPER_ONNX)
    run_command(GIT + ["init", "-q"], origin)
    _dvc(origin, "init", "-q")
    _dvc(origin, "remote", "add", "-d", "store", str(store))
    _dvc(origin, "add", "-q", "models/isic/binary/model.onnx", PAPER_ONNX)
    (origin / "dvc.yaml").write_text(ARTIFACTS)
    _dvc(origin, "push", "-q")
    run_command(GIT + ["add", "-A"], origin)
    run_command(GIT + ["commit", "-qm", "model"], origin)
    # A version is a Git tag in GTO's form <artifact>@v<semver>; `dvc artifacts get` takes the latest.
    run_command(GIT + ["tag", "-a", "isic-binary-classifier@v0.1.0", "-m", "register"], origin)
    run_command(GIT + ["clone", "-q", str(origin), str(clone)], tmp_path)
    elsewhere.mkdir()
    return clone, elsewhere, keras_model


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_get_from_a_second_clone_then_predict_like_the_evaluation(second_clone, tiny_onnx_classifier, tiny_data):
    clone, elsewhere, _ = second_clone
    _dvc(elsewhere, "get", str(clone), "models/isic/binary/model.onnx", "-o", "got.onnx")
    _dvc(elsewhere, "artifacts", "get", str(clone), "isic-binary-classifier", "-o", "artifact.onnx")
    original = tiny_onnx_classifier.read_bytes()
    assert (elsewhere / "got.onnx").read_bytes() == original == (elsewhere / "artifact.onnx").read_bytes()

    images = sorted((tiny_data / "ISIC_2016").rglob("*.jpg"))
    assert len(images) >= 4
    run = predict(elsewhere / "got.onnx", images, batch_size=3)
    fetched = np.stack([p.probabilities for p in run.predictions])
    model, info = load_checkpoint(tiny_onnx_classifier.with_name("checkpoint.npz"))
    pixels = np.stack([decode_resized(p, int(info["image_size"])) for p in images])
    evaluated = probabilities(predict_logits(model, pixels))
    np.testing.assert_allclose(fetched[:, 1], evaluated, atol=1e-5)
    np.testing.assert_allclose(fetched.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_paper_classifier_from_a_second_clone_gives_table2_probabilities_on_brecahad(second_clone, tiny_data):
    from medinterp.datasets.brecahad import read_annotation, read_brecahad
    from medinterp.models.keras.adapter import KerasAdapter
    from medinterp.paper.evaluate import evaluate

    clone, elsewhere, keras_model = second_clone
    _dvc(elsewhere, "get", str(clone), PAPER_ONNX, "-o", "paper.onnx")
    frame, _ = read_brecahad(tiny_data / "BreCaHAD", tiny_data)
    frame = frame.assign(label=1)
    files = [tiny_data / name for name in frame["image"]]
    run = predict(elsewhere / "paper.onnx", files, batch_size=4)
    fetched = np.array([p.probabilities[1] for p in run.predictions])

    images = (
        np.stack([decode_resized(f, 32) for f in files]).astype(np.float32) / 255.0
    )  # what prepare gives paper_evaluate
    points = [read_annotation(tiny_data / a)["tumor"] for a in frame["annotation"]]
    table2 = evaluate(KerasAdapter(keras_model), images, frame, points, "out_relu", "zero")
    assert table2.probabilities.std() > 0.01  # images differ, so a wrong image order or size would show
    np.testing.assert_allclose(fetched, table2.probabilities, atol=1e-4)
