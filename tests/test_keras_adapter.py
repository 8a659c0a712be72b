"""The Keras ModelAdapter on a tiny network whose every output and gradient is computed here in numpy."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from medinterp.errors import ConfigError
from medinterp.models.keras.adapter import KerasAdapter

SIZE = 6


def _tiny(outputs: int) -> keras.Model:
    """input 6x6x3 -> conv_a 3x3 (4) -> tanh -> conv_b 1x1 (3) -> global average -> dense (outputs)."""
    images = keras.Input((SIZE, SIZE, 3))
    a = keras.layers.Conv2D(4, 3, name="conv_a")(images)
    b = keras.layers.Conv2D(3, 1, name="conv_b")(keras.layers.Activation("tanh", name="act_a")(a))
    logits = keras.layers.Dense(outputs, name="logits")(keras.layers.GlobalAveragePooling2D(name="pool")(b))
    model = keras.Model(images, logits)
    rng = np.random.default_rng(outputs)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    return model


def _numpy_forward(model: keras.Model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output, NHWC, in float64."""
    wa, ba, wb, bb, wd, bd = (w.astype(np.float64) for w in model.get_weights())
    x = x.astype(np.float64)
    n, h = len(x), SIZE - 2
    a = np.zeros((n, h, h, 4))
    for i in range(h):
        for j in range(h):
            a[:, i, j] = np.einsum("nklc,klcf->nf", x[:, i : i + 3, j : j + 3], wa) + ba
    b = np.tanh(a) @ wb[0, 0] + bb
    return {"conv_a": a, "conv_b": b, "logits": b.mean(axis=(1, 2)) @ wd + bd}


def _numeric_input_gradient(objective, x: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Central differences of ``objective(x) -> (N,)`` with respect to every pixel of every image."""
    grad = np.zeros(x.shape)
    flat = x.reshape(len(x), -1).astype(np.float64)
    for k in range(flat.shape[1]):
        up, down = flat.copy(), flat.copy()
        up[:, k] += eps
        down[:, k] -= eps
        grad.reshape(len(x), -1)[:, k] = (objective(up.reshape(x.shape)) - objective(down.reshape(x.shape))) / (2 * eps)
    return grad


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((5, SIZE, SIZE, 3), dtype=np.float32)


@pytest.fixture(scope="module", params=[1, 3], ids=["single-logit", "three-logits"])
def model(request):
    return _tiny(request.param)


def test_layers_and_channels(model):
    adapter = KerasAdapter(model)
    assert adapter.conv_layers() == ["conv_a", "conv_b"]
    assert adapter.channels("conv_a") == 4 and adapter.channels("conv_b") == 3


def test_scores_and_activations_match_numpy(model, images):
    adapter, ref = KerasAdapter(model), _numpy_forward(model, images)
    np.testing.assert_allclose(adapter.scores(images, batch_size=2), ref["logits"], atol=1e-5)
    for layer in ("conv_a", "conv_b"):
        acts = adapter.activations(images, layer, batch_size=2)
        np.testing.assert_allclose(acts, ref[layer].transpose(0, 3, 1, 2), atol=1e-5)


@pytest.mark.parametrize("class_index", [0, 1])
def test_gradcam_parts_match_the_analytic_gradient(model, images, class_index):
    """score = w_c . mean(B) (+ b), so d score / d B[h, w, c] = w_c / (h * w), negated for a single logit's class 0."""
    adapter, ref = KerasAdapter(model), _numpy_forward(model, images)
    acts, grads, scores = adapter.gradcam_parts(images, "conv_b", class_index)
    weights = model.get_layer("logits").get_weights()[0].astype(np.float64)
    if model.output_shape[-1] == 1:
        sign = 1.0 if class_index == 1 else -1.0
        column, expected_scores = sign * weights[:, 0], sign * ref["logits"][:, 0]
    else:
        column, expected_scores = weights[:, class_index], ref["logits"][:, class_index]
    expected = np.broadcast_to((column / 16.0)[None, :, None, None], acts.shape)
    np.testing.assert_allclose(acts, ref["conv_b"].transpose(0, 3, 1, 2), atol=1e-5)
    np.testing.assert_allclose(grads, expected, atol=1e-6)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)


def test_input_gradient_of_a_class_score_matches_finite_differences(model, images):
    targets = np.array([1, 0, 1, 0, 1]) if model.output_shape[-1] == 1 else np.array([0, 1, 2, 1, 0])
    adapter = KerasAdapter(model)

    def objective(x):
        logits = _numpy_forward(model, x)["logits"]
        if logits.shape[1] == 1:
            return np.where(targets == 1, logits[:, 0], -logits[:, 0])
        return logits[np.arange(len(x)), targets]

    value, grad = adapter.input_gradient(images, None, targets)
    np.testing.assert_allclose(value, objective(images), atol=1e-5)
    np.testing.assert_allclose(grad, _numeric_input_gradient(objective, images), atol=2e-4)


def test_input_gradient_of_a_channel_mean_matches_finite_differences(model, images):
    targets = np.array([0, 3, 1, 2, 3])
    adapter = KerasAdapter(model)

    def objective(x):
        return _numpy_forward(model, x)["conv_a"][np.arange(len(x)), :, :, targets].mean(axis=(1, 2))

    value, grad = adapter.input_gradient(images, "conv_a", targets)
    np.testing.assert_allclose(value, objective(images), atol=1e-5)
    np.testing.assert_allclose(grad, _numeric_input_gradient(objective, images), atol=2e-4)


def _normed() -> keras.Model:
    """conv -> batch norm -> relu -> conv (relu inside) -> depthwise -> 1x1 conv -> dense: the ops a
    graph optimizer fuses, so that a difference between one-output and many-output models would show."""
    images = keras.Input((SIZE + 4, SIZE + 4, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(images)
    x = keras.layers.ReLU(name="relu")(keras.layers.BatchNormalization(name="norm")(x))
    x = keras.layers.Conv2D(5, 3, activation="relu", name="conv_relu")(x)
    x = keras.layers.Conv2D(3, 1, name="pointwise")(keras.layers.DepthwiseConv2D(3, name="depthwise")(x))
    model = keras.Model(images, keras.layers.Dense(2, name="out")(keras.layers.GlobalAveragePooling2D(name="pool")(x)))
    rng = np.random.default_rng(9)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()]
    weights[5] = np.abs(weights[5]) + 0.5  # the norm's moving variance
    model.set_weights(weights)
    return model


def _counting(adapter: KerasAdapter) -> list[int]:
    """The batch size of every call of the adapter's traced functions from now on (each is one forward pass)."""
    calls: list[int] = []
    traced = adapter._function

    def counted(kind, layer):
        function = traced(kind, layer)
        return lambda x, *rest: (calls.append(len(x)), function(x, *rest))[1]

    adapter._function = counted
    return calls


@pytest.mark.parametrize("build", [lambda: _tiny(3), _normed], ids=["tiny", "normed"])
def test_layer_activations_equal_the_per_layer_path_from_one_pass_per_batch(build):
    from medinterp.interpret.filters import layer_maxima, layer_maxima_many

    adapter = KerasAdapter(build())
    layers = adapter.conv_layers()[::-1]  # any order: keyed as asked
    x = np.random.default_rng(1).random((5, *adapter.model.input_shape[1:]), dtype=np.float32)
    pixels = (x * 255).astype(np.uint8)
    per_layer = {layer: adapter.activations(x, layer, batch_size=2) for layer in layers}
    per_layer_maxima = {layer: layer_maxima(adapter, pixels, layer, batch_size=2, progress=False) for layer in layers}
    calls = _counting(adapter)
    together = adapter.layer_activations(x, layers, batch_size=2)
    maxima = layer_maxima_many(adapter, pixels, layers, batch_size=2, progress=False)
    assert calls == [2, 2, 1] * 2  # per layer it was len(layers) times as many
    assert list(together) == list(maxima) == layers
    for layer in layers:
        # one multi-output graph: TensorFlow may fuse it otherwise than each layer's own graph (seen in
        # the full suite, after other tests set the stage numerics): equal to float32 rounding
        np.testing.assert_allclose(together[layer], per_layer[layer], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(maxima[layer], per_layer_maxima[layer], rtol=1e-6, atol=1e-6)
    traced = adapter._traced[("layer_activations", tuple(layers))]
    adapter.layer_activations(x[:3], layers, batch_size=3)
    assert traced.experimental_get_tracing_count() == 1  # one trace per tuple of layers, any batch size
    only = adapter.layer_activations(x, layers[:1])
    np.testing.assert_allclose(only[layers[0]], per_layer[layers[0]], rtol=1e-6, atol=1e-6)


def test_bad_layers_and_inputs_are_refused(images):
    adapter = KerasAdapter(_tiny(1))
    with pytest.raises(ConfigError, match="not a layer.*conv_a"):
        adapter.activations(images, "conv_z")
    with pytest.raises(ConfigError, match=r"\(N, h, w, C\)"):
        adapter.activations(images, "pool")
    for layers, message in [(["conv_a", "conv_z"], "not a layer"), (["conv_a", "pool"], r"\(N, h, w, C\)")]:
        with pytest.raises(ConfigError, match=message):
            adapter.layer_activations(images, layers)
    with pytest.raises(ValueError, match="targets"):
        adapter.input_gradient(images, "conv_a", [0, 1])
    with pytest.raises(ValueError, match="expected images"):
        adapter.scores(images[..., :2])


def test_framework_free_interpretation_runs_through_the_keras_adapter(images):
    """The thesis's methods reach a Keras model through the same numpy code as a torch one."""
    from medinterp.interpret.featurevis import Settings, visualize
    from medinterp.interpret.filters import layer_maxima, occurrence_table

    model = _tiny(2)
    adapter = KerasAdapter(model)
    maxima = layer_maxima(adapter, (images * 255).astype(np.uint8), "conv_a", progress=False)
    expected = _numpy_forward(model, (images * 255).astype(np.uint8) / 255.0)["conv_a"].max(axis=(1, 2))
    np.testing.assert_allclose(maxima, expected, rtol=1e-4, atol=1e-5)
    counts = occurrence_table(maxima, np.array([0, 1, 0, 1, 0]), ["benign", "malignant"], quantile=0.5, set_name="tiny")
    assert set(counts["filter"]) == set(range(4)) and (counts["occurrences"] <= 3).all()

    result = visualize(adapter, "conv_a", range(4), SIZE, Settings(steps=20, lr=0.05, batch_size=4), progress=False)
    assert result.images.shape == (4, SIZE, SIZE, 3)
    assert (result.end > result.start + 0.1).all(), (result.start, result.end)


# -- weights, for the model-parameter randomization test ------------------------------------------


def _outputs(adapter: KerasAdapter, x: np.ndarray) -> list[np.ndarray]:
    return [adapter.scores(x), *adapter.gradcam_parts(x, "conv_b", class_index=1)]


def test_parameter_layers_and_their_weights():
    model = _tiny(3)
    adapter = KerasAdapter(model)
    assert adapter.parameter_layers() == ["conv_a", "conv_b", "logits"]  # not the input, tanh nor pooling
    weights = adapter.layer_weights("conv_a")
    assert [a.shape for a in weights] == [(3, 3, 3, 4), (4,)]
    np.testing.assert_array_equal(weights[0], model.get_layer("conv_a").kernel.numpy())
    weights[0][...] = 0.0  # a copy: the model keeps its weights
    assert np.abs(model.get_layer("conv_a").kernel.numpy()).sum() > 0

    images = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(2, 3, name="conv")(images)
    x = keras.layers.BatchNormalization(name="norm")(x)
    x = keras.layers.Dropout(0.5, name="drop")(keras.layers.GlobalAveragePooling2D(name="pool")(x))
    normed = KerasAdapter(keras.Model(images, keras.layers.Dense(1, name="out")(x)))
    assert normed.parameter_layers() == ["conv", "norm", "out"]  # dropout's seed state is no weight
    assert [a.shape for a in normed.layer_weights("norm")] == [(2,)] * 4  # gamma, beta, moving mean and variance


def test_set_layer_weights_reaches_the_traced_functions_without_a_retrace(images):
    model = _tiny(3)
    adapter = KerasAdapter(model)
    before = _outputs(adapter, images)
    traces = [
        adapter._scores.experimental_get_tracing_count(),
        adapter._traced[("gradcam", "conv_b")].experimental_get_tracing_count(),
    ]
    # conv_a moves the scores and conv_b's activations; the logits layer moves the gradients at conv_b
    originals = {layer: adapter.layer_weights(layer) for layer in ("conv_a", "logits")}
    kernel, bias = originals["conv_a"]
    adapter.set_layer_weights("conv_a", [kernel[..., ::-1], bias + 0.5])  # reversed: not C-contiguous
    np.testing.assert_array_equal(model.get_layer("conv_a").kernel.numpy(), kernel[..., ::-1])
    adapter.set_layer_weights("logits", [a * -2 for a in originals["logits"]])
    changed = _outputs(adapter, images)
    ref = _numpy_forward(model, images)
    np.testing.assert_allclose(changed[0], ref["logits"], atol=1e-5)
    np.testing.assert_allclose(changed[1], ref["conv_b"].transpose(0, 3, 1, 2), atol=1e-5)
    for got, old in zip(changed, before):
        assert not np.allclose(got, old)
    for layer, arrays in originals.items():
        adapter.set_layer_weights(layer, arrays)
    for got, expected in zip(_outputs(adapter, images), before):
        np.testing.assert_array_equal(got, expected)
    assert traces == [
        adapter._scores.experimental_get_tracing_count(),
        adapter._traced[("gradcam", "conv_b")].experimental_get_tracing_count(),
    ]


def test_set_layer_weights_refuses_other_shapes_dtypes_and_layers():
    model = _tiny(1)
    adapter = KerasAdapter(model)
    kernel, bias = adapter.layer_weights("logits")
    for arrays, message in [
        ([kernel.T, bias], r"weight 0 is float32 \(3, 1\)"),
        ([kernel * 0, bias.astype(np.float64)], "weight 1 is float32"),
        ([kernel * 0, bias, bias], "holds 2 weight arrays, got 3"),
    ]:
        with pytest.raises(ValueError, match=message):
            adapter.set_layer_weights("logits", arrays)
    np.testing.assert_array_equal(model.get_layer("logits").kernel.numpy(), kernel)  # nothing written half-way
    for layer in ("conv_z", "pool"):  # pool is a layer, but holds no weights
        with pytest.raises(ConfigError, match="not a parameter layer.*3 parameter layers"):
            adapter.layer_weights(layer)
        with pytest.raises(ConfigError, match="not a parameter layer"):
            adapter.set_layer_weights(layer, [])


def test_randomized_cascade_through_the_keras_adapter(images):
    from medinterp.interpret.randomization import cascading

    adapter = KerasAdapter(_tiny(3))
    before = _outputs(adapter, images)
    with cascading(adapter, seed=0) as randomize:
        assert randomize(2) == ["logits", "conv_b"]
        assert not np.allclose(adapter.scores(images), before[0])
    for got, expected in zip(_outputs(adapter, images), before):
        np.testing.assert_array_equal(got, expected)
