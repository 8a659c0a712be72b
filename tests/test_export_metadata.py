"""Metadata that travels with every exported model, and the ONNX Runtime parity check."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from medinterp.export import metadata
from medinterp.export.parity import parity, run


def _meta(**changes):
    fields = dict(
        name="isic-binary-alexnet",
        architecture="alexnet",
        family="torch",
        task="binary",
        dataset="isic_binary",
        split="folds 0-4",
        class_names=["benign", "malignant"],
        input=metadata.input_spec(8, "NCHW", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        output=metadata.output_spec("logits", "sigmoid"),
        metrics={"val_auc": 0.9},
        init_used="random",
        provenance={"medinterp": "test"},
        params={"seed": 0},
        framework=metadata.framework_info("torch", "2.13.0"),
    )
    fields.update(changes)
    return fields


def _scale_model(path, factor=2.0):
    """An ONNX model computing ``factor * x`` for x of shape (batch, 3, 8, 8)."""
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 3, 8, 8])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, 3, 8, 8])
    k = helper.make_tensor("k", TensorProto.FLOAT, [], [factor])
    graph = helper.make_graph([helper.make_node("Mul", ["input", "k"], ["output"])], "scale", [x], [y], [k])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_complete_metadata_validates():
    meta = metadata.make(**_meta())
    assert meta["schema"] == metadata.SCHEMA_VERSION and meta["input"]["shape"] == [None, 3, 8, 8]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"class_names": []}, "needs its class names"),
        ({"family": "jax"}, "family 'jax'"),
        ({"input": metadata.input_spec(8, "NCWH")}, "layout 'NCWH'"),
        ({"input": {**metadata.input_spec(8, "NCHW"), "std": [0.2, 0.0, 0.2]}}, "must be positive"),
        ({"output": metadata.output_spec("probabilities", None)}, "output kind"),
    ],
)
def test_incomplete_metadata_is_refused(change, message):
    with pytest.raises(metadata.MetadataError, match=message):
        metadata.make(**_meta(**change))


def test_missing_key_is_named():
    fields = _meta()
    del fields["class_names"]
    with pytest.raises(metadata.MetadataError, match="missing 'class_names'"):
        metadata.make(**fields)


def test_attach_and_read_round_trip(tmp_path):
    path = tmp_path / "m.onnx"
    _scale_model(path)
    meta = metadata.make(**_meta())
    metadata.attach(path, meta)
    assert metadata.read(path) == meta
    assert json.loads(metadata.sidecar_path(path).read_text()) == meta
    # the file alone is enough: the sidecar is a convenience
    metadata.sidecar_path(path).unlink()
    assert metadata.read(path)["architecture"] == "alexnet"


def test_read_falls_back_to_sidecar_and_reports_bad_json(tmp_path):
    path = tmp_path / "m.onnx"
    _scale_model(path)
    with pytest.raises(metadata.MetadataError, match="no 'medinterp' metadata"):
        metadata.read(path)
    metadata.sidecar_path(path).write_text("{broken")
    with pytest.raises(metadata.MetadataError, match="malformed JSON"):
        metadata.read(path)


def test_parity_reports_difference_and_provider(tmp_path):
    path = tmp_path / "m.onnx"
    _scale_model(path, 2.0)
    x = np.random.default_rng(0).random((5, 3, 8, 8), dtype=np.float32)
    out, provider = run(path, x, batch_size=2)
    np.testing.assert_allclose(out, 2 * x, rtol=1e-6)
    assert provider in ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert parity(path, x, 2 * x)["max_abs_diff"] < 1e-6
    assert parity(path, x, 2 * x + 0.25)["max_abs_diff"] == pytest.approx(0.25, abs=1e-6)


def test_parity_record_keeps_no_measurement_and_refuses_an_excess(tmp_path):
    from medinterp.export.parity import checked

    measured = {"max_abs_diff": 2e-5, "mean_abs_diff": 1e-5, "provider": "CPUExecutionProvider", "samples": 4}
    assert checked("m.onnx", measured, 1e-4, "PyTorch") == {"samples": 4, "tolerance": 1e-4, "within_tolerance": True}
    with pytest.raises(
        RuntimeError,
        match=r"m.onnx: ONNX Runtime and PyTorch outputs differ by up to 2e-05 \(tolerance 1e-05\) on 4 images",
    ):
        checked("m.onnx", measured, 1e-5, "PyTorch")
    with pytest.raises(RuntimeError, match="differ by up to nan"):  # a NaN never passes
        checked("m.onnx", {**measured, "max_abs_diff": float("nan")}, 1.0, "Keras")


def test_provenance_names_the_code_and_the_inputs_by_dvc_hash(tmp_path):
    import hashlib

    from medinterp.provenance import code_digest

    weights = tmp_path / "checkpoint.npz"
    weights.write_bytes(b"weights" * 1000)
    found = metadata.provenance("medinterp.stages.isic_export", [weights])
    assert (
        found["stage"] == "medinterp.stages.isic_export"
        and found["medinterp"] == metadata.package_version() != "unknown"
    )
    assert found["code_sha256"] == code_digest("medinterp.stages.isic_export")
    assert found["inputs"] == {weights.as_posix(): hashlib.md5(b"weights" * 1000).hexdigest()}
    weights.write_bytes(b"other weights")
    assert metadata.provenance("medinterp.stages.isic_export", [weights])["inputs"] != found["inputs"]
    with pytest.raises(FileNotFoundError):
        metadata.provenance("medinterp.stages.isic_export", [tmp_path / "missing.npz"])


def test_metadata_does_not_depend_on_git_state_or_the_python_patch_level():
    meta = metadata.make(**_meta())
    assert "git_revision" not in meta and meta["schema"] == metadata.SCHEMA_VERSION
    assert metadata.framework_info("torch", "2.13.0")["python"].count(".") == 1
    with pytest.raises(metadata.MetadataError, match="missing 'provenance'"):
        metadata.make(**{k: v for k, v in _meta().items() if k != "provenance"})
