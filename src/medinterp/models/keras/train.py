"""Keras models as :class:`medinterp.training.loop.Trainable`: one traced train step per model.

``model.fit`` spends long tracing a large graph such as DenseNet201 or NASNet Mobile; a hand-written
step (``tf.function`` around a ``GradientTape``, the update by :mod:`medinterp.models.keras.optimizers`'
fused kernels), with Grappler's meta optimizer switched off, traces in a fraction of that, as it
builds a smaller graph and skips Grappler's rewrites. The step and the forward pass are traced once,
for any batch size, and reused for every run on the same model object:
:meth:`KerasTrainable.restart` puts the optimizer back to its initial state, so several trainings of
one architecture (the paper's three classifier variants) pay for one trace.

Mixed precision (``paper.precision``, ``isic.precision``): models built inside :func:`precision`
compute in bfloat16 or float16 with float32 variables; the trainable casts their outputs to float32
before the loss, and under float16 scales the loss as Keras's ``LossScaleOptimizer`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from medinterp import numerics
from medinterp.errors import ConfigError
from medinterp.models.keras.optimizers import FusedOptimizer

Batches = Callable[[int], Iterable[tuple[np.ndarray, np.ndarray]]]
Metrics = Callable[[np.ndarray, np.ndarray], dict[str, float]]

POLICIES = {"fp32": None, "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}  # None: Keras's default, untouched


@contextmanager
def precision(name: str) -> Iterator[None]:
    """Build models inside this block under the Keras dtype policy of ``name`` (``fp32``, ``bf16``,
    ``fp16``); the global policy is put back afterwards (the built layers keep theirs)."""
    if name not in POLICIES:
        raise ConfigError(f"precision '{name}' is unknown; choose one of {list(POLICIES)}")
    if POLICIES[name] is None:
        yield
        return
    if numerics.mode() != "fast":
        raise ConfigError(
            f"precision '{name}' needs {numerics.MODE_VARIABLE}=fast: the portable numerics run on the CPU "
            "with AVX2 kernels, which have no bfloat16 or float16 convolutions"
        )
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(POLICIES[name])
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


class DynamicLossScale:
    """Keras's ``LossScaleOptimizer`` rule: the loss times ``scale`` (from 2**15); a step whose
    unscaled gradients are not all finite is skipped and halves the scale; 2000 finite steps in a row double it."""

    INITIAL, GROWTH_STEPS = 2.0**15, 2000

    def __init__(self):
        self.scale = tf.Variable(self.INITIAL, trainable=False, dtype=tf.float32, name="loss_scale")
        self.good_steps = tf.Variable(0, trainable=False, dtype=tf.int64, name="loss_scale_good_steps")

    @property
    def variables(self) -> list[tf.Variable]:
        return [self.scale, self.good_steps]

    def reset(self) -> None:
        self.scale.assign(self.INITIAL)
        self.good_steps.assign(0)

    def apply(self, grads: list, variables: list, optimizer: FusedOptimizer) -> None:
        """Unscale ``grads`` and apply them with ``optimizer`` when finite (traced: inside a ``tf.function``)."""
        grads = [g / self.scale for g in grads]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])

        def step():
            optimizer.apply_gradients(zip(grads, variables))
            grown = self.good_steps + 1 >= self.GROWTH_STEPS
            self.scale.assign(tf.where(grown, self.scale * 2.0, self.scale))
            self.good_steps.assign(tf.where(grown, tf.constant(0, tf.int64), self.good_steps + 1))
            return tf.constant(True)

        def skip():
            self.scale.assign(self.scale / 2.0)
            self.good_steps.assign(0)
            return tf.constant(False)

        tf.cond(finite, step, skip)


def configure_tensorflow(seed: int) -> None:
    """Seed Python, numpy and TensorFlow, and skip Grappler's graph rewrites (slow to run on these graphs)."""
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    keras.utils.set_random_seed(seed)


def inference_function(model: keras.Model):
    """``model`` in inference mode as a ``tf.function`` traced once for any batch size, outputs in
    float32 (whatever the precision); its input is named ``input`` (the name the ONNX export keeps),
    so training, validation and export share one trace."""
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="input")
    return tf.function(lambda x: tf.cast(model(x, training=False), tf.float32), input_signature=[spec])


def run_batched(function, x: np.ndarray, batch_size: int) -> np.ndarray:
    """``function`` (e.g. an :func:`inference_function`) over ``x`` in float32 batches, outputs concatenated."""
    parts = [
        function(np.asarray(x[i : i + batch_size], dtype=np.float32)).numpy() for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts)


class KerasTrainable:
    """Trains ``model`` on ``batches(epoch)`` (float32 ``(x, y)`` pairs; or those :meth:`restart` gives)
    and validates on ``(val_x, val_y)``.

    ``evaluate`` returns the validation ``loss`` plus whatever ``metrics(val_y, outputs)`` adds.
    The state is every weight of the model, batch-normalisation statistics included; the training
    state adds the seed generators' states (dropout), the optimizer's and the loss scale's variables
    and the batch source's ``rng`` (``training.resume.SeededBatches``), where it has one.
    """

    def __init__(
        self,
        model: keras.Model,
        loss: keras.losses.Loss,
        optimizer: FusedOptimizer,
        batches: Batches | None,
        val_x: np.ndarray,
        val_y: np.ndarray,
        batch_size: int,
        metrics: Metrics | None = None,
    ):
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.batches, self.val_x, self.val_y = batches, val_x, val_y
        self.batch_size, self.metrics = batch_size, metrics
        # as Keras decides it for model.compile: loss scaling when the model computes in float16
        self.loss_scale = DynamicLossScale() if model.dtype_policy.name == "mixed_float16" else None
        self.optimizer.build(model.trainable_variables)  # before tracing, or the step is traced twice
        x_spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        y_spec = tf.TensorSpec((None, *model.output_shape[1:]), tf.float32)
        self._step = tf.function(self._train_step, input_signature=[x_spec, y_spec])
        self.forward = inference_function(model)

    def _train_step(self, x, y):
        """One update; the batch's loss and float32 outputs."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            outputs = tf.cast(self.model(x, training=True), tf.float32)
            loss = self.loss(y, outputs)
            if self.loss_scale is not None:
                scaled = loss * self.loss_scale.scale
        if self.loss_scale is None:
            self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        else:
            self.loss_scale.apply(tape.gradient(scaled, variables), variables, self.optimizer)
        return loss, outputs

    def restart(self, batches: Batches | None = None) -> None:
        """Zero the optimizer's moments and step count (and the loss scale), keeping its learning
        rate, and draw the next run's training data from ``batches`` when given."""
        self.optimizer.reset()
        if self.loss_scale is not None:
            self.loss_scale.reset()
        if batches is not None:
            self.batches = batches

    def train_epoch(self, epoch: int) -> dict[str, float]:
        total, seen = 0.0, 0
        for x, y in self.batches(epoch):
            loss, _ = self._step(x, y)
            total += float(loss) * len(x)
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

    def _state_variables(self) -> list:
        """Every variable a step reads or changes: the model's (seed generators' included), the
        optimizer's, the loss scale's."""
        scale = [] if self.loss_scale is None else self.loss_scale.variables
        return [*self.model.variables, *self.optimizer.variables, self.optimizer.learning_rate, *scale]

    def training_state(self) -> dict[str, Any]:
        rng = getattr(self.batches, "rng", None)
        return {
            "variables": [np.asarray(v.numpy()) for v in self._state_variables()],
            "rng": None if rng is None else rng.bit_generator.state,
        }

    def set_training_state(self, state: dict[str, Any]) -> None:
        variables = self._state_variables()
        if len(state["variables"]) != len(variables):
            raise ValueError(
                f"the training state holds {len(state['variables'])} variables, this trainable {len(variables)}"
            )
        for variable, value in zip(variables, state["variables"]):
            variable.assign(value)
        if state["rng"] is not None:
            self.batches.rng.bit_generator.state = state["rng"]
