"""The model registry and how a stage's settings are resolved from registry, profile and params."""

from __future__ import annotations

import pytest

from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.settings import merge, resolve


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


def test_merge_skips_nulls_and_merges_nested():
    base = {"a": 1, "b": {"c": 2, "d": 3}}
    assert merge(base, {"a": None, "b": {"c": 5, "d": None}, "e": [1]}) == {"a": 1, "b": {"c": 5, "d": 3}, "e": [1]}
    assert base == {"a": 1, "b": {"c": 2, "d": 3}}


def _params(profile="sample", epochs=None):
    return {
        "data": {"profile": profile},
        "profiles": {"sample": {"paper": {"image_size": 64, "autoencoder": {"epochs": 3}}}, "full": {"paper": {"image_size": 128}}},
        "paper": {"image_size": None, "autoencoder": {"epochs": epochs, "learning_rate": 0.001}},
    }


def test_resolve_layers_registry_profile_params():
    spec = registry.get("nasnet_mobile")
    full = resolve(_params("full"), "paper", spec)
    assert full["image_size"] == 128 and full["autoencoder"]["epochs"] == 50 and full["classifier"]["epochs"] == 100
    sample = resolve(_params("sample"), "paper", spec)
    assert sample["image_size"] == 64 and sample["autoencoder"] == {"epochs": 3, "learning_rate": 0.001, "optimizer": "adam"}
    assert resolve(_params("sample", epochs=7), "paper", spec)["autoencoder"]["epochs"] == 7
    assert resolve(_params("full"), "paper.autoencoder", spec) == {"epochs": 50, "learning_rate": 0.001, "optimizer": "adam"}


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ConfigError, match="data.profile is 'huge'"):
        resolve(_params("huge"), "paper")
