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
            a[:, i, j] = np.einsum("nklc,klcf->nf", x[:, i:i + 3, j:j + 3], wa) + ba
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


def test_bad_layers_and_inputs_are_refused(images):
    adapter = KerasAdapter(_tiny(1))
    with pytest.raises(ConfigError, match="not a layer.*conv_a"):
        adapter.activations(images, "conv_z")
    with pytest.raises(ConfigError, match=r"\(N, h, w, C\)"):
        adapter.activations(images, "pool")
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
