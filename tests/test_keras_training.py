"""The Keras Trainable, the paper's augmentation and the ONNX export, on tiny models."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from medinterp.export import metadata
from medinterp.models.keras.export import OnnxExporter, framework
from medinterp.models.keras.optimizers import FusedOptimizer
from medinterp.models.keras.paper_networks import build_autoencoder
from medinterp.models.keras.train import KerasTrainable, configure_tensorflow
from medinterp.paper.augment import balanced_order, dihedral, epoch_batches
from medinterp.training.loop import FitConfig, fit


def test_balanced_order_fills_the_minority_class():
    labels = np.array([0] * 3 + [1] * 7)
    order = balanced_order(labels, np.random.default_rng(0))
    assert len(order) == 14 and np.bincount(labels[order]).tolist() == [7, 7]
    assert set(order[labels[order] == 1]) == set(range(3, 10))  # every majority image exactly once
    assert sorted(balanced_order(labels, np.random.default_rng(0), balance=False)) == list(range(10))


def test_dihedral_gives_the_eight_symmetries():
    image = np.arange(9 * 3).reshape(1, 3, 3, 3)
    symmetries = {np.rot90(image[0], k, axes=(0, 1))[:, :: -1 if m else 1].tobytes() for k in range(4) for m in (0, 1)}
    seen = {dihedral(image, np.random.default_rng(s))[0].tobytes() for s in range(64)}
    assert seen == symmetries


def test_epoch_batches_scale_and_pair_targets():
    images = np.stack([np.full((4, 4, 3), 10 * i, np.uint8) for i in range(5)])
    labels = np.array([0, 0, 1, 1, 1])
    batches = list(
        epoch_batches(images, labels.reshape(-1, 1), labels, 2, np.random.default_rng(0), balance=True, augment=True)
    )
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert len(x) == 6 and x.dtype == np.float32 and x.max() <= 0.2
    np.testing.assert_array_equal(np.rint(x[:, 0, 0, 0] * 255 / 10) >= 2, y[:, 0] == 1)  # labels follow their images
    auto = next(epoch_batches(images, None, labels, 5, np.random.default_rng(0), balance=False, augment=False))
    assert auto[0] is auto[1]


def _tiny_classifier():
    images = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(images)
    x = keras.layers.BatchNormalization(momentum=0.0, name="norm")(x)  # inference uses the last batch's statistics
    logit = keras.layers.Dense(1, name="logit")(keras.layers.GlobalAveragePooling2D(name="pool")(x))
    return keras.Model(images, logit)


def test_trainable_learns_restarts_and_restores():
    configure_tensorflow(0)
    rng = np.random.default_rng(0)
    x = rng.random((32, 8, 8, 3)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("float32").reshape(-1, 1)
    model = _tiny_classifier()
    trainer = KerasTrainable(
        model,
        keras.losses.BinaryCrossentropy(from_logits=True),
        FusedOptimizer("adam", 0.05),
        lambda epoch: [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)],
        x,
        y,
        8,
    )
    start = trainer.evaluate()["loss"]
    result = fit(trainer, FitConfig(epochs=5, learning_rate=0.05))
    assert result.best["val_loss"] < start and trainer.evaluate()["loss"] == pytest.approx(
        result.best["val_loss"], rel=1e-5
    )
    assert int(trainer.optimizer.iterations.numpy()) > 0
    state = trainer.get_state()
    trainer.restart()
    assert int(trainer.optimizer.iterations.numpy()) == 0
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    trainer.set_state(state)
    assert all(np.array_equal(a, b) for a, b in zip(state, model.get_weights()))
    assert float(trainer.optimizer.learning_rate) == pytest.approx(0.05)
    with pytest.raises(Exception, match="optimizer 'rmsprop'"):
        FusedOptimizer("rmsprop", 0.1)


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_fused_optimizer_steps_as_keras_does(name):
    """Five traced steps, the learning rate changed after the second, against Keras's own optimizer."""
    import tensorflow as tf

    rng = np.random.default_rng(2)
    start = [rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(4,)).astype("float32")]
    grads = [[rng.normal(size=w.shape).astype("float32") for w in start] for _ in range(5)]
    ours = [tf.Variable(w) for w in start]
    theirs = [keras.Variable(w) for w in start]
    fused = FusedOptimizer(name, 0.01)
    fused.build(ours)
    reference = keras.optimizers.Adam(0.01) if name == "adam" else keras.optimizers.SGD(0.01)
    reference.build(theirs)
    step = tf.function(lambda *g: fused.apply_gradients(zip(g, ours)))
    for i, g in enumerate(grads):
        if i == 2:
            fused.learning_rate = reference.learning_rate = 0.003
        step(*g)
        reference.apply_gradients(zip([tf.constant(x) for x in g], theirs))
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    assert int(fused.iterations.numpy()) == 5
    fused.reset()
    assert int(fused.iterations.numpy()) == 0 and all(not v.numpy().any() for v in fused.variables)
    assert float(fused.learning_rate) == pytest.approx(0.003)


def test_autoencoder_reconstructs_the_input_shape():
    images = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(8, 3, strides=8, name="enc")(images)  # 4x4: three upsamplings back
    model = build_autoencoder(keras.Model(images, features), filters=64)
    assert model.output_shape == (None, 32, 32, 3)
    assert [layer.filters for layer in model.layers if layer.name.startswith("decoder_up")] == [64, 32, 16]
    out = model.predict(np.random.default_rng(0).random((2, 32, 32, 3)), verbose=0)
    assert out.min() >= 0 and out.max() <= 1


def test_onnx_export_carries_metadata_and_matches_keras(tmp_path):
    model = _tiny_classifier()
    x = np.random.default_rng(1).random((5, 8, 8, 3)).astype("float32")
    meta = metadata.make(
        name="tiny",
        architecture="tiny",
        family="keras",
        task="binary",
        dataset="breakhis",
        split="none",
        class_names=["benign", "malignant"],
        input=metadata.input_spec(8, "NHWC"),
        output=metadata.output_spec("logits", "sigmoid", "logit"),
        metrics={},
        init_used="random",
        provenance={"medinterp": "test"},
        params={},
        framework=framework(),
    )
    exporter = OnnxExporter(model, "logit")
    record, measured = exporter.export(tmp_path / "tiny.onnx", meta, x, tolerance=1e-5)
    assert measured["max_abs_diff"] < 1e-5 and measured["samples"] == 5
    assert record == {"samples": 5, "tolerance": 1e-5, "within_tolerance": True}
    stored = metadata.read(tmp_path / "tiny.onnx")
    assert stored["metrics"]["onnx_parity"] == record and stored["name"] == "tiny"
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "tiny.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"] and [o.name for o in session.get_outputs()] == ["logit"]
    np.testing.assert_allclose(session.run(None, {"input": x})[0], model.predict(x, verbose=0), atol=1e-5)
    exporter.export(tmp_path / "again.onnx", meta, x, tolerance=1e-5)  # the same weights: the same bytes
    assert (tmp_path / "again.onnx").read_bytes() == (tmp_path / "tiny.onnx").read_bytes()
    model.set_weights([w * 2 for w in model.get_weights()])  # the same exporter freezes the new weights
    assert exporter.export(tmp_path / "twice.onnx", meta, x, tolerance=1e-5)[1]["max_abs_diff"] < 1e-5
    with pytest.raises(RuntimeError, match="differ by up to"):  # no difference passes a negative tolerance
        exporter.export(tmp_path / "refused.onnx", meta, x, tolerance=-1.0)


def _dropout_classifier():
    """A tiny classifier whose training draws random numbers (dropout) and keeps statistics (batch norm)."""
    images = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(images)
    x = keras.layers.BatchNormalization(name="norm")(x)
    x = keras.layers.Dropout(0.5, name="drop")(keras.layers.GlobalAveragePooling2D(name="pool")(x))
    return keras.Model(images, keras.layers.Dense(1, name="logit")(x))


def _shuffled_batches(x, y):
    """Batches in a random order, with random noise: both drawn from the source's generator."""
    from medinterp.training.resume import SeededBatches

    def draw(epoch, rng):
        order = rng.permutation(len(x))
        return [(x[rows] + rng.normal(0, 0.1, x[rows].shape).astype("float32"), y[rows]) for rows in np.split(order, 4)]

    return SeededBatches(np.random.default_rng(5), draw)


def _task():
    rng = np.random.default_rng(0)
    x = rng.random((32, 8, 8, 3)).astype("float32")
    return x, (x.mean(axis=(1, 2, 3)) > 0.5).astype("float32").reshape(-1, 1)


def _trainer(x, y, seed):
    configure_tensorflow(seed)
    return KerasTrainable(
        _dropout_classifier(),
        keras.losses.BinaryCrossentropy(from_logits=True),
        FusedOptimizer("adam", 0.01),
        _shuffled_batches(x, y),
        x,
        y,
        8,
    )


def test_training_state_continues_bit_identically_in_another_model():
    x, y = _task()
    first = _trainer(x, y, seed=0)
    first.train_epoch(1)
    state = first.training_state()
    expected_loss = first.train_epoch(2)["loss"]
    other = _trainer(x, y, seed=3)  # other initial weights, dropout seeds and batches
    other.set_training_state(state)
    assert other.train_epoch(2)["loss"] == expected_loss
    for a, b in zip(first._state_variables(), other._state_variables()):
        assert np.array_equal(a.numpy(), b.numpy()), a.path if hasattr(a, "path") else a.name
    assert first.batches.rng.bit_generator.state == other.batches.rng.bit_generator.state
    assert any("seed_generator" in v.path for v in first.model.variables)  # dropout's stream is part of the state


def test_a_training_state_of_another_model_is_refused():
    x, y = _task()
    trainer = _trainer(x, y, seed=0)
    state = trainer.training_state()
    state["variables"] = state["variables"][:-1]
    with pytest.raises(ValueError, match="variables"):
        trainer.set_training_state(state)


def check_mixed_precision(name, compute):
    """Run by :func:`test_mixed_precision_trains_in_fast_numerics`, in a process without the portable pins."""
    from medinterp.models.keras.train import precision

    x, y = _task()
    configure_tensorflow(0)
    with precision(name):
        model = _dropout_classifier()
    assert keras.mixed_precision.dtype_policy().name == "float32"
    assert model.get_layer("conv").compute_dtype == compute and model.get_layer("conv").kernel.dtype == "float32"
    trainer = KerasTrainable(
        model,
        keras.losses.BinaryCrossentropy(from_logits=True),
        FusedOptimizer("adam", 0.01),
        lambda epoch: [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)],
        x,
        y,
        8,
    )
    assert (trainer.loss_scale is not None) == (name == "fp16")  # loss scaling for float16 only, as Keras does
    result = fit(trainer, FitConfig(epochs=2, learning_rate=0.01))
    assert all(np.isfinite(row["train_loss"]) and np.isfinite(row["val_loss"]) for row in result.history)
    assert int(trainer.optimizer.iterations.numpy()) == 8
    assert trainer.predict(x).dtype == np.float32


def check_loss_scaling_skips_an_overflowing_step():
    """Float16 loss scaling: an overflowing step is skipped and halves the scale."""
    from medinterp.models.keras.train import precision

    x, y = _task()
    configure_tensorflow(0)
    with precision("fp16"):
        model = _dropout_classifier()
    trainer = KerasTrainable(
        model,
        keras.losses.BinaryCrossentropy(from_logits=True),
        FusedOptimizer("adam", 0.01),
        lambda epoch: [(x[:8], y[:8])],
        x,
        y,
        8,
    )
    trainer.loss_scale.scale.assign(3e38)  # the scaled loss's gradients overflow float16
    weights = [w.numpy().copy() for w in model.trainable_weights]
    trainer.train_epoch(1)
    assert int(trainer.optimizer.iterations.numpy()) == 0 and float(trainer.loss_scale.scale.numpy()) == pytest.approx(
        1.5e38
    )
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(weights, model.trainable_weights))
    trainer.restart()
    assert float(trainer.loss_scale.scale.numpy()) == 2.0**15


def test_mixed_precision_trains_in_fast_numerics():
    """bf16 and fp16 train a tiny model on the CPU with finite losses and float32 outputs. In a fresh
    process: the portable numerics' AVX2 pin (which a test may have set in this one) leaves oneDNN
    without bfloat16 or float16 convolutions."""
    import os
    import subprocess
    import sys

    from medinterp import numerics

    env = {k: v for k, v in os.environ.items() if k not in numerics.ISA_PINS} | {
        numerics.MODE_VARIABLE: "fast",
        "CUDA_VISIBLE_DEVICES": "",
    }
    script = (
        "import test_keras_training as checks\n"
        "checks.check_mixed_precision('bf16', 'bfloat16'); checks.check_mixed_precision('fp16', 'float16')\n"
        "checks.check_loss_scaling_skips_an_overflowing_step(); print('mixed precision ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).parent, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and "mixed precision ok" in result.stdout, result.stderr[-3000:]


def test_precision_refuses_unknown_names_and_portable_numerics(monkeypatch):
    from medinterp import numerics
    from medinterp.models.keras.train import precision

    with pytest.raises(Exception, match="precision 'fp64' is unknown"):
        with precision("fp64"):
            pass
    monkeypatch.setenv(numerics.MODE_VARIABLE, "portable")
    with pytest.raises(Exception, match="needs MEDINTERP"):
        with precision("bf16"):
            pass
    assert keras.mixed_precision.dtype_policy().name == "float32"
    with precision("fp32"):  # the default: no policy set, whatever the numerics
        assert keras.mixed_precision.dtype_policy().name == "float32"
