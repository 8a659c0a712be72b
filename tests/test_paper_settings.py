"""The paper's settings: Table 1 from the registry, the profiles, and which variants are one run."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from medinterp import params
from medinterp.errors import ConfigError

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


def from_params(raw, backbone):
    spec, settings = params.validate(raw).paper_for(backbone)
    return spec, settings, raw["seed"]


def _params(**paper):
    raw = copy.deepcopy(PARAMS)
    raw["paper"].update(paper)
    return raw


def test_full_profile_carries_table_1():
    raw = _params()
    raw["data"]["profile"] = "full"
    for name, ae_epochs in (("nasnet_mobile", 50), ("densenet201", 70), ("mobilenet_v2", 70)):
        _, s, _ = from_params(raw, name)
        assert (s.image_size, s.weights, s.batchnorm_momentum) == (128, "imagenet", None)
        assert (s.autoencoder.epochs, s.autoencoder.optimizer, s.autoencoder.learning_rate) == (ae_epochs, "adam", 1e-3)
        assert (s.classifier.epochs, s.classifier.optimizer, s.classifier.learning_rate) == (100, "sgd", 1e-4)
        assert s.evaluate.image_size == 128


def test_sample_profile_is_small_and_offline():
    spec, s, seed = from_params(_params(), "densenet201")
    assert (s.image_size, s.weights, s.batch_size) == (64, "random", 16)
    assert s.evaluate.gradcam_layer == spec.gradcam_layer == "relu" and s.evaluate.points == ["tumor"]
    assert from_params(_params(image_size=96), "densenet201")[1].image_size == 96


def test_variants_that_start_alike_are_one_run():
    _, sample, _ = from_params(_params(), "nasnet_mobile")
    assert sample.encoder_tags() == ["random"]
    assert sample.runs() == {
        "vanilla": "vanilla",
        "encoder-imagenet": "encoder-random",
        "encoder-random": "encoder-random",
    }
    _, real, _ = from_params(_params(weights="imagenet"), "nasnet_mobile")
    assert real.encoder_tags() == ["imagenet", "random"]
    assert real.runs() == {v: v for v in ("vanilla", "encoder-imagenet", "encoder-random")}
    _, local, _ = from_params(_params(weights="/weights/dir"), "nasnet_mobile")
    assert local.init_for("imagenet") == "/weights/dir" and local.init_for("random") == "random"
    _, only, _ = from_params(_params(variants=["encoder-imagenet"]), "nasnet_mobile")
    assert only.runs() == {"encoder-imagenet": "encoder-imagenet"} and only.encoder_tags() == ["random"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"variants": ["vanilla", "pretrained"]}, "paper.variants"),
        ({"classifier": {**PARAMS["paper"]["classifier"], "monitor": "accuracy"}}, "monitor"),
        ({"evaluate": {**PARAMS["paper"]["evaluate"], "points": ["tumour"]}}, "paper.evaluate.points"),
        ({"evaluate": {**PARAMS["paper"]["evaluate"], "constant_heatmap": "drop"}}, "constant_heatmap"),
        ({"batch_size": 1}, "paper.batch_size is 1"),
    ],
)
def test_bad_settings_are_refused(change, message):
    with pytest.raises(ConfigError, match=message):
        from_params(_params(**change), "densenet201")


def test_backbone_must_be_listed_and_keras():
    with pytest.raises(ConfigError, match="not in paper.backbones"):
        from_params(_params(), "vgg16")
    assert from_params(_params(backbones=["vgg16"]), "vgg16")[0].family == "keras"
