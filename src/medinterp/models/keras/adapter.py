"""The Keras side of :class:`medinterp.interpret.adapter.ModelAdapter`, for any functional Keras model
whose input is ``(N, H, W, 3)`` in [0, 1] (every model :mod:`medinterp.models.keras` builds takes its
normalisation inside, in layer ``preprocess``).

Layers are named as in ``model.layers``; a layer must be called once in the model (so it has one
output tensor) and give a ``(N, h, w, C)`` output, returned channel-first ``(N, C, h, w)``. Every
computation runs in inference mode through a ``tf.function`` traced once per layer (for
``layer_activations``, once per tuple of layers: one model with an output per layer, so one forward
pass gives them all) for any batch size, so repeated calls (feature visualization's hundreds of
steps) pay for one trace. Gradients are taken with the input watched, so they exist even where the
model's weights are frozen; input gradients are in the [0, 1] image space, through the model's own
normalisation. The images of a batch are independent in inference mode, so one gradient of the
batch's summed scores gives every image's own gradient.

The parameter layers are the entries of ``model.layers`` that hold weights (``get_weights()`` not
empty: convolutions, dense layers, batch norm with its moving statistics; not a dropout's seed
state, which Keras keeps out of ``weights``), in ``model.layers`` order; a nested model counts as one
layer. Setting weights assigns the variables in place, and the traced functions read the variables
when they run, so they see new weights without a retrace.

Scores are the model's outputs, which for the models built here are logits; a single-logit binary
model's class 1 score is its logit and class 0 score the negated logit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from medinterp.errors import ConfigError
from medinterp.interpret.adapter import checked_weights, image_batch

CONV_TYPES = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.Conv2DTranspose,
)
GRADIENT_BATCH = 32


def class_scores(outputs: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
    """Per row, the score of ``classes[i]``; a single-logit model's class 0 is the negated logit."""
    if outputs.shape[-1] == 1:
        return tf.where(tf.equal(classes, 1), outputs[:, 0], -outputs[:, 0])
    return tf.gather(outputs, classes, axis=1, batch_dims=1)


class KerasAdapter:
    def __init__(self, model: keras.Model):
        self.model = model
        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        index = tf.TensorSpec((None,), tf.int32)
        self._spec, self._index = spec, index
        self._scores = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        self._traced: dict[tuple[str, str | tuple[str, ...] | None], tf.types.experimental.PolymorphicFunction] = {}
        self._by_name: dict[str, keras.layers.Layer] | None = None

    # -- what the protocol asks -------------------------------------------------------------

    def conv_layers(self) -> list[str]:
        return [layer.name for layer in self.model.layers if isinstance(layer, CONV_TYPES)]

    def channels(self, layer: str) -> int:
        return int(self._output(layer).shape[-1])

    def scores(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        return self._batched(lambda x: self._scores(x).numpy(), images, batch_size)

    def activations(self, images: np.ndarray, layer: str, batch_size: int = 32) -> np.ndarray:
        function = self._function("activations", layer)
        return self._batched(lambda x: function(x).numpy().transpose(0, 3, 1, 2), images, batch_size)

    def layer_activations(
        self,
        images: np.ndarray,
        layers: Sequence[str],
        batch_size: int = 32,
        reduce: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        layers = tuple(dict.fromkeys(layers))
        function = self._function("layer_activations", layers)
        parts: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
        for x in _chunks(image_batch(images), batch_size):
            for layer, output in zip(layers, function(x)):
                acts = output.numpy().transpose(0, 3, 1, 2)
                # reduce sees a contiguous array, as activations() returns it
                parts[layer].append(reduce(np.ascontiguousarray(acts)) if reduce is not None else acts)
        return {layer: np.concatenate(parts[layer]) for layer in layers}

    def gradcam_parts(
        self, images: np.ndarray, layer: str, class_index: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        function = self._function("gradcam", layer)
        parts = [
            function(x, np.full(len(x), class_index, np.int32)) for x in _chunks(image_batch(images), GRADIENT_BATCH)
        ]
        acts, grads, scores = (np.concatenate([p[i].numpy() for p in parts]) for i in range(3))
        return acts.transpose(0, 3, 1, 2), grads.transpose(0, 3, 1, 2), scores

    def input_gradient(
        self, images: np.ndarray, layer: str | None, targets: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        images = image_batch(images)
        targets = np.asarray(targets, dtype=np.int32)
        if len(targets) != len(images):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        objective, grad = self._function("input_gradient", layer)(images, targets)
        return objective.numpy(), grad.numpy()

    def parameter_layers(self) -> list[str]:
        return list(self._parameter_layers())

    def layer_weights(self, layer: str) -> list[np.ndarray]:
        return [np.array(w, copy=True) for w in self._parameter_layer(layer).get_weights()]

    def set_layer_weights(self, layer: str, arrays: Sequence[np.ndarray]) -> None:
        found = self._parameter_layer(layer)
        found.set_weights(checked_weights(layer, [(tuple(w.shape), np.dtype(w.dtype)) for w in found.weights], arrays))

    # -- plumbing -----------------------------------------------------------------------------

    def _parameter_layers(self) -> dict[str, keras.layers.Layer]:
        # looked up once: `layer.weights` builds a new list at every call, hundreds of times per cascade
        if self._by_name is None:
            self._by_name = {layer.name: layer for layer in self.model.layers if layer.weights}
        return self._by_name

    def _parameter_layer(self, layer: str) -> keras.layers.Layer:
        found = self._parameter_layers().get(layer)
        if found is None:
            raise ConfigError(
                f"layer '{layer}' is not a parameter layer of {self.model.name} "
                f"({len(self._parameter_layers())} parameter layers; see parameter_layers())"
            )
        return found

    def _output(self, layer: str):
        try:
            found = self.model.get_layer(layer)
        except ValueError:
            raise ConfigError(
                f"layer '{layer}' is not a layer of {self.model.name}; convolutional layers: {self.conv_layers()}"
            ) from None
        try:
            output = found.output
        except (AttributeError, ValueError) as exc:
            raise ConfigError(f"layer '{layer}' of {self.model.name} has no single output tensor ({exc})") from None
        if len(output.shape) != 4:
            raise ConfigError(f"layer '{layer}' does not output a (N, h, w, C) tensor (shape {output.shape})")
        return output

    def _function(self, kind: str, layer: str | tuple[str, ...] | None):
        key = (kind, layer)
        if key not in self._traced:
            self._traced[key] = self._trace(kind, layer)
        return self._traced[key]

    def _trace(self, kind: str, layer: str | tuple[str, ...] | None):
        model = self.model
        if kind == "layer_activations":  # `layer` is a tuple of layers: one model with an output per layer
            outputs = keras.Model(model.inputs, [self._output(name) for name in layer])
            # flattened: a model with a one-element list of outputs returns the bare tensor
            return tf.function(lambda x: tf.nest.flatten(outputs(x, training=False)), input_signature=[self._spec])
        if kind == "gradcam":
            probe = keras.Model(model.inputs, [self._output(layer), model.outputs[0]])

            def gradcam(x, classes):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    acts, outputs = probe(x, training=False)
                    scores = class_scores(outputs, classes)
                return acts, tape.gradient(scores, acts), scores  # a vector target: the gradient of its sum

            return tf.function(gradcam, input_signature=[self._spec, self._index])
        if layer is None:

            def objective(x, targets):
                return class_scores(model(x, training=False), targets)
        else:
            upto = keras.Model(model.inputs, self._output(layer))  # the forward pass ends at the layer
            if kind == "activations":
                return tf.function(lambda x: upto(x, training=False), input_signature=[self._spec])

            def objective(x, targets):
                acts = upto(x, training=False)
                return tf.reduce_mean(tf.gather(acts, targets, axis=3, batch_dims=1), axis=(1, 2))

        def input_gradient(x, targets):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = objective(x, targets)
            return value, tape.gradient(value, x)

        return tf.function(input_gradient, input_signature=[self._spec, self._index])

    @staticmethod
    def _batched(function, images: np.ndarray, batch_size: int) -> np.ndarray:
        return np.concatenate([function(x) for x in _chunks(image_batch(images), batch_size)])


def _chunks(images: np.ndarray, size: int):
    return (images[i : i + size] for i in range(0, len(images), size)) if len(images) else iter([images])
