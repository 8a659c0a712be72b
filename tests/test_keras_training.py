"""The Keras Trainable, the paper's augmentation and the ONNX export, on tiny models."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from medinterp.export import metadata as M
from medinterp.models.keras.augment import balanced_order, dihedral, epoch_batches
from medinterp.models.keras.autoencoder import build_autoencoder
from medinterp.models.keras.export import OnnxExporter, framework
from medinterp.models.keras.training import KerasTrainable, configure_tensorflow, make_optimizer
from medinterp.training.loop import FitConfig, fit


def test_balanced_order_fills_the_minority_class():
    labels = np.array([0] * 3 + [1] * 7)
    order = balanced_order(labels, np.random.default_rng(0))
    assert len(order) == 14 and np.bincount(labels[order]).tolist() == [7, 7]
    assert set(order[labels[order] == 1]) == set(range(3, 10))       # every majority image exactly once
    assert sorted(balanced_order(labels, np.random.default_rng(0), balance=False)) == list(range(10))


def test_dihedral_gives_the_eight_symmetries():
    image = np.arange(9 * 3).reshape(1, 3, 3, 3)
    symmetries = {np.rot90(image[0], k, axes=(0, 1))[:, ::-1 if m else 1].tobytes() for k in range(4) for m in (0, 1)}
    seen = {dihedral(image, np.random.default_rng(s))[0].tobytes() for s in range(64)}
    assert seen == symmetries


def test_epoch_batches_scale_and_pair_targets():
    images = np.stack([np.full((4, 4, 3), 10 * i, np.uint8) for i in range(5)])
    labels = np.array([0, 0, 1, 1, 1])
    batches = list(epoch_batches(images, labels.reshape(-1, 1), labels, 2, np.random.default_rng(0), balance=True, augment=True))
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert len(x) == 6 and x.dtype == np.float32 and x.max() <= 0.2
    np.testing.assert_array_equal(np.rint(x[:, 0, 0, 0] * 255 / 10) >= 2, y[:, 0] == 1)   # labels follow their images
    auto = next(epoch_batches(images, None, labels, 5, np.random.default_rng(0), balance=False, augment=False))
    assert auto[0] is auto[1]


def _tiny_classifier():
    images = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(images)
    x = keras.layers.BatchNormalization(momentum=0.0, name="norm")(x)   # inference uses the last batch's statistics
    logit = keras.layers.Dense(1, name="logit")(keras.layers.GlobalAveragePooling2D(name="pool")(x))
    return keras.Model(images, logit)


def test_trainable_learns_restarts_and_restores():
    configure_tensorflow(0)
    rng = np.random.default_rng(0)
    x = rng.random((32, 8, 8, 3)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("float32").reshape(-1, 1)
    model = _tiny_classifier()
    trainer = KerasTrainable(model, keras.losses.BinaryCrossentropy(from_logits=True), make_optimizer("adam", 0.05),
                             lambda epoch: [(x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8)], x, y, 8)
    start = trainer.evaluate()["loss"]
    result = fit(trainer, FitConfig(epochs=5, learning_rate=0.05))
    assert result.best["val_loss"] < start and trainer.evaluate()["loss"] == pytest.approx(result.best["val_loss"], rel=1e-5)
    assert int(trainer.optimizer.iterations.numpy()) > 0
    state = trainer.get_state()
    trainer.restart()
    assert int(trainer.optimizer.iterations.numpy()) == 0
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    trainer.set_state(state)
    assert all(np.array_equal(a, b) for a, b in zip(state, model.get_weights()))
    assert float(trainer.optimizer.learning_rate) == pytest.approx(0.05)
    with pytest.raises(Exception, match="optimizer 'rmsprop'"):
        make_optimizer("rmsprop", 0.1)


def test_autoencoder_reconstructs_the_input_shape():
    images = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(8, 3, strides=8, name="enc")(images)   # 4x4: three upsamplings back
    model = build_autoencoder(keras.Model(images, features), filters=64)
    assert model.output_shape == (None, 32, 32, 3)
    assert [layer.filters for layer in model.layers if layer.name.startswith("decoder_up")] == [64, 32, 16]
    out = model.predict(np.random.default_rng(0).random((2, 32, 32, 3)), verbose=0)
    assert out.min() >= 0 and out.max() <= 1


def test_onnx_export_carries_metadata_and_matches_keras(tmp_path):
    model = _tiny_classifier()
    x = np.random.default_rng(1).random((5, 8, 8, 3)).astype("float32")
    meta = M.make(name="tiny", architecture="tiny", family="keras", task="binary", dataset="none", split="none",
                  class_names=["benign", "malignant"], input=M.input_spec(8, "NHWC"), output=M.output_spec("logits", "sigmoid", "logit"),
                  metrics={}, init_used="random", git_revision="test", params={}, framework=framework())
    exporter = OnnxExporter(model, "logit")
    parity = exporter.export(tmp_path / "tiny.onnx", meta, x)
    assert parity["max_abs_diff"] < 1e-5 and parity["samples"] == 5
    stored = M.read(tmp_path / "tiny.onnx")
    assert stored["metrics"]["onnx_parity"] == parity and stored["name"] == "tiny"
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "tiny.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"] and [o.name for o in session.get_outputs()] == ["logit"]
    np.testing.assert_allclose(session.run(None, {"input": x})[0], model.predict(x, verbose=0), atol=1e-5)
    model.set_weights([w * 2 for w in model.get_weights()])   # the same exporter freezes the new weights
    assert exporter.export(tmp_path / "twice.onnx", meta, x)["max_abs_diff"] < 1e-5
