"""The registry seen from outside: a model declared in ``artifacts:`` is fetched from a second clone
with ``dvc get`` and ``dvc artifacts get``, and ``medinterp predict`` on the fetched file gives
the probabilities the evaluation code computes with the framework model."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from conftest import run_command
from medinterp.inference.predict import predict
from medinterp.models.torch.checkpoint import load_checkpoint
from medinterp.models.torch.classifier import predict_logits, probabilities
from medinterp.preprocessing.arrays import decode_resized

ARTIFACTS = """artifacts:
  isic-binary-classifier:
    path: models/isic/binary/model.onnx
    type: model
    desc: tiny test classifier
    labels: [dataset-isic, task-binary, architecture-mobilenet_v2, family-torch]
"""
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]



def _dvc(cwd, *args) -> str:
    return run_command([sys.executable, "-m", "dvc", *args], cwd)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_get_from_a_second_clone_then_predict_like_the_evaluation(tmp_path, tiny_onnx_classifier, tiny_data):
    origin, store, clone, elsewhere = (tmp_path / n for n in ("origin", "store", "clone", "elsewhere"))
    models = origin / "models" / "isic" / "binary"
    models.mkdir(parents=True)
    shutil.copy(tiny_onnx_classifier, models / "model.onnx")
    run_command(GIT + ["init", "-q"], origin)
    _dvc(origin, "init", "-q")
    _dvc(origin, "remote", "add", "-d", "store", str(store))
    _dvc(origin, "add", "-q", "models/isic/binary/model.onnx")
    (origin / "dvc.yaml").write_text(ARTIFACTS)
    _dvc(origin, "push", "-q")
    run_command(GIT + ["add", "-A"], origin)
    run_command(GIT + ["commit", "-qm", "model"], origin)
    # A version is a Git tag in GTO's form <artifact>@v<semver>; `dvc artifacts get` takes the latest.
    run_command(GIT + ["tag", "-a", "isic-binary-classifier@v0.1.0", "-m", "register"], origin)
    run_command(GIT + ["clone", "-q", str(origin), str(clone)], tmp_path)
    elsewhere.mkdir()

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
