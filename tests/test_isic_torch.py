"""The torch family's parts: networks from the registry, initialisation, freezing, inputs, the
weighted loss, training through the shared loop, checkpoints and ONNX export."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
import torchvision
from conftest import THESIS_AUGMENT, tiny_task, tiny_task_settings
from torch import nn

from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.export import metadata
from medinterp.export.parity import run as onnx_run
from medinterp.models.torch.build import build, imagenet_file
from medinterp.models.torch.checkpoint import load_checkpoint
from medinterp.models.torch.data import training_batches
from medinterp.models.torch.export import FixedSizeAdaptiveAvgPool2d, export_checked, export_checkpoint, exportable
from medinterp.models.torch.isic_classifier import train_classifier
from medinterp.models.torch.train import TorchTrainable, predict_logits, weighted_loss
from medinterp.models.torch.transforms import IMAGENET_MEAN, IMAGENET_STD, to_input
from medinterp.training.classifier import TrainingData, probabilities
from medinterp.training.resume import ResumeFile

HEADS = {
    "alexnet": "classifier.6",
    "vgg16": "classifier.6",
    "resnet50": "fc",
    "densenet201": "classifier",
    "mobilenet_v2": "classifier.1",
}


@pytest.mark.parametrize("name", list(HEADS))
def test_final_layer_is_dropout_and_new_logits(name):
    torch.manual_seed(0)
    built = build(registry.get(name, "torch"), 8, "random", dropout=0.1)
    head = built.model.get_submodule(HEADS[name])
    assert built.head == HEADS[name] and isinstance(head, nn.Sequential)
    assert isinstance(head[0], nn.Dropout) and head[0].p == 0.1 and head[1].out_features == 8
    dropouts = [m for m in built.model.modules() if isinstance(m, nn.Dropout)]
    assert dropouts[-1] is head[0]
    if name == "mobilenet_v2":  # its own dropout before the old layer is gone
        assert isinstance(built.model.classifier[0], nn.Identity)
    size = 64 if name == "alexnet" else 32
    assert built.model.eval()(torch.zeros(2, 3, size, size)).shape == (2, 8)


def test_freezing_the_classifier_block_keeps_the_new_layer_trainable():
    alexnet = build(registry.get("alexnet"), 1, "random", freeze=["classifier"])
    assert set(alexnet.frozen) == {
        "classifier.1.weight",
        "classifier.1.bias",
        "classifier.4.weight",
        "classifier.4.bias",
    }
    assert all(
        p.requires_grad for n, p in alexnet.model.named_parameters() if n.startswith(("features", "classifier.6"))
    )
    resnet = build(
        registry.get("resnet50"), 1, "random", freeze=["classifier"]
    )  # ResNet's classifier block is fc: the new layer
    assert resnet.frozen == () and all(p.requires_grad for p in resnet.model.parameters())
    mobile = build(registry.get("mobilenet_v2"), 1, "random", freeze=["features.0", "classifier"])
    assert set(mobile.frozen) == {n for n, _ in mobile.model.named_parameters() if n.startswith("features.0.")}
    with pytest.raises(ConfigError, match="'layer9' names no layer of resnet50"):
        build(registry.get("resnet50"), 1, "random", freeze=["layer9"])


def test_local_weights_file_is_loaded(tmp_path):
    torch.manual_seed(1)
    source = torchvision.models.mobilenet_v2(num_classes=5)  # another head width: it is replaced anyway
    path = tmp_path / "mine.pt"
    torch.save(source.state_dict(), path)
    built = build(registry.get("mobilenet_v2"), 1, str(path))
    assert torch.equal(built.model.features[0][0].weight, source.features[0][0].weight)
    assert built.init_used.startswith(f"file {path} (md5 ")
    torch.save({"features.0.0.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ConfigError, match="does not fit torchvision's mobilenet_v2"):
        build(registry.get("mobilenet_v2"), 1, str(tmp_path / "bad.pt"))
    with pytest.raises(ConfigError, match="nowhere.pt: not a file"):
        build(registry.get("mobilenet_v2"), 1, str(tmp_path / "nowhere.pt"))


def test_imagenet_weights_come_from_torch_hub_or_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    spec = registry.get("mobilenet_v2")
    path, url = imagenet_file(spec)
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth" and url.endswith(path.name)
    with pytest.raises(ConfigError) as error:
        build(spec, 1, "imagenet")
    assert str(path) in str(error.value) and url in str(error.value) and "hub/checkpoints" in str(error.value)
    torch.manual_seed(2)
    fake = torchvision.models.mobilenet_v2()  # stands in for the downloaded file
    path.parent.mkdir(parents=True)
    torch.save(fake.state_dict(), path)
    built = build(spec, 1, "imagenet")
    assert built.init_used == "imagenet (MobileNet_V2_Weights.IMAGENET1K_V1)"
    assert torch.equal(built.model.features[1].conv[0][0].weight, fake.features[1].conv[0][0].weight)


def test_inputs_are_normalised_with_imagenet_statistics():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 5, 5, 3), dtype=np.uint8)
    expected = ((images / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).transpose(0, 3, 1, 2)
    assert to_input(images).numpy() == pytest.approx(expected, abs=1e-6)
    assert to_input(images).is_contiguous(memory_format=torch.channels_last) and not to_input(images).is_contiguous()
    assert to_input(images, torch.contiguous_format).is_contiguous()


def test_weighted_loss_matches_torch_losses():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 4), torch.tensor([0, 1, 3, 3, 2, 1])
    w = torch.tensor([0.9, 0.2, 0.5, 0.7])
    assert weighted_loss(logits, labels, w) == pytest.approx(float(nn.CrossEntropyLoss(weight=w)(logits, labels)))
    one, y = torch.randn(5, 1), torch.tensor([0, 1, 1, 0, 0])
    wb = torch.tensor([0.6, 2.5])
    per = nn.BCEWithLogitsLoss(reduction="none")(one[:, 0], y.float())
    assert weighted_loss(one, y, wb) == pytest.approx(float((wb[y] * per).sum() / wb[y].sum()))
    assert probabilities(np.array([[0.0], [2.0]])) == pytest.approx([0.5, 1 / (1 + np.exp(-2))])
    assert probabilities(np.array([[1.0, 1.0, 1.0]])) == pytest.approx(np.full((1, 3), 1 / 3))


def test_training_checkpoint_and_onnx_export_agree(tmp_path):
    images, labels = tiny_task()
    spec = registry.get("mobilenet_v2")
    train, val = np.arange(16), np.arange(16, 24)
    trained = train_classifier(
        spec,
        tiny_task_settings(),
        ["benign", "malignant"],
        np.array([1.0, 1.0]),
        TrainingData(images, train, labels[train], images[val], labels[val]),
        seed=3,
    )
    assert trained.fit.epochs_run == 2 and trained.train_images_per_second > 0
    assert trained.predict(images[val]).shape == (8,)
    assert trained.model.features[0][0].weight.is_contiguous(
        memory_format=torch.channels_last
    )  # isic.memory_format's default
    assert predict_logits(trained.model, images[val], memory_format="contiguous") == pytest.approx(
        predict_logits(trained.model, images[val]), abs=1e-5
    )

    path = tmp_path / "checkpoint.npz"
    trained.save(path, trained_on="tiny")
    model, info = load_checkpoint(path)
    assert not model.training and info["architecture"] == "mobilenet_v2" and info["num_outputs"] == 1
    assert info["init_used"] == "random" and info["seed"] == 3 and info["settings"]["freeze"] == ["classifier"]
    assert info["normalisation"] == {"layout": "NCHW", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    assert probabilities(predict_logits(model, images[val])) == pytest.approx(trained.predict(images[val]), abs=1e-6)

    onnx_path = tmp_path / "model.onnx"
    fields = {
        "name": "isic-binary-mobilenet_v2",
        "dataset": "isic_binary",
        "split": "rows 0-15",
        "metrics": {"val_auc": 1.0},
        "params": {"seed": 3},
        "provenance": {"medinterp": "test"},
    }
    record, measured = export_checkpoint(path, onnx_path, fields, images[val], tolerance=1e-4)
    assert measured["max_abs_diff"] <= 1e-4 and measured["provider"] in (
        "CPUExecutionProvider",
        "CUDAExecutionProvider",
    )
    assert record == {"samples": int(len(val)), "tolerance": 1e-4, "within_tolerance": True}
    read = metadata.read(onnx_path)
    assert read["input"]["shape"] == [None, 3, 32, 32] and read["output"]["activation"] == "sigmoid"
    assert json.loads((tmp_path / "model.json").read_text())["class_names"] == ["benign", "malignant"]
    odd_batch, _ = onnx_run(
        onnx_path, to_input(images[:3]).numpy(), providers=["CPUExecutionProvider"]
    )  # dynamic batch
    assert odd_batch.shape == (3, 1)
    assert odd_batch == pytest.approx(predict_logits(model, images[:3]), abs=1e-4)


def tiny_trainable(seed: int, precision: str = "fp32", device: str = "cpu") -> TorchTrainable:
    """A small network with batch normalisation and dropout on the tiny task, its batches seeded with 3."""
    images, labels = tiny_task(n=20, size=16)
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(4, 1),
    ).to(device, memory_format=torch.channels_last)
    batches = training_batches(
        images, np.arange(14), labels[:14], 4, 0, 16, THESIS_AUGMENT, seed=3, device=torch.device(device)
    )
    trainable = TorchTrainable(
        model, batches, images[14:], labels[14:], np.array([1.0, 2.0]), ["benign", "malignant"], precision=precision
    )
    trainable.set_learning_rate(0.01)
    return trainable


def test_a_resumed_training_is_bit_identical_to_an_uninterrupted_one():
    uninterrupted = tiny_trainable(seed=0)
    losses = [uninterrupted.train_epoch(epoch)["loss"] for epoch in (1, 2)]
    interrupted = tiny_trainable(seed=0)
    interrupted.train_epoch(1)
    state = pickle.loads(pickle.dumps(interrupted.training_state()))
    assert all(isinstance(v, np.ndarray) for v in state["model"].values())
    torch.manual_seed(99)  # every stream the state holds must be restored
    resumed = tiny_trainable(seed=1)
    resumed.set_training_state(state)
    assert resumed.train_epoch(2)["loss"] == losses[1]
    final, expected = resumed.model.state_dict(), uninterrupted.model.state_dict()
    assert all(torch.equal(final[k], expected[k]) for k in expected)
    assert not torch.equal(
        uninterrupted.model[0].weight, tiny_trainable(seed=0).model[0].weight
    )  # training moved the weights


def test_train_classifier_resumes_through_the_loop(tmp_path):
    images, labels = tiny_task()
    train, val = np.arange(16), np.arange(16, 24)
    data = TrainingData(images, train, labels[train], images[val], labels[val])

    def run(epochs, resume=None):
        return train_classifier(
            registry.get("mobilenet_v2"),
            tiny_task_settings(epochs=epochs),
            ["benign", "malignant"],
            np.array([1.0, 1.0]),
            data,
            seed=3,
            resume=resume,
        )

    uninterrupted = run(2)
    resume = ResumeFile(tmp_path / "run.pkl", fingerprint="same run")
    run(1, resume)  # stands for a run killed after its first epoch
    resumed = run(2, resume)
    assert resumed.fit.history == uninterrupted.fit.history
    expected = uninterrupted.model.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in resumed.model.state_dict().items())


def test_bf16_trains_under_autocast_with_finite_losses():
    trainable = tiny_trainable(seed=0, precision="bf16")
    dtypes = set()
    trainable.model[0].register_forward_hook(lambda module, inputs, output: dtypes.add(output.dtype))
    losses = [trainable.train_epoch(epoch)["loss"] for epoch in (1, 2, 3)]
    assert np.isfinite(losses).all() and dtypes == {torch.bfloat16}
    assert np.isfinite(trainable.evaluate()["loss"]) and trainable.model[0].weight.dtype == torch.float32


def test_fp16_without_cuda_is_a_clear_error():
    with pytest.raises(ConfigError, match="isic.precision fp16 needs a CUDA device"):
        tiny_trainable(seed=0, precision="fp16")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 needs a CUDA device")
def test_fp16_on_cuda_scales_the_loss_and_trains():
    trainable = tiny_trainable(seed=0, precision="fp16", device="cuda")
    losses = [trainable.train_epoch(epoch)["loss"] for epoch in (1, 2, 3)]
    assert np.isfinite(losses).all() and trainable.scaler.is_enabled() and trainable.scaler.get_scale() > 0


def test_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.npz")
    (tmp_path / "other.npz").write_text("not an archive")
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "other.npz")
    torch.save({"something": 1}, tmp_path / "torch.npz")  # a zip archive, but not ours
    with pytest.raises(ConfigError, match="no info inside"):
        load_checkpoint(tmp_path / "torch.npz")
    np.savez(tmp_path / "plain.npz", weights=np.zeros(3))
    with pytest.raises(ConfigError, match="no info inside"):
        load_checkpoint(tmp_path / "plain.npz")


@pytest.mark.parametrize("size_in, size_out", [((2, 2), (7, 7)), ((1, 1), (6, 6)), ((5, 7), (3, 2)), ((13, 9), (4, 5))])
def test_fixed_size_pool_equals_adaptive_pool(size_in, size_out):
    x = torch.randn(3, 4, *size_in)
    assert torch.allclose(
        FixedSizeAdaptiveAvgPool2d(size_in, size_out)(x), nn.AdaptiveAvgPool2d(size_out)(x), atol=1e-6
    )


def test_small_inputs_to_a_seven_by_seven_pool_still_export(tmp_path):
    """VGG16's pool after 64 px inputs (2 x 2 maps), which the TorchScript exporter refuses as it is."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=8), nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(), nn.Linear(4 * 49, 1)
    ).eval()
    example = torch.zeros(1, 3, 16, 16)
    assert isinstance(exportable(model, example)[1], FixedSizeAdaptiveAvgPool2d) and isinstance(
        model[1], nn.AdaptiveAvgPool2d
    )
    kept = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d((1, 1)))
    assert exportable(kept, example) is kept  # nothing to replace: the model itself
    info = {
        "image_size": 16,
        "normalisation": {"layout": "NCHW", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "architecture": "vgg16",
        "family": "torch",
        "task": "binary",
        "class_names": ["benign", "malignant"],
        "num_outputs": 1,
        "init_used": "random",
    }
    images = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    meta = metadata.for_checkpoint(
        info,
        name="tiny",
        dataset="isic_binary",
        split="all",
        metrics={},
        params={},
        framework=metadata.framework_info("torch", torch.__version__),
        provenance={"medinterp": "test"},
    )
    assert export_checked(model, info, tmp_path / "m.onnx", meta, images, tolerance=1e-5)[1]["max_abs_diff"] <= 1e-5


def test_the_same_weights_export_to_the_same_bytes(tmp_path):
    """Nothing in an export depends on the time, git's state or the run: a model's DVC hash moves
    only with its weights, metadata and code."""
    from medinterp.models.torch.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build(registry.get("mobilenet_v2", "torch"), 1, "random", 0.1).model.eval()
    info = {
        "architecture": "mobilenet_v2",
        "family": "torch",
        "task": "binary",
        "class_names": ["benign", "malignant"],
        "num_outputs": 1,
        "image_size": 32,
        "normalisation": {"layout": "NCHW", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "init_used": "random",
        "seed": 0,
        "settings": {},
        "dropout": 0.1,
    }
    checkpoint = tmp_path / "checkpoint.npz"
    save_checkpoint(checkpoint, model, info)
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    fields = {
        "name": "tiny",
        "dataset": "isic_binary",
        "split": "all",
        "metrics": {},
        "params": {},
        "provenance": metadata.provenance("medinterp.stages.isic_export", [checkpoint]),
    }
    for name in ("first.onnx", "second.onnx"):
        export_checkpoint(checkpoint, tmp_path / name, fields, images, tolerance=1e-4)
    assert (tmp_path / "first.onnx").read_bytes() == (tmp_path / "second.onnx").read_bytes()
    assert metadata.read(tmp_path / "first.onnx")["provenance"]["inputs"] == {
        checkpoint.as_posix(): metadata.file_md5(checkpoint)
    }


def test_training_input_equals_the_interpretation_adapters_to_the_last_bit():
    """The classifier's normalisation and the adapter's must round alike: a filter threshold at a
    quantile flips on one ulp (the filters stage is checked against a recomputation with to_input)."""
    from medinterp.interpret.filters import as_unit_float
    from medinterp.models.torch.adapter import TorchAdapter
    from medinterp.models.torch.transforms import IMAGENET_MEAN, IMAGENET_STD, to_input

    images = np.random.default_rng(3).integers(0, 256, (5, 9, 9, 3), dtype=np.uint8)
    adapter = TorchAdapter(torch.nn.Conv2d(3, 3, 1), IMAGENET_MEAN, IMAGENET_STD, 9)
    assert torch.equal(to_input(images), adapter._input(as_unit_float(images)))
    assert torch.equal(to_input(images, torch.contiguous_format), to_input(images))
