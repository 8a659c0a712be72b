"""Table 1's optimizers (Adam, plain SGD) as one TensorFlow kernel per variable.

Keras 3's optimizers build each variable's update from about a dozen small ops. In a traced train
step over DenseNet201's 606 or NASNet Mobile's 744 variables, that is thousands of ops more to trace
and instantiate than with TensorFlow's fused kernels (``ResourceApplyAdam``,
``ResourceApplyGradientDescent``, one op per variable), paid once per training process. The
arithmetic is Keras's:
``keras.optimizers.Adam`` (bias correction folded into the step size, epsilon outside the square
root, defaults beta_1 0.9, beta_2 0.999, epsilon 1e-7) and ``keras.optimizers.SGD`` without
momentum; the tests check both against Keras step by step.
"""

from __future__ import annotations

from collections.abc import Iterable

import tensorflow as tf

from medinterp.errors import ConfigError

NAMES = ("adam", "sgd")
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7


class FusedOptimizer:
    """``adam`` or ``sgd`` for a fixed list of variables: :meth:`build` them, then :meth:`apply_gradients`
    inside a ``tf.function``. ``learning_rate`` can be set between steps without re-tracing."""

    def __init__(self, name: str, learning_rate: float):
        if name not in NAMES:
            raise ConfigError(f"optimizer '{name}' is unknown; choose one of {list(NAMES)}")
        self.name = name
        self._learning_rate = tf.Variable(float(learning_rate), trainable=False, dtype=tf.float32, name="learning_rate")
        self.iterations = tf.Variable(0, trainable=False, dtype=tf.int64, name="iterations")
        self._slots: list[tuple[tf.Variable, tf.Variable]] = []

    @property
    def learning_rate(self) -> tf.Variable:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._learning_rate.assign(float(value))

    @property
    def variables(self) -> list[tf.Variable]:
        """The optimizer's state: step count and Adam's moments (not the learning rate)."""
        return [self.iterations, *(v for pair in self._slots for v in pair)]

    def build(self, variables: Iterable) -> None:
        """Adam's first and second moments, zero, one pair per variable (nothing for SGD)."""
        if self.name == "adam":
            self._slots = [
                (tf.Variable(tf.zeros_like(v), trainable=False), tf.Variable(tf.zeros_like(v), trainable=False))
                for v in map(_tf_variable, variables)
            ]

    def reset(self) -> None:
        """Back to step 0 with zero moments; the learning rate stays."""
        for variable in self.variables:
            variable.assign(tf.zeros_like(variable))

    def apply_gradients(self, grads_and_vars: Iterable) -> None:
        pairs = [(g, _tf_variable(v)) for g, v in grads_and_vars]
        self.iterations.assign_add(1)
        lr = self._learning_rate
        if self.name == "sgd":
            for grad, var in pairs:
                tf.raw_ops.ResourceApplyGradientDescent(var=var.handle, alpha=lr, delta=grad)
            return
        if len(self._slots) != len(pairs):
            raise RuntimeError(f"the optimizer was built for {len(self._slots)} variables, not {len(pairs)}")
        step = tf.cast(self.iterations, tf.float32)
        beta_1_power, beta_2_power = tf.pow(BETA_1, step), tf.pow(BETA_2, step)
        for (grad, var), (m, v) in zip(pairs, self._slots):
            tf.raw_ops.ResourceApplyAdam(
                var=var.handle,
                m=m.handle,
                v=v.handle,
                beta1_power=beta_1_power,
                beta2_power=beta_2_power,
                lr=lr,
                beta1=BETA_1,
                beta2=BETA_2,
                epsilon=EPSILON,
                grad=grad,
            )


def _tf_variable(variable) -> tf.Variable:
    """The ``tf.Variable`` behind a Keras 3 variable (or the variable itself)."""
    return variable if isinstance(variable, tf.Variable) else variable.value
