"""TorchAdapter against direct torch computations on a tiny network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from medinterp.errors import ConfigError
from medinterp.models.torch.adapter import TorchAdapter
from medinterp.registry import REGISTRY

MEAN, STD = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]


class Tiny(nn.Module):
    """Registered in another order than it runs: ``late`` is declared first but runs second."""

    def __init__(self, outputs: int):
        super().__init__()
        self.late = nn.Conv2d(4, 6, 3, padding=1)
        self.early = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.head = nn.Linear(6, outputs)

    def forward(self, x):
        x = self.relu(self.late(self.relu(self.early(x))))
        return self.head(x.mean(dim=(2, 3)))


def make(outputs: int = 3) -> tuple[Tiny, TorchAdapter]:
    torch.manual_seed(0)
    net = Tiny(outputs)
    return net, TorchAdapter(net, MEAN, STD, image_size=8)


def images(n: int = 4, size: int = 8) -> np.ndarray:
    return np.random.default_rng(0).random((n, size, size, 3), dtype=np.float32)


def normalised(pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The model's input computed here, independently of the adapter."""
    t = torch.as_tensor(pixels).permute(0, 3, 1, 2)
    return (t - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def test_conv_layers_in_forward_order_and_channels():
    _, adapter = make()
    assert adapter.conv_layers() == ["early", "late"]
    assert adapter.channels("early") == 4
    assert adapter.channels("relu") == 4  # a shared module is seen at its first call


def test_scores_and_activations_match_direct_forward():
    net, adapter = make()
    x = images()
    with torch.no_grad():
        early = net.early(normalised(x))
        late = net.late(torch.relu(early))
        logits = net(normalised(x))
    np.testing.assert_allclose(adapter.activations(x, "early", batch_size=3), early.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(adapter.activations(x, "late"), late.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(adapter.scores(x, batch_size=3), logits.numpy(), rtol=1e-5, atol=1e-6)


def test_forward_stops_after_the_requested_layer():
    net, adapter = make()
    net.head.register_forward_pre_hook(lambda module, inputs: pytest.fail("the head ran"))
    adapter.activations(images(), "late")
    adapter.input_gradient(images(), "early", [0, 1, 2, 3])


def test_input_gradient_of_channel_means_matches_autograd():
    net, adapter = make()
    x = images()
    targets = [0, 3, 1, 3]
    objective, grad = adapter.input_gradient(x, "late", targets)
    pixels = torch.as_tensor(x).requires_grad_(True)
    late = net.late(torch.relu(net.early(normalised(pixels))))
    expected = torch.stack([late[i, t].mean() for i, t in enumerate(targets)])
    (expected_grad,) = torch.autograd.grad(expected.sum(), pixels)
    np.testing.assert_allclose(objective, expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert grad.shape == x.shape
    np.testing.assert_allclose(grad, expected_grad.numpy(), rtol=1e-4, atol=1e-6)


def test_input_gradient_of_class_scores_single_logit_convention():
    net, adapter = make(outputs=1)
    x = images()
    objective, grad = adapter.input_gradient(x, None, [1, 0, 1, 0])
    pixels = torch.as_tensor(x).requires_grad_(True)
    logit = net(normalised(pixels))[:, 0]
    signed = logit * torch.tensor([1.0, -1.0, 1.0, -1.0])
    (expected_grad,) = torch.autograd.grad(signed.sum(), pixels)
    np.testing.assert_allclose(objective, signed.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, expected_grad.numpy(), rtol=1e-4, atol=1e-7)


def test_gradcam_parts_match_autograd():
    net, adapter = make()
    x = images()
    acts, grad, scores = adapter.gradcam_parts(x, "late", class_index=2)
    late = net.late(torch.relu(net.early(normalised(torch.as_tensor(x)))))
    late.retain_grad()
    logits = net.head(torch.relu(late).mean(dim=(2, 3)))
    logits[:, 2].sum().backward()
    np.testing.assert_allclose(acts, late.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, late.grad.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(scores, logits[:, 2].detach().numpy(), rtol=1e-5, atol=1e-6)


class InPlace(nn.Module):
    """VGG's pattern: each convolution is followed by ReLU(inplace=True), which rewrites its output."""

    def __init__(self):
        super().__init__()
        self.early = nn.Conv2d(3, 4, 3, padding=1)
        self.late = nn.Conv2d(4, 5, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        x = self.relu(self.late(self.relu(self.early(x))))
        return self.head(x.mean(dim=(2, 3)))


def forward_batches(net: nn.Module) -> list[int]:
    """The batch size of every forward pass of ``net`` from now on."""
    calls: list[int] = []
    net.register_forward_pre_hook(lambda module, inputs: calls.append(len(inputs[0])))
    return calls


@pytest.mark.parametrize("build", [lambda: make()[0], InPlace], ids=["tiny", "in-place-relu"])
def test_layer_activations_equal_the_per_layer_path_from_one_pass_per_batch(build):
    torch.manual_seed(0)
    net = build()
    adapter = TorchAdapter(net, MEAN, STD, image_size=8)
    x = images(5)
    per_layer = {layer: adapter.activations(x, layer, batch_size=2) for layer in ("late", "early")}
    calls = forward_batches(net)
    together = adapter.layer_activations(x, ["late", "early"], batch_size=2)
    assert calls == [2, 2, 1]  # not one pass per layer and batch
    assert list(together) == ["late", "early"]  # the order asked for, not the forward order
    for layer, expected in per_layer.items():
        np.testing.assert_array_equal(together[layer], expected)
    maxima = adapter.layer_activations(x, ["early", "late"], batch_size=2, reduce=lambda a: a.max(axis=(2, 3)))
    for layer, expected in per_layer.items():
        np.testing.assert_array_equal(maxima[layer], expected.max(axis=(2, 3)))
    assert not any(module._forward_hooks for module in net.modules())


def test_layer_activations_stop_after_the_last_layer_asked_and_refuse_bad_layers():
    net, adapter = make()
    stop = net.late.register_forward_pre_hook(lambda module, inputs: pytest.fail("late ran"))
    empty = adapter.layer_activations(images(0), ["early", "relu"])
    assert {layer: a.shape for layer, a in empty.items()} == {"early": (0, 4, 8, 8), "relu": (0, 4, 8, 8)}
    stop.remove()
    for layers, message in [(["early", "nope"], "not a module"), (["early", "head"], r"\(N, C, h, w\)")]:
        with pytest.raises(ConfigError, match=message):
            adapter.layer_activations(images(), layers)
        assert not any(module._forward_hooks for module in net.modules())  # removed, even on error


def test_unknown_layer_and_bad_images_are_refused():
    _, adapter = make()
    with pytest.raises(ConfigError, match="not a module"):
        adapter.activations(images(), "nope")
    with pytest.raises(ValueError, match="N, H, W, 3"):
        adapter.activations(np.zeros((2, 3, 8, 8), np.float32), "early")


@pytest.mark.parametrize("name", ["alexnet", "resnet50", "mobilenet_v2"])
def test_registry_first_and_last_conv_layers_are_the_adapters(name):
    spec = REGISTRY[f"torch:{name}"]
    model = getattr(torchvision.models, name)(weights=None)
    layers = TorchAdapter(model, MEAN, STD, image_size=64).conv_layers()
    assert (layers[0], layers[-1]) == (spec.first_conv_layer, spec.last_conv_layer)


# -- weights, for the model-parameter randomization test ------------------------------------------


class Normed(nn.Module):
    """Batch norm (with its integer counter) and a non-persistent buffer, which is not learned state."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 2)
        self.head.register_buffer("constant", torch.ones(2), persistent=False)

    def forward(self, x):
        return self.head(torch.relu(self.norm(self.conv(x))).mean(dim=(2, 3))) * self.head.constant


def _outputs(adapter: TorchAdapter, x: np.ndarray) -> list[np.ndarray]:
    return [adapter.scores(x), *adapter.gradcam_parts(x, "late", class_index=1)]


def test_parameter_layers_in_call_order_with_state_dict_weights():
    _, adapter = make()
    assert adapter.parameter_layers() == ["early", "late", "head"]  # `late` is declared first
    torch.manual_seed(0)
    net = Normed()
    normed = TorchAdapter(net, MEAN, STD, image_size=8)
    assert normed.parameter_layers() == ["conv", "norm", "head"]
    state = net.state_dict()
    norm = normed.layer_weights("norm")
    assert [a.shape for a in norm] == [(4,)] * 4  # weight, bias, running mean and var; not num_batches_tracked
    for array, key in zip(norm, ["weight", "bias", "running_mean", "running_var"]):
        np.testing.assert_array_equal(array, state[f"norm.{key}"].numpy())
    assert [a.shape for a in normed.layer_weights("head")] == [(2, 4), (2,)]
    assert len(normed.layer_weights("conv")) == 1


def test_layer_weights_are_copies_and_round_trip():
    net, adapter = make()
    x = images()
    before = _outputs(adapter, x)
    weights = adapter.layer_weights("late")
    assert [a.shape for a in weights] == [(6, 4, 3, 3), (6,)] and all(a.dtype == np.float32 for a in weights)
    np.testing.assert_array_equal(weights[0], net.late.weight.detach().numpy())
    weights[0][...] = 0.0  # a copy: the model keeps its weights
    assert net.late.weight.abs().sum() > 0
    adapter.set_layer_weights("late", adapter.layer_weights("late"))
    for got, expected in zip(_outputs(adapter, x), before):
        np.testing.assert_array_equal(got, expected)


def test_set_layer_weights_changes_outputs_and_restoring_brings_them_back():
    net, adapter = make()
    x = images()
    before = _outputs(adapter, x)
    original = adapter.layer_weights("late")
    parameter = net.late.weight
    adapter.set_layer_weights("late", [np.flip(original[0], axis=0), original[1] + 1.0])  # flip: not C-contiguous
    assert net.late.weight is parameter  # written in place
    np.testing.assert_array_equal(net.late.weight.detach().numpy(), np.flip(original[0], axis=0))
    changed = _outputs(adapter, x)
    for got, old in zip(changed, before):
        assert not np.allclose(got, old)
    adapter.set_layer_weights("head", [a * 2 for a in adapter.layer_weights("head")])
    assert not np.allclose(adapter.scores(x), changed[0])
    adapter.set_layer_weights("head", [a / 2 for a in adapter.layer_weights("head")])
    adapter.set_layer_weights("late", original)
    for got, expected in zip(_outputs(adapter, x), before):
        np.testing.assert_array_equal(got, expected)


def test_set_layer_weights_refuses_other_shapes_dtypes_and_layers():
    net, adapter = make()
    weight, bias = adapter.layer_weights("late")
    for arrays, message in [
        ([weight[:5], bias], r"weight 0 is float32 \(6, 4, 3, 3\)"),
        ([weight * 0, bias.astype(np.float64)], "weight 1 is float32"),
        ([weight * 0], "holds 2 weight arrays, got 1"),
    ]:
        with pytest.raises(ValueError, match=message):
            adapter.set_layer_weights("late", arrays)
    np.testing.assert_array_equal(net.late.weight.detach().numpy(), weight)  # nothing written half-way
    for layer in ("nope", "relu"):  # relu is a module, but holds no weights
        with pytest.raises(ConfigError, match="not a parameter layer.*3 parameter layers"):
            adapter.layer_weights(layer)
        with pytest.raises(ConfigError, match="not a parameter layer"):
            adapter.set_layer_weights(layer, [])


def test_randomized_cascade_through_the_torch_adapter():
    from medinterp.interpret.randomization import cascading

    _, adapter = make()
    x = images()
    before = _outputs(adapter, x)
    with cascading(adapter, seed=0) as randomize:
        assert randomize(3) == ["head", "late", "early"]
        assert not np.allclose(adapter.scores(x), before[0])
    for got, expected in zip(_outputs(adapter, x), before):
        np.testing.assert_array_equal(got, expected)
