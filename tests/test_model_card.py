"""The model card every exported model carries (``export.metadata``, schema 3), like a MONAI bundle's
metadata.json: version, intended use, licences, data source, input and output format; built by the
functions the export stages call, checked by ``validate``, the same inside the ONNX file and in the
sidecar, and printed by ``medinterp card``."""

from __future__ import annotations

import json

import onnx
import pytest
from onnx import TensorProto, helper

from medinterp.cli import main
from medinterp.export import metadata
from medinterp.models.torch.transforms import IMAGENET_MEAN, IMAGENET_STD

CARD_TYPES = {
    "version": str,
    "description": str,
    "intended_use": str,
    "license": dict,
    "data_source": dict,
    "data_type": str,
    "references": list,
    "network_data_format": dict,
}


def paper_cards() -> tuple[dict, dict]:
    """A paper classifier's and a paper encoder's metadata, as the paper stages make them."""
    from medinterp import registry
    from medinterp.paper.artifacts import onnx_metadata

    spec = registry.get("mobilenet_v2", "keras")
    framework = metadata.framework_info("keras", "3.0 (tensorflow 2.21)")
    params = {"seed": 0, "paper": {"classifier": {"head_units": 8, "dropout": 0.5}}}
    classifier = onnx_metadata(
        spec, "classifier", "vanilla", 32, "random", {"val_auc": 0.5}, params, framework, {"medinterp": "test"}
    )
    encoder = onnx_metadata(spec, "encoder", "random", 32, "random", {}, params, framework, {"medinterp": "test"})
    return classifier, encoder


def isic_card(task: str = "binary", profile: str = "sample", **info_changes) -> dict:
    """An ISIC classifier's metadata, as ``isic_export`` makes it through ``for_checkpoint``."""
    multiclass = task == "multiclass"
    info = {
        "architecture": "alexnet",
        "family": "torch",
        "task": task,
        "image_size": 32,
        "init_used": "random",
        "class_names": ["MEL", "NV", "BCC"] if multiclass else ["benign", "malignant"],
        "num_outputs": 3 if multiclass else 1,
        "normalisation": {"layout": "NCHW", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        **info_changes,
    }
    return metadata.for_checkpoint(
        info,
        name=f"isic-{task}-alexnet",
        dataset=f"isic_{task}",
        split="splits/isic_binary.csv folds 0-3",
        metrics={"test_auc": 0.5},
        params={"model": "alexnet", "seed": 0, "data.profile": profile},
        framework=metadata.framework_info("torch", "2.13.0"),
        provenance={"medinterp": "test"},
    )


def _tiny_onnx(path, input_shape, output_name, output_shape):
    """An ONNX graph from ``input`` to ``output_name``; only its signature matters to the card."""
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)
    y = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, output_shape)
    graph = helper.make_graph([helper.make_node("Identity", ["input"], [output_name])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _check_types(card: dict) -> None:
    for key, kind in CARD_TYPES.items():
        assert isinstance(card[key], kind), key
    assert card["schema"] == metadata.SCHEMA_VERSION == 3
    assert card["version"].startswith(metadata.package_version() + "+") and len(card["version"].split("+")[1]) == 12
    assert "not for diagnosis" in card["intended_use"] and "interpretability" in card["intended_use"]
    assert isinstance(card["license"]["model"], str) and card["license"]["data"]
    for source in card["data_source"]["datasets"]:
        assert {"name", "url", "citation", "license"} <= set(source) and source["url"].startswith("https://")
        assert source["license"] == f"see {source['url']}"  # no source states a licence; the card says where to look
    assert card["references"] == [s["citation"] for s in card["data_source"]["datasets"]]
    image = card["network_data_format"]["inputs"][card["input"]["name"]]
    assert image["num_channels"] == 3 and image["channel_def"] == {"0": "red", "1": "green", "2": "blue"}
    assert image["dtype"] == "float32" and image["shape"] == card["input"]["shape"] and not image["is_patch_data"]


def test_paper_cards_say_what_the_model_is_and_how_to_run_it():
    classifier, encoder = paper_cards()
    for card in (classifier, encoder):
        _check_types(card)
        assert card["data_type"] == "png (8-bit RGB)" and card["data_source"]["datasets"][0]["key"] == "breakhis"
        assert "Spanhol" in card["references"][0]
        # params without data.profile (the stages record it; these hand-made ones do not): the card says so, no guess
        assert card["data_source"]["profile"] is None and card["data_source"]["synthetic"] is None
        assert "not recorded" in card["data_source"]["summary"]
    image = classifier["network_data_format"]["inputs"]["input"]
    assert image["layout"] == "NHWC" and image["spatial_shape"] == [32, 32] and image["value_range"] == [0.0, 1.0]
    assert image["normalisation"] is None and image["modality"] == "histopathology"
    logit = classifier["network_data_format"]["outputs"]["logit"]
    assert (
        logit["shape"] == [None, 1] and logit["activation"] == "sigmoid" and logit["channel_def"] == {"0": "malignant"}
    )
    assert "P(malignant)" in logit["meaning"] and "1 - P(malignant)" in logit["meaning"]
    features = encoder["network_data_format"]["outputs"]["features"]
    assert (
        features["type"] == "features" and features["channel_def"] is None and features["shape"] is None
    )  # until attach
    assert classifier["version"] != encoder["version"]


def test_isic_cards_carry_the_sources_the_profile_and_normalisation():
    binary, multiclass = isic_card("binary"), isic_card("multiclass", profile="full")
    for card in (binary, multiclass):
        _check_types(card)
        assert card["data_type"] == "jpeg (8-bit RGB)"
    assert [s["key"] for s in binary["data_source"]["datasets"]] == ["isic2020", "isic2019", "isic2016"]
    assert binary["data_source"]["synthetic"] is True and "synthetic" in binary["data_source"]["summary"]
    assert multiclass["data_source"] == {**multiclass["data_source"], "profile": "full", "synthetic": False}
    assert list(multiclass["license"]["data"]) == ["isic2019"]
    image = binary["network_data_format"]["inputs"]["input"]
    assert image["layout"] == "NCHW" and image["normalisation"] == {
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
    }
    low, high = image["value_range"]  # the normalised tensor's range, over the three channels
    assert low == pytest.approx(-0.485 / 0.229, abs=1e-5) and high == pytest.approx((1 - 0.406) / 0.225, abs=1e-5)
    logits = multiclass["network_data_format"]["outputs"]["logits"]
    assert logits["shape"] == [None, 3] and logits["activation"] == "softmax"
    assert logits["channel_def"] == {"0": "MEL", "1": "NV", "2": "BCC"}
    imagenet = isic_card(init_used="imagenet")
    assert "imagenet" in imagenet["license"]["model"] and "imagenet" not in binary["license"]["model"]


def test_version_is_deterministic_and_follows_what_made_the_model():
    assert isic_card()["version"] == isic_card()["version"]
    assert isic_card()["version"] != isic_card(profile="full")["version"] != isic_card(image_size=64)["version"]
    assert metadata.data_profile({"data.profile": "full"}) == "full" and metadata.data_profile({}) is None


@pytest.mark.parametrize("key", sorted(CARD_TYPES))
def test_a_card_missing_a_field_is_refused(key):
    card = {k: v for k, v in isic_card().items() if k != key}
    with pytest.raises(metadata.MetadataError, match=f"missing '{key}'"):
        metadata.validate(card, "model.json")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"version": "0.1.0"}, "version '0.1.0' should be"),
        ({"license": {"model": "MIT"}}, "license should give"),
        ({"data_source": {"profile": "tiny", "synthetic": None, "datasets": []}}, "data_source should give 'profile'"),
        ({"data_source": {"profile": None, "synthetic": None, "datasets": [{"name": "x"}]}}, "data_source.datasets"),
        (
            {"network_data_format": {"inputs": {}, "outputs": {}}},
            "network_data_format.inputs does not describe 'input'",
        ),
        ({"intended_use": " "}, "'intended_use' is empty"),
        ({"references": "Spanhol 2016"}, "'references' should be list"),
        ({"schema": 2}, "schema 2 is not supported"),
    ],
)
def test_a_hand_edited_or_old_card_is_refused(change, message):
    with pytest.raises(metadata.MetadataError, match=message):
        metadata.validate({**isic_card(), **change}, "model.json")


def test_unknown_dataset_and_derived_fields_are_refused():
    info = {
        "architecture": "alexnet",
        "family": "torch",
        "task": "binary",
        "image_size": 32,
        "init_used": "random",
        "class_names": ["benign", "malignant"],
        "num_outputs": 1,
        "normalisation": {"layout": "NCHW", "mean": None, "std": None},
    }
    fields = dict(
        name="x",
        split="all",
        metrics={},
        params={},
        framework=metadata.framework_info("torch", "2.13.0"),
        provenance={},
    )
    with pytest.raises(
        metadata.MetadataError,
        match=r"dataset 'isic2018' is not one of \('breakhis', 'isic_binary', 'isic_multiclass'\)",
    ):
        metadata.for_checkpoint(info, dataset="isic2018", **fields)
    card = isic_card()
    with pytest.raises(metadata.MetadataError, match=r"\['version'\] are derived by make\(\)"):
        metadata.make(**{k: v for k, v in card.items() if k not in set(CARD_TYPES) - {"version"} | {"schema"}})


def test_the_card_inside_the_onnx_file_equals_the_sidecar(tmp_path):
    path = tmp_path / "model.onnx"
    _tiny_onnx(path, [None, 3, 32, 32], "logits", [None, 3, 32, 32])
    card = isic_card()
    metadata.attach(path, card)
    inside = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert (
        json.loads(inside[metadata.METADATA_KEY])
        == json.loads(metadata.sidecar_path(path).read_text())
        == card
        == metadata.read(path)
    )


def test_attach_records_the_feature_map_shape_the_graph_has(tmp_path):
    _, encoder = paper_cards()
    path = tmp_path / "encoder.onnx"
    _tiny_onnx(path, ["batch", 32, 32, 3], "features", ["batch", 1, 1, 1280])
    metadata.attach(path, encoder)
    features = metadata.read(path)["network_data_format"]["outputs"]["features"]
    assert features["shape"] == [None, 1, 1, 1280] and features["num_channels"] == 1280
    assert json.loads(metadata.sidecar_path(path).read_text()) == metadata.read(path)


def test_card_command_prints_markdown_and_json(tmp_path, capsys):
    path = tmp_path / "model.onnx"
    _tiny_onnx(path, [None, 3, 32, 32], "logits", [None, 1])
    metadata.attach(path, isic_card())
    assert main(["card", str(path)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# isic-binary-alexnet\n") and "## Intended use" in text and "not for diagnosis" in text
    assert '| `logits` | `[null, 1]` | `"float32"` | `"sigmoid"` | `{"0": "malignant"}` |' in text
    assert "Rotemberg" in text and "synthetic: true" in text
    assert main(["card", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == metadata.read(path)


def test_card_command_refuses_a_missing_model_or_an_old_card(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["card", "nope.onnx"]) == 2
    assert capsys.readouterr().err.strip() == "error: model nope.onnx: model file not found"
    path = tmp_path / "old.onnx"
    _tiny_onnx(path, [None, 3, 32, 32], "logits", [None, 1])
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = metadata.METADATA_KEY, json.dumps({**isic_card(), "schema": 2})
    onnx.save(model, str(path))
    assert main(["card", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "schema 2 is not supported (expected 3)" in err and len(err.splitlines()) == 1
