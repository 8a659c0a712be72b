"""The paper's method on torchvision backbones: the shared decoder rule, the torch networks, their
training, ONNX export and Grad-CAM through the same Table 2 code, and the three stages end to end."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import split_params
from skimage.filters import threshold_otsu
from torch import nn

from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.export import metadata
from medinterp.models.decoder import decoder_widths
from medinterp.models.torch.paper_networks import PaperEncoder, PaperNetworks, eager_runner
from medinterp.paper import artifacts
from medinterp.paper.evaluate import evaluate
from medinterp.paper.networks import networks_for
from medinterp.training.resume import SeededBatches

NETS = PaperNetworks()
MOBILENET = registry.get("mobilenet_v2", "torch")


def _encoder(size: int = 32) -> PaperEncoder:
    NETS.configure(0)
    return NETS.build_encoder(MOBILENET, size)[0]


def test_decoder_rule():
    assert decoder_widths("x", 128, 4, 256) == [256, 128, 64, 32, 16]
    assert decoder_widths("x", 64, 1, 64) == [64, 32, 16, 16, 16, 16]  # never below 16
    with pytest.raises(ConfigError, match=r"^alexnet maps 128px to a 3px feature map, not a power-of-two") as error:
        decoder_widths("alexnet", 128, 3, 256)
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="maps 32px to a 32px"):  # no reduction at all
        decoder_widths("x", 32, 32, 256)


def test_both_families_build_the_same_decoder():
    """A stride-8 encoder at 32 px: three up-steps, 64 -> 32 -> 16 filters, in Keras and in torch."""
    import keras

    from medinterp.models.keras.paper_networks import build_autoencoder

    images = keras.Input((32, 32, 3))
    keras_model = build_autoencoder(
        keras.Model(images, keras.layers.Conv2D(8, 3, strides=8, name="enc")(images)), filters=64
    )
    keras_widths = [layer.filters for layer in keras_model.layers if layer.name.startswith("decoder_up")]
    torch_model = NETS.build_autoencoder(PaperEncoder({"enc": nn.Conv2d(3, 8, 3, stride=8, padding=1)}, "tiny", 32), 64)
    torch_widths = [m.out_channels for n, m in torch_model.named_children() if n.startswith("decoder_up")]
    assert keras_widths == torch_widths == [64, 32, 16]
    assert torch_model(torch.rand(2, 32, 32, 3)).shape == (2, 32, 32, 3)


def test_a_reduction_that_is_not_a_power_of_two_is_refused():
    encoder = PaperEncoder({"features": nn.Conv2d(3, 4, 3, stride=3)}, "odd_net", 30)  # 30 px -> 10 px
    with pytest.raises(ConfigError, match=r"^odd_net maps 30px to a 10px feature map"):
        NETS.build_autoencoder(encoder, 64)


def test_every_torch_backbone_keeps_torchvision_names():
    """On the meta device (shapes only, no weights drawn): each registered torchvision model gives
    an encoder, autoencoder and classifier at 64 px in which the registry's layer names are modules."""
    with torch.device("meta"):
        for name in registry.names("torch"):
            spec = registry.get(name, "torch")
            encoder, _ = NETS.build_encoder(spec, 64)
            classifier = NETS.build_classifier(encoder, 8, 0.5)
            modules = dict(classifier.named_modules())
            assert {spec.gradcam_layer, spec.first_conv_layer, spec.last_conv_layer} <= set(modules), name
            assert (
                modules[spec.gradcam_layer] is dict(encoder.named_modules())[spec.gradcam_layer]
            )  # shared, not copied
            assert NETS.build_autoencoder(encoder, 256)(torch.zeros(1, 64, 64, 3)).shape == (1, 64, 64, 3)
            assert classifier(torch.zeros(2, 96, 96, 3)).shape == (2, 1)  # any input size


def test_autoencoder_and_classifier_train_on_tiny_images():
    encoder = _encoder()
    NETS.set_batchnorm_momentum(encoder, 0.9)
    momenta = [m.momentum for m in encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    assert momenta and all(m == pytest.approx(0.1) for m in momenta)  # Keras's 0.9: keep 90% of the old statistics
    rng = np.random.default_rng(0)
    x = rng.random((10, 32, 32, 3)).astype(np.float32)
    y = (np.arange(10) % 2).reshape(-1, 1).astype(np.float32)

    def batches(epoch):
        return [(x[:4], x[:4]), (x[4:8], x[4:8]), (x[8:9], x[8:9])]  # a lone last image is skipped

    autoencoder = NETS.build_autoencoder(encoder, 32)
    trainer = NETS.trainable(autoencoder, NETS.reconstruction_loss(), "adam", 1e-3, x[:4], x[:4], 4)
    trainer.restart(batches)
    before = NETS.get_weights(encoder)
    loss = trainer.train_epoch(1)["loss"]
    assert 0 < loss < 1 and trainer.evaluate()["loss"] > 0
    after = NETS.get_weights(encoder)
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the encoder trained with its autoencoder
    reconstruction = trainer.predict(x[:3])
    assert reconstruction.shape == (3, 32, 32, 3) and 0 <= reconstruction.min() and reconstruction.max() <= 1

    classifier = NETS.build_classifier(encoder, 16, 0.5)
    initial = NETS.get_weights(classifier)

    def metrics(labels, logits):
        return {"accuracy": float(((logits > 0) == (labels > 0.5)).mean())}

    trainer = NETS.trainable(classifier, NETS.classification_loss(), "sgd", 0.01, x, y, 4, metrics)
    trainer.restart(lambda epoch: [(x[:5], y[:5]), (x[5:], y[5:])])
    assert trainer.train_epoch(1)["loss"] > 0 and set(trainer.evaluate()) == {"loss", "accuracy"}
    NETS.set_weights(classifier, initial)
    assert all(torch.equal(initial[k], v) for k, v in classifier.state_dict().items())


def test_training_state_continues_bit_identically_in_a_fresh_trainer():
    """Two epochs in one go equal one epoch, the state pickled into a freshly built network, one more:
    weights, Adam's moments, the batch generator (shuffling, dropout-free here) and torch's stream."""
    images = np.random.default_rng(1).random((12, 32, 32, 3)).astype(np.float32)
    labels = (np.arange(12) % 2).reshape(-1, 1).astype(np.float32)

    def trainer():
        NETS.configure(0)
        classifier = NETS.build_classifier(_encoder(), 16, 0.5)
        run = NETS.trainable(classifier, NETS.classification_loss(), "adam", 1e-3, images, labels, 4)

        def order(epoch, rng):
            return [(images[i], labels[i]) for i in np.array_split(rng.permutation(12), 3)]

        run.restart(SeededBatches(np.random.default_rng(7), order))
        return run

    straight = trainer()
    straight.train_epoch(1)
    straight.train_epoch(2)
    first = trainer()
    first.train_epoch(1)
    saved = pickle.dumps(first.training_state())
    second = trainer()
    second.set_training_state(pickle.loads(saved))
    second.train_epoch(2)
    assert all(torch.equal(v, second.get_state()[k]) for k, v in straight.get_state().items())
    with pytest.raises(RuntimeError, match="Missing key"):  # a state of another network is refused
        second.set_training_state({"model": {}})


def test_weights_files_round_trip_and_refuse_what_does_not_fit(tmp_path):
    encoder = _encoder()
    NETS.save_weights(encoder, tmp_path / "encoder.npz")
    NETS.save_weights(encoder, tmp_path / "again.npz")
    assert (tmp_path / "encoder.npz").read_bytes() == (tmp_path / "again.npz").read_bytes()  # one DVC hash per weights
    other = _encoder()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    NETS.load_weights(other, tmp_path / "encoder.npz")
    assert all(torch.equal(a, b) for a, b in zip(encoder.state_dict().values(), other.state_dict().values()))
    with pytest.raises(ConfigError, match="do not fit this network"):
        NETS.load_weights(NETS.build_classifier(other, 8, 0.5), tmp_path / "encoder.npz")
    with pytest.raises(ConfigError, match="checkpoint not found"):
        NETS.load_weights(other, tmp_path / "missing.npz")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="broken.npz: not a readable weights file"):
        NETS.load_weights(other, tmp_path / "broken.npz")
    with pytest.raises(ValueError, match="must end with .npz"):
        NETS.save_weights(encoder, tmp_path / "encoder.weights.h5")
    # paper.weights may name a state dict file of torchvision's architecture
    torch.save(encoder.state_dict(), tmp_path / "state.pt")
    loaded, used = NETS.build_encoder(MOBILENET, 32, str(tmp_path / "state.pt"))
    assert used.startswith(f"file {tmp_path / 'state.pt'}")
    assert all(torch.equal(a, b) for a, b in zip(encoder.state_dict().values(), loaded.state_dict().values()))


def test_imagenet_weights_fail_offline_with_the_file_to_fetch(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(
        ConfigError, match=r"ImageNet weights for torch resnet50 .* need the file .*resnet50-.*\.pth.*paper\.weights"
    ):
        NETS.build_encoder(registry.get("resnet50", "torch"), 64, "imagenet")


def _meta(kind: str, size: int, params: dict) -> dict:
    return artifacts.onnx_metadata(
        MOBILENET, kind, "test", size, "random", {"val_loss": 0.5}, params, NETS.framework(), {"medinterp": "test"}
    )


def test_onnx_export_has_the_keras_files_interface_and_parity(tmp_path):
    import onnxruntime as ort

    encoder = _encoder()
    classifier = NETS.build_classifier(encoder, 16, 0.5)
    x = NETS.resize(
        np.random.default_rng(1).random((5, 32, 32, 3)).astype(np.float32), 48
    )  # exported at Table 2's size
    params = {"paper": {"classifier": {"head_units": 16, "dropout": 0.5}}}
    record, measured = NETS.exporter(classifier, "logit").export(
        tmp_path / "vanilla.onnx", _meta("classifier", 48, params), x, 1e-4
    )
    assert record == {"samples": 5, "tolerance": 1e-4, "within_tolerance": True} and measured["max_abs_diff"] < 1e-4
    meta = metadata.read(tmp_path / "vanilla.onnx")
    assert meta["family"] == "torch" and meta["framework"]["name"] == "torch" and meta["input"]["layout"] == "NHWC"
    assert meta["metrics"]["onnx_parity"] == record
    session = ort.InferenceSession(str(tmp_path / "vanilla.onnx"), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape[1:]) for i in session.get_inputs()] == [("input", [48, 48, 3])]
    assert [o.name for o in session.get_outputs()] == ["logit"]
    # the eager forward pass of the weights beside the file gives what ONNX Runtime gives
    NETS.save_weights(classifier, tmp_path / "vanilla.npz")
    run, framework = eager_runner(tmp_path / "vanilla.onnx", meta)
    np.testing.assert_allclose(run(x), session.run(None, {"input": x})[0], atol=1e-4)
    assert framework["name"] == "torch"

    record, _ = NETS.exporter(encoder, "features").export(
        tmp_path / "encoder.onnx", _meta("encoder", 32, {}), x[:, :32, :32], 1e-4
    )
    features = ort.InferenceSession(str(tmp_path / "encoder.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"input": x[:2, :32, :32]}
    )[0]
    assert features.shape == (2, 1, 1, 1280)  # NHWC, as the Keras encoders' files
    with pytest.raises(RuntimeError, match="differ by up to"):
        NETS.exporter(encoder, "features").export(
            tmp_path / "refused.onnx", _meta("encoder", 32, {}), x[:, :32, :32], -1.0
        )


class _RedChannel(nn.Module):
    """Undoes the encoder's ImageNet normalisation of the red channel: output = red value in [0, 1]."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0] = 0.229  # ImageNet's red std
            self.conv.bias.fill_(0.485)  # and mean

    def forward(self, x):
        return self.conv(x)


def test_gradcam_of_a_hand_built_torch_network_gives_the_ira_by_hand():
    """Encoder ``features`` = red channel averaged over 4 x 4 blocks of an 8 x 8 image (a 2 x 2 map
    A); head: mean pool -> dense 1 (weight 1) -> ReLU -> logit (weight 1, bias -0.1). For an image
    red on its left half, A = [[1, 0], [1, 0]], logit = 0.5 - 0.1 > 0 (malignant, correct), every
    gradient d logit / d A = 1/4, so the Grad-CAM map is A / 4: hot on the left half. Upsampled to
    40 x 20 it falls from 1 to 0 across the middle, so Otsu keeps about the left half: points at
    x = 0.1 are inside, at x = 0.9 outside. A black image has logit -0.1: misclassified, no IRA."""
    encoder = PaperEncoder({"features": nn.Sequential(_RedChannel(), nn.AvgPool2d(4))}, "hand_built", 8)
    classifier = NETS.build_classifier(encoder, 1, 0.5)
    with torch.no_grad():
        classifier.head_dense.weight.fill_(1.0)
        classifier.head_dense.bias.zero_()
        classifier.head_logit.weight.fill_(1.0)
        classifier.head_logit.bias.fill_(-0.1)
    images = np.zeros((3, 8, 8, 3), np.float32)
    images[0, :, :4, 0] = 1.0  # red left half
    images[1, :, 4:, 0] = 1.0  # red right half
    table = pd.DataFrame(
        {
            "image": ["left.tif", "right.tif", "black.tif"],
            "label": [1, 1, 1],
            "width": [40, 40, 40],
            "height": [20, 20, 20],
        }
    )
    left, right = [0.1, 0.5], [0.9, 0.5]
    points = [np.array([left, left, right]), np.array([left, right]), np.array([left])]
    adapter = NETS.adapter(classifier, 8)

    acts, grads, logits = adapter.gradcam_parts(images, "features", 1)
    np.testing.assert_allclose(acts[0, 0], [[1, 0], [1, 0]], atol=1e-6)
    np.testing.assert_allclose(grads[0, 0], np.full((2, 2), 0.25), atol=1e-6)
    np.testing.assert_allclose(logits, [0.4, 0.4, -0.1], atol=1e-6)

    result = evaluate(adapter, images, table, points, "features", "zero", keep_heatmaps={0})
    # bilinear with half-pixel centres: column j of 40 samples the 2-column map at (j + 0.5) / 20 - 0.5
    by_hand = np.tile(np.clip(1.5 - (np.arange(40) + 0.5) / 20, 0.0, 1.0), (20, 1))
    np.testing.assert_allclose(result.heatmaps[0], by_hand, atol=1e-6)
    frame = result.per_image
    assert frame["correct"].tolist() == [True, True, False]
    assert frame.loc[0, "ira"] == pytest.approx(2 / 3) and frame.loc[1, "ira"] == pytest.approx(1 / 2)
    assert pd.isna(frame.loc[2, "ira"])
    assert result.summary["accuracy"] == pytest.approx(2 / 3)
    assert result.summary["ira"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert result.summary["irm"] == pytest.approx((2 / 3 + 1 / 2) / 2) and result.summary["sd_ira"] == pytest.approx(
        1 / 12
    )
    # Otsu's 256 bins put the threshold just below the middle column's 0.475: 21 of 40 columns
    assert (
        result.summary["mask_area"]
        == pytest.approx((by_hand > threshold_otsu(by_hand)).mean())
        == pytest.approx(21 / 40)
    )


BACKBONE = "torch-mobilenet_v2"


@pytest.fixture(scope="module")
def torch_pipeline(tiny_data, tmp_path_factory):
    """split, prepare and the three paper stages for torch MobileNetV2 (32 px training, 64 px
    evaluation, one epoch), ``paper.weights`` a torchvision state dict the test makes (so the
    three variants are three runs). ``paper_evaluate`` runs as DVC runs it, a process of its own,
    which reports the frameworks it imported."""
    from medinterp.stages import paper_autoencoder, paper_classifier, prepare, split

    work = tmp_path_factory.mktemp("paper_torch")
    torch.manual_seed(5)
    weights = work / "pretrained.pt"
    torch.save(NETS.build_encoder(MOBILENET, 32)[0].state_dict(), weights)
    params = split_params(
        tiny_data,
        **{
            "paper.backbones": [BACKBONE],
            "paper.weights": str(weights),
            "paper.image_size": 32,
            "paper.evaluate.image_size": 64,
            "paper.evaluate.overlays": 1,
            "paper.autoencoder.epochs": 1,
            "paper.classifier.epochs": 1,
        },
    )
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    patch = pytest.MonkeyPatch()
    patch.chdir(work)
    try:
        split.main()
        prepare.main()
        for stage in (paper_autoencoder, paper_classifier):
            patch.setattr(sys, "argv", [stage.__name__, BACKBONE])
            stage.main()
    finally:
        patch.undo()
    evaluate_stage = (
        "import runpy, sys; runpy.run_module('medinterp.stages.paper_evaluate', run_name='__main__'); "
        "print(sorted(m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", evaluate_stage], capture_output=True, text=True, cwd=work)
    assert done.returncode == 0, done.stderr
    return work, str(weights), done.stdout.strip().splitlines()[-1]


def test_a_torch_paper_stage_imports_no_tensorflow(torch_pipeline):
    assert torch_pipeline[2] == "['torch']"


def test_torch_stages_end_to_end(torch_pipeline, tiny_data):
    from medinterp.inference.predict import predict

    work, weights, _ = torch_pipeline
    folder = work / "models/paper" / BACKBONE
    autoencoder = json.loads((work / "metrics/paper" / BACKBONE / "autoencoder.json").read_text())
    assert autoencoder["random"]["weights_used"] == "random" and autoencoder["imagenet"]["weights_used"].startswith(
        f"file {weights}"
    )
    assert (folder / "autoencoder/encoder-random.npz").is_file() and (
        folder / "autoencoder/encoder-imagenet.npz"
    ).is_file()
    assert metadata.read(folder / "autoencoder/encoder-random.onnx")["output"]["kind"] == "features"

    classifier = json.loads((work / "metrics/paper" / BACKBONE / "classifier.json").read_text())
    table = json.loads((work / "metrics/table2.json").read_text())
    frame = pd.read_csv(work / "splits/brecahad.csv")
    for variant in ("vanilla", "encoder-imagenet", "encoder-random"):
        assert classifier[variant]["same_run_as"] is None and classifier[variant]["onnx_parity"]["within_tolerance"]
        row = table[BACKBONE][variant]
        assert row["family"] == "torch" and row["images"] == len(frame)
        meta = metadata.read(folder / "classifier" / f"{variant}.onnx")
        assert meta["family"] == "torch" and meta["input"]["shape"] == [None, 64, 64, 3]
        # the artifact gives Table 2's probabilities, as the Keras ones do
        run = predict(
            folder / "classifier" / f"{variant}.onnx", [tiny_data / name for name in frame["image"]], batch_size=4
        )
        evaluated = pd.read_csv(work / "metrics/paper/ira" / BACKBONE / f"{variant}.csv").set_index("image")
        np.testing.assert_allclose(
            [p.probabilities[1] for p in run.predictions],
            evaluated.loc[frame["image"], "probability"].to_numpy(),
            atol=1e-4,
        )
    assert table["evaluation"][BACKBONE]["gradcam_layer"] == "features.18"
    assert (work / "plots/paper/overlays" / BACKBONE / "vanilla.png").is_file()


def test_networks_for_picks_the_family():
    assert networks_for(MOBILENET).family == "torch" and networks_for(MOBILENET).weights_suffix == ".npz"


def test_the_explanation_benchmark_runs_on_a_torch_backbone(torch_pipeline, monkeypatch):
    """``paper_explanations`` on the torch classifiers, in its transaction as DVC runs it: every
    method for every variant, the cascade over the torch parameter layers, and the ``gradcam`` row
    scoring Table 2's correctly classified images as Table 2 did. (It imports what ``paper_evaluate``
    imports of the networks, which the fixture shows to be torch alone.)"""
    from medinterp.interpret.randomization import cascade_counts
    from medinterp.params import EXPLANATION_METHODS
    from medinterp.stages import paper_explanations, run

    work, _, _ = torch_pipeline
    monkeypatch.chdir(work)
    raw = yaml.safe_load((work / "params.yaml").read_text())
    raw["explanations"].update(images_from="all", images=2, figure_images=1)
    raw["explanations"]["scorecam"]["channels"] = 4
    raw["explanations"]["randomization"].update(steps=2, images=1)
    (work / "params.yaml").write_text(yaml.safe_dump(raw))
    run(paper_explanations.main)

    found = json.loads((work / "metrics/explanations.json").read_text())[BACKBONE]
    randomization = json.loads((work / "metrics/randomization.json").read_text())[BACKBONE]
    torch_layers = len(
        NETS.adapter(NETS.build_classifier(NETS.build_encoder(MOBILENET, 64)[0], 256, 0.5), 64).parameter_layers()
    )
    for variant in ("vanilla", "encoder-imagenet", "encoder-random"):
        assert list(found[variant]) == list(EXPLANATION_METHODS) == list(randomization[variant])
        steps = randomization[variant]["random"]["steps"]
        assert [s["layers_randomized"] for s in steps.values()] == [0, *cascade_counts(torch_layers, 2)]
        assert randomization[variant]["random"]["fails"] is True
        per_image = pd.read_csv(work / "metrics/paper/explanations" / BACKBONE / f"{variant}.csv")
        gradcam = per_image[per_image["method"] == "gradcam"].set_index("image")["ira"]
        table2 = pd.read_csv(work / "metrics/paper/ira" / BACKBONE / f"{variant}.csv")
        for _, row in table2.head(2).iterrows():
            if row["correct"]:
                assert gradcam[Path(row["image"]).name] == pytest.approx(row["ira"], rel=1e-9)
