"""Keras backbones from the registry: layers the methods need, input scaling, and every weights path offline."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.models.keras.build import (
    InputScaling,
    build_backbone,
    imagenet_file_name,
    keras_cache,
    set_batchnorm_momentum,
)

PAPER = ("nasnet_mobile", "densenet201", "mobilenet_v2")


@pytest.mark.parametrize("name", PAPER)
def test_registry_layers_exist_with_feature_maps(name):
    spec = registry.get(name, "keras")
    model, used = build_backbone(spec, 32)
    assert used == "random" and model.input_shape == (None, 32, 32, 3)
    for layer in {spec.gradcam_layer, spec.first_conv_layer, spec.last_conv_layer, "output"}:
        assert len(model.get_layer(layer).output.shape) == 4, layer
    assert model.get_layer(spec.gradcam_layer).output.shape == model.output.shape


@pytest.mark.parametrize(
    "mode, reference",
    [
        ("tf", keras.applications.mobilenet_v2.preprocess_input),
        ("torch", keras.applications.densenet.preprocess_input),
        ("caffe", keras.applications.resnet50.preprocess_input),
    ],
)
def test_input_scaling_matches_keras_preprocess_input(mode, reference):
    x = np.random.default_rng(0).random((2, 5, 5, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(InputScaling(mode)(x)), reference(x * 255.0), atol=1e-4)


def test_mobilenet_imagenet_file_follows_the_input_size():
    spec = registry.get("mobilenet_v2", "keras")
    assert imagenet_file_name(spec, 128) == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_128_no_top.h5"
    assert imagenet_file_name(spec, 64).endswith("_1.0_224_no_top.h5")
    assert (
        imagenet_file_name(registry.get("densenet201", "keras"), 64)
        == registry.get("densenet201", "keras").imagenet_weights
    )


def test_imagenet_offline_names_the_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    spec = registry.get("densenet201", "keras")
    expected = tmp_path / "models" / spec.imagenet_weights
    assert keras_cache() == tmp_path / "models"
    with pytest.raises(ConfigError, match=str(expected).replace(".", r"\.") + ".*cannot be downloaded offline"):
        build_backbone(spec, 32, "imagenet")


def _perturbed(spec, size):
    model, _ = build_backbone(spec, size)
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(0, 0.01, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def _same_weights(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def test_local_weights_file_is_loaded(tmp_path):
    spec = registry.get("mobilenet_v2", "keras")
    source = _perturbed(spec, 32)
    path = tmp_path / "mine.weights.h5"
    source.save_weights(str(path))
    loaded, used = build_backbone(spec, 32, str(path))
    assert used == str(path) and _same_weights(source, loaded)


def test_folder_with_keras_imagenet_file_is_loaded(tmp_path):
    """A file in Keras's own (legacy HDF5) format under Keras's name, as the real ImageNet file is."""
    from keras.src.legacy.saving import legacy_h5_format

    spec = registry.get("mobilenet_v2", "keras")
    source = _perturbed(spec, 32)
    with h5py.File(tmp_path / imagenet_file_name(spec, 32), "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, source)
    loaded, used = build_backbone(spec, 32, str(tmp_path))
    assert used == str(tmp_path / imagenet_file_name(spec, 32)) and _same_weights(source, loaded)


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_missing_or_foreign_weights_file_is_refused(tmp_path):
    spec = registry.get("mobilenet_v2", "keras")
    with pytest.raises(ConfigError, match="weights file not found"):
        build_backbone(spec, 32, str(tmp_path / "absent.weights.h5"))
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense_x")])
    other.save_weights(str(tmp_path / "other.weights.h5"))
    with pytest.raises(ConfigError, match="not weights of keras.applications.MobileNetV2"):
        build_backbone(spec, 32, str(tmp_path / "other.weights.h5"))


def test_batchnorm_momentum_is_set_or_kept():
    model, _ = build_backbone(registry.get("mobilenet_v2", "keras"), 32)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    set_batchnorm_momentum(model, None)
    assert {n.momentum for n in norms} == {0.999}
    set_batchnorm_momentum(model, 0.5)
    assert {n.momentum for n in norms} == {0.5}


def test_torch_spec_is_refused():
    with pytest.raises(ConfigError, match="not a keras.applications backbone"):
        build_backbone(registry.get("alexnet"), 32)
