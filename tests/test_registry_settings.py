"""The model registry and how a stage's settings are resolved from registry, profile and params."""

from __future__ import annotations

import pytest

from medinterp import params, registry
from medinterp.errors import ConfigError


def test_every_name_of_both_seeds_is_registered():
    assert {"nasnet_mobile", "densenet201", "mobilenet_v2"} <= set(registry.names("keras"))
    assert {"alexnet", "vgg16", "resnet50", "densenet201", "mobilenet_v2"} <= set(registry.names("torch"))


def test_family_is_picked_and_can_be_overridden():
    assert registry.get("nasnet_mobile").family == "keras"
    assert registry.get("alexnet").family == "torch"
    assert registry.get("densenet201").family == "torch"
    assert registry.get("densenet201", "keras").constructor == "keras.applications.DenseNet201"
    with pytest.raises(ConfigError, match="only in the keras family"):
        registry.get("nasnet_mobile", "torch")
    with pytest.raises(ConfigError, match="not registered"):
        registry.get("inception_v3")
    with pytest.raises(ConfigError, match="family 'jax' is unknown"):
        registry.get("vgg16", "jax")


def test_seed_tables_are_the_registry_defaults():
    assert registry.get("nasnet_mobile").defaults["paper"]["autoencoder"]["epochs"] == 50
    assert registry.get("densenet201", "keras").defaults["paper"]["autoencoder"]["epochs"] == 70
    assert registry.get("mobilenet_v2", "keras").defaults["paper"]["classifier"]["epochs"] == 100
    assert registry.get("alexnet").defaults["isic"]["binary"] == {"epochs": 15, "batch_size": 32}
    assert registry.get("vgg16").defaults["isic"]["binary"] == {"epochs": 25, "batch_size": 64}


def _params(profile="sample", epochs=None):
    return {
        "data": {"profile": profile},
        "profiles": {
            "sample": {"paper": {"image_size": 64, "autoencoder": {"epochs": 3}}},
            "full": {"paper": {"image_size": 128}},
        },
        "paper": {
            "image_size": None,
            "weights": "random",
            "batch_size": 8,
            "autoencoder": {"epochs": epochs, "learning_rate": 0.001},
        },
    }


def _paper(raw):
    return params.validate(raw).paper_for("nasnet_mobile")[1]


def test_resolve_layers_registry_profile_params():
    full = _paper(_params("full"))
    assert full.image_size == 128 and full.autoencoder.epochs == 50 and full.classifier.epochs == 100
    sample = _paper(_params("sample"))
    assert sample.image_size == 64
    assert (sample.autoencoder.epochs, sample.autoencoder.learning_rate, sample.autoencoder.optimizer) == (
        3,
        0.001,
        "adam",
    )
    assert _paper(_params("sample", epochs=7)).autoencoder.epochs == 7


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ConfigError, match="data.profile is 'huge': should be 'sample' or 'full'"):
        _paper(_params("huge"))
