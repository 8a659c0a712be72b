"""The Keras family on the ISIC tasks: loss, augmentation, training, the shared checkpoint contract,
ONNX export and the interpretation adapter of a checkpoint."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import THESIS_AUGMENT, tiny_task, tiny_task_settings
from sklearn.metrics import log_loss

from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.export import metadata
from medinterp.export.parity import run as onnx_run
from medinterp.models import checkpoint as checkpoint_files
from medinterp.models.keras.build import HEAD, build_finetune
from medinterp.models.keras.checkpoint import load_checkpoint
from medinterp.models.keras.export import export_checkpoint
from medinterp.models.keras.isic_classifier import targets, train_classifier, weighted_loss
from medinterp.models.keras.train import configure_tensorflow
from medinterp.models.keras.transforms import augment_batch, projective
from medinterp.models.loading import load_adapter
from medinterp.params import Augment
from medinterp.training.augment import affine_maps, crop_boxes
from medinterp.training.classifier import TrainingData

IDENTITY = Augment(
    crop_scale=(1.0, 1.0),
    crop_ratio=(1.0, 1.0),
    rotation=0,
    shear=0,
    scale=(1.0, 1.0),
    flips=False,
    brightness=(1.0, 1.0),
    contrast=(1.0, 1.0),
    saturation=(1.0, 1.0),
    hue=(0.0, 0.0),
)
SPEC = registry.get("mobilenet_v2", "keras")


def test_weighted_loss_is_scikit_learns_weighted_log_loss():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(7, 4)).astype(np.float32), np.array([0, 1, 3, 3, 2, 1, 0])
    w = np.array([0.9, 0.2, 0.5, 0.7])
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = log_loss(labels, softmax, sample_weight=w[labels], labels=range(4))
    assert float(weighted_loss(w)(targets(labels, 4), logits)) == pytest.approx(expected, rel=1e-5)
    one, y = rng.normal(size=(6, 1)).astype(np.float32), np.array([0, 1, 1, 0, 0, 1])
    wb = np.array([0.6, 2.5])
    p = 1 / (1 + np.exp(-one[:, 0]))
    expected = log_loss(y, p, sample_weight=wb[y])
    assert float(weighted_loss(wb)(targets(y, 1), one)) == pytest.approx(expected, rel=1e-5)


def test_augmentation_settings_at_identity_leave_images_unchanged():
    images = np.random.default_rng(1).random((3, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(augment_batch(images, IDENTITY, np.random.default_rng(0)), images, atol=2e-5)


def test_augmentation_draws_follow_the_settings_and_the_seed():
    rng = np.random.default_rng(2)
    boxes = crop_boxes(2000, (0.4, 1.0), (0.75, 4 / 3), rng)
    height, width = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (boxes >= 0).all() and (boxes <= 1 + 1e-6).all()
    assert (height * width).min() >= 0.4 - 1e-4 and (width / height).max() <= 4 / 3 + 1e-4
    zoom = Augment(
        crop_scale=(1, 1),
        crop_ratio=(1, 1),
        rotation=0,
        shear=0,
        scale=(2.0, 2.0),
        flips=False,
        brightness=(1, 1),
        contrast=(1, 1),
        saturation=(1, 1),
        hue=(0, 0),
    )
    zoomed = projective(affine_maps(1, zoom, rng), 17)
    assert zoomed[0, :6] == pytest.approx(
        [0.5, 0, 4.0, 0, 0.5, 4.0]
    )  # x2 zoom about pixel 8: input = 8 + (out - 8) / 2
    images = np.random.default_rng(1).random((4, 16, 16, 3)).astype(np.float32)
    first = augment_batch(images, THESIS_AUGMENT, np.random.default_rng(5))
    assert np.array_equal(first, augment_batch(images, THESIS_AUGMENT, np.random.default_rng(5)))
    assert first.shape == images.shape and first.min() >= 0 and first.max() <= 1
    assert not np.allclose(first, augment_batch(images, THESIS_AUGMENT, np.random.default_rng(6)))
    flips = Augment(
        crop_scale=(1, 1),
        crop_ratio=(1, 1),
        rotation=0,
        shear=0,
        scale=(1, 1),
        flips=True,
        brightness=(1, 1),
        contrast=(1, 1),
        saturation=(1, 1),
        hue=(0, 0),
    )
    flipped = augment_batch(images, flips, np.random.default_rng(0))
    for image, out in zip(images, flipped):
        variants = [image, image[:, ::-1], image[::-1], image[::-1, ::-1]]
        assert min(np.abs(out - v).max() for v in variants) < 2e-5


def test_final_layer_is_dropout_and_new_logits_and_freezing_is_by_layer_name():
    model, used, frozen = build_finetune(SPEC, 32, 8, "random", 0.1, ("classifier",))
    assert used == "random" and frozen == () and model.output_shape == (None, 8)
    assert isinstance(model.get_layer("head_dropout"), keras.layers.Dropout) and model.get_layer(HEAD).units == 8
    model, _, frozen = build_finetune(SPEC, 32, 1, "random", 0.1, ("Conv1", "bn_Conv1"))
    assert (
        frozen == ("Conv1", "bn_Conv1") and not model.get_layer("Conv1").trainable and model.get_layer(HEAD).trainable
    )
    with pytest.raises(ConfigError, match="'features' names no layer"):
        build_finetune(SPEC, 32, 1, "random", 0.1, ("features",))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    images, labels = tiny_task()
    train, val = np.arange(16), np.arange(16, 24)
    model = train_classifier(
        SPEC,
        tiny_task_settings(),
        ["benign", "malignant"],
        np.array([1.0, 2.0]),
        TrainingData(images, train, labels[train], images[val], labels[val]),
        seed=3,
    )
    folder = tmp_path_factory.mktemp("keras_isic")
    model.save(checkpoint_files.path_in(folder), trained_on="tiny")
    return model, folder, images[val]


def test_training_reports_train_and_validation_metrics(trained):
    model, _, val_images = trained
    assert model.fit.epochs_run == 2 and model.train_images_per_second > 0
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_roc_auc"} <= set(model.fit.best)
    assert model.predict(val_images).shape == (8,) and model.class_weights == [1.0, 2.0]


def test_checkpoint_round_trip_and_export_parity(trained):
    model, folder, val_images = trained
    path = checkpoint_files.path_in(folder)
    info = checkpoint_files.read_info(path)
    assert (info["family"], info["architecture"], info["num_outputs"], info["seed"]) == ("keras", "mobilenet_v2", 1, 3)
    assert info["normalisation"] == {"layout": "NHWC", "mean": None, "std": None} and info["trained_on"] == "tiny"
    loaded, _ = load_checkpoint(path)
    logits = np.asarray(loaded(val_images.astype(np.float32) / 255.0, training=False))
    assert 1 / (1 + np.exp(-logits[:, 0])) == pytest.approx(model.predict(val_images), abs=1e-6)

    fields = {
        "name": "isic-binary-mobilenet_v2",
        "dataset": "isic_binary",
        "split": "rows 0-15",
        "metrics": {},
        "params": {},
        "provenance": {"medinterp": "test"},
    }
    record, measured = export_checkpoint(path, folder / "model.onnx", fields, val_images, tolerance=1e-4, opset=17)
    meta = metadata.read(folder / "model.onnx")
    assert (
        measured["max_abs_diff"] <= 1e-4
        and meta["metrics"]["onnx_parity"] == record
        and meta["family"] == "keras"
        and meta["input"]["layout"] == "NHWC"
    )
    assert meta["input"]["shape"] == [None, 32, 32, 3] and meta["output"] == {
        "name": "logits",
        "kind": "logits",
        "activation": "sigmoid",
    }
    outputs, _ = onnx_run(
        folder / "model.onnx", val_images[:3].astype(np.float32) / 255.0, providers=["CPUExecutionProvider"]
    )
    assert outputs == pytest.approx(logits[:3], abs=1e-4)
    with pytest.raises(ConfigError, match="opset 17"):
        export_checkpoint(path, folder / "other.onnx", fields, val_images, tolerance=1e-4, opset=13)
    with pytest.raises(ConfigError, match="a keras checkpoint, read here as torch"):
        checkpoint_files.require_family(info, "torch", path)


def test_adapter_of_a_keras_checkpoint_and_its_initial_network(trained):
    model, folder, val_images = trained
    adapter, info = load_adapter(checkpoint_files.path_in(folder))
    initial, _ = load_adapter(checkpoint_files.path_in(folder), initial=True)
    configure_tensorflow(3)
    expected, _, _ = build_finetune(SPEC, 32, 1, "random", 0.1, ("classifier",))
    assert all(np.array_equal(a, b) for a, b in zip(initial.model.get_weights(), expected.get_weights()))
    assert not np.array_equal(
        adapter.model.get_layer("Conv1").get_weights()[0], initial.model.get_layer("Conv1").get_weights()[0]
    )
    scores = adapter.scores(val_images.astype(np.float32) / 255.0)
    assert 1 / (1 + np.exp(-scores[:, 0])) == pytest.approx(model.predict(val_images), abs=1e-5)
    assert adapter.conv_layers()[0] == "Conv1" and info["class_names"] == ["benign", "malignant"]
