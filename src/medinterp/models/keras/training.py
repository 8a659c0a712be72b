"""Keras models as :class:`medinterp.training.loop.Trainable`: one traced train step per model.

``model.fit`` spends over a minute tracing DenseNet201 or NASNet Mobile; a hand-written step
(``tf.function`` around a ``GradientTape``, the update by :mod:`medinterp.models.keras.optimizers`'
fused kernels), with Grappler's meta optimizer switched off, traces in under a quarter of that. The step and the forward pass are traced once, for any batch size, and
reused for every run on the same model object: :meth:`KerasTrainable.restart` puts the optimizer
back to its initial state, so several trainings of one architecture (the paper's three classifier
variants) pay for one trace.
"""

from __future__ import annotations

from typing import Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

from medinterp.models.keras.optimizers import FusedOptimizer

Batches = Callable[[int], Iterable[tuple[np.ndarray, np.ndarray]]]
Metrics = Callable[[np.ndarray, np.ndarray], dict[str, float]]


def configure_tensorflow(seed: int) -> None:
    """Seed Python, numpy and TensorFlow, and skip Grappler's graph rewrites (slow to run on these graphs)."""
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    keras.utils.set_random_seed(seed)


def inference_function(model: keras.Model):
    """``model`` in inference mode as a ``tf.function`` traced once for any batch size; its input is
    named ``input`` (the name the ONNX export keeps), so training, validation and export share one trace."""
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="input")
    return tf.function(lambda x: model(x, training=False), input_signature=[spec])


def run_batched(function, x: np.ndarray, batch_size: int) -> np.ndarray:
    """``function`` (e.g. an :func:`inference_function`) over ``x`` in float32 batches, outputs concatenated."""
    parts = [function(np.asarray(x[i:i + batch_size], dtype=np.float32)).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(parts)


class KerasTrainable:
    """Trains ``model`` on ``batches(epoch)`` (float32 ``(x, y)`` pairs; or those :meth:`restart` gives)
    and validates on ``(val_x, val_y)``.

    ``evaluate`` returns the validation ``loss`` plus whatever ``metrics(val_y, outputs)`` adds.
    The state is every weight of the model, batch-normalisation statistics included.
    """

    def __init__(self, model: keras.Model, loss: keras.losses.Loss, optimizer: FusedOptimizer,
                 batches: Batches | None, val_x: np.ndarray, val_y: np.ndarray, batch_size: int, metrics: Metrics | None = None):
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.batches, self.val_x, self.val_y = batches, val_x, val_y
        self.batch_size, self.metrics = batch_size, metrics
        self.optimizer.build(model.trainable_variables)   # before tracing, or the step is traced twice
        x_spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        y_spec = tf.TensorSpec((None, *model.output_shape[1:]), tf.float32)
        self._step = tf.function(self._train_step, input_signature=[x_spec, y_spec])
        self.forward = inference_function(model)

    def _train_step(self, x, y):
        with tf.GradientTape() as tape:
            loss = self.loss(y, self.model(x, training=True))
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return loss

    def restart(self, batches: Batches | None = None) -> None:
        """Zero the optimizer's moments and step count, keeping its learning rate, and draw the next
        run's training data from ``batches`` when given."""
        self.optimizer.reset()
        if batches is not None:
            self.batches = batches

    def train_epoch(self, epoch: int) -> dict[str, float]:
        total, seen = 0.0, 0
        for x, y in self.batches(epoch):
            total += float(self._step(x, y)) * len(x)
            seen += len(x)
        return {"loss": total / seen}

    def predict(self, x: np.ndarray) -> np.ndarray:
        return run_batched(self.forward, x, self.batch_size)

    def evaluate(self) -> dict[str, float]:
        outputs = self.predict(self.val_x)
        result = {"loss": float(self.loss(self.val_y, outputs))}
        if self.metrics is not None:
            result |= self.metrics(self.val_y, outputs)
        return result

    def get_state(self) -> list[np.ndarray]:
        return [variable.numpy() for variable in self.model.weights]

    def set_state(self, state: list[np.ndarray]) -> None:
        for variable, value in zip(self.model.weights, state):
            variable.assign(value)

    def set_learning_rate(self, lr: float) -> None:
        self.optimizer.learning_rate = lr
