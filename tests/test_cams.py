"""medinterp.interpret.cams against pytorch-grad-cam on a tiny seeded CNN, plus hand-built cases.

pytorch-grad-cam's public ``__call__`` min-max scales each map and resizes it with cv2; we compare
its RAW maps instead (``get_cam_image`` then ``np.maximum(., 0)``, what ``compute_cam_per_layer``
holds before ``scale_cam_image``), which is what cams.py returns.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection
from torch import nn

from medinterp.interpret import cams
from medinterp.interpret import gradcam as gradcam_module
from medinterp.models.torch.adapter import TorchAdapter

TOL = 1e-5
THEIRS = {
    "gradcam": GradCAM,
    "gradcam_plus_plus": GradCAMPlusPlus,
    "hirescam": HiResCAM,
    "xgradcam": XGradCAM,
    "layercam": LayerCAM,
}
# Layer "3" is a convolution (signed activations, gradients masked by the following ReLU, so they
# vary across positions); layer "4" is that ReLU, right before global average pooling.
LAYERS = ("3", "4")
# (number of logits, our class_index)
CASES = ((1, 1), (1, 0), (3, 2), (3, 1))


def model(outputs: int) -> tuple[nn.Module, TorchAdapter]:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, outputs),
    )
    with torch.no_grad():
        net[-1].weight.mul_(64)  # undo the 1/64 of average pooling: maps of order 0.1-1, not 1e-3
    # Identity normalisation: our [0, 1] image space is pytorch-grad-cam's input tensor space.
    return net, TorchAdapter(net, mean=[0, 0, 0], std=[1, 1, 1], image_size=16)


def images(n: int = 3, height: int = 16, width: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, height, width, 3), dtype=np.float32)


def their_target(outputs: int, class_index: int):
    """pytorch-grad-cam's target for our class: a single-logit model's class 1 is its category 0,
    its class 0 (the negated logit) has no ClassifierOutputTarget, so a callable does it."""
    if outputs == 1:
        return ClassifierOutputTarget(0) if class_index == 1 else (lambda output: -output[0])
    return ClassifierOutputTarget(class_index)


def their_raw(cam_class, net, layer, x, target, float64=True, **attributes):
    """pytorch-grad-cam's raw map, with its own hooks: BaseCAM.forward and compute_cam_per_layer up
    to, not including, scale_cam_image. Also returns the activations and gradients it saw.

    With ``float64``, its get_cam_image gets the float32 arrays it captured cast to float64, so that
    the comparison is of formulas, not of float32 rounding: Grad-CAM++'s ``2 g^2 + sum(A) g^3``
    nearly cancels where activations are signed, and in float32 it is off by up to ~1e-5 there.
    Score-CAM runs the model on the masked images, so it stays float32."""
    module = dict(net.named_modules())[layer]
    with cam_class(model=net, target_layers=[module]) as cam:
        for name, value in attributes.items():
            setattr(cam, name, value)
        targets = [target] * len(x)
        outputs = cam.activations_and_grads(x)
        grads = None
        if cam.uses_gradients:
            net.zero_grad()
            sum(t(o) for t, o in zip(targets, outputs)).backward(retain_graph=True)
            grads = cam.activations_and_grads.gradients[0].numpy()
        acts = cam.activations_and_grads.activations[0].numpy()
        wide = (lambda a: a if a is None else a.astype(np.float64)) if float64 else (lambda a: a)
        raw = np.maximum(cam.get_cam_image(x, module, targets, wide(acts), wide(grads), False), 0)
    return raw, acts, grads


def tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()


# -- parity with pytorch-grad-cam ----------------------------------------------------------------


@pytest.mark.parametrize("outputs,class_index", CASES)
@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("method", sorted(THEIRS))
def test_gradient_methods_match_pytorch_grad_cam(method, layer, outputs, class_index):
    net, adapter = model(outputs)
    x = images()
    acts, grads, _ = adapter.gradcam_parts(x, layer, class_index)
    raw, their_acts, their_grads = their_raw(THEIRS[method], net, layer, tensor(x), their_target(outputs, class_index))
    np.testing.assert_allclose(acts, their_acts, rtol=0, atol=1e-6)
    np.testing.assert_allclose(grads, their_grads, rtol=0, atol=1e-6)
    ours = cams.GRADIENT_METHODS[method](acts, grads)
    assert ours.dtype == np.float64 and ours.shape == raw.shape == (3, 8, 8)
    assert raw.max() > 0.05 and ours.max() > 0.05  # a real map, not a vacuous match of zeros
    assert np.abs(ours - raw).max() <= TOL


@pytest.mark.parametrize("layer", LAYERS)
def test_eigencam_matches_get_2d_projection_up_to_our_sign_rule(layer):
    _, adapter = model(1)
    x = images(4)
    acts = adapter.activations(x, layer)
    theirs = get_2d_projection(acts)
    ours = cams.eigencam(acts)
    # The SVD's sign is arbitrary and get_2d_projection keeps whatever LAPACK returns, so its map
    # may be the negation of ours; we fix the sign (non-negative correlation with the channel-summed
    # activations), so compare against their projection with our rule applied.
    for i in range(len(x)):
        summed = acts[i].sum(axis=0)
        sign = 1.0 if np.sum(theirs[i] * (summed - summed.mean())) >= 0 else -1.0
        assert np.abs(ours[i] - np.maximum(sign * theirs[i], 0)).max() <= TOL
    assert ours.dtype == np.float64 and ours.shape == (4, 8, 8) and ours.max() > 0.01


@pytest.mark.parametrize(
    "outputs,class_index,size", [(1, 1, (16, 16)), (1, 0, (16, 16)), (3, 2, (16, 16)), (3, 1, (16, 20))]
)
@pytest.mark.parametrize("layer", LAYERS)
def test_scorecam_matches_pytorch_grad_cam(layer, outputs, class_index, size):
    net, adapter = model(outputs)
    x = images(2, *size)
    raw, their_acts, _ = their_raw(
        ScoreCAM, net, layer, tensor(x), their_target(outputs, class_index), float64=False, batch_size=5
    )
    acts = adapter.activations(x, layer)
    np.testing.assert_allclose(acts, their_acts, rtol=0, atol=1e-6)
    ours = cams.scorecam(adapter, x, acts, class_index, batch_size=5)
    assert ours.dtype == np.float64 and ours.shape == raw.shape and raw.max() > 0.01
    assert np.abs(ours - raw).max() <= TOL


@pytest.mark.parametrize("h,w,height,width", [(8, 8, 16, 16), (5, 3, 16, 20), (1, 4, 7, 9), (4, 4, 4, 4)])
def test_score_masks_upsample_like_torch_bilinear_align_corners(h, w, height, width):
    maps = np.random.default_rng(1).normal(size=(3, h, w))
    up = nn.UpsamplingBilinear2d(size=(height, width))(torch.from_numpy(maps)[:, None])[:, 0].numpy()
    lo, hi = up.min(axis=(1, 2), keepdims=True), up.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(cams._masks(maps, height, width), (up - lo) / (hi - lo + 1e-8), rtol=0, atol=1e-12)


# -- hand-built cases ----------------------------------------------------------------------------


def random_pair(seed: int = 0, shape=(2, 5, 4, 3)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), rng.normal(size=shape)


@pytest.mark.parametrize("method", sorted(cams.GRADIENT_METHODS))
def test_zero_gradients_give_zero_maps(method):
    acts, _ = random_pair()
    out = cams.GRADIENT_METHODS[method](acts, np.zeros_like(acts))
    assert out.shape == (2, 4, 3) and not out.any()


def test_gradcam_is_the_existing_class_maps():
    acts, grads = random_pair()
    np.testing.assert_array_equal(cams.gradcam(acts, grads), gradcam_module.class_maps(acts, grads))


def test_hirescam_equals_gradcam_for_spatially_constant_gradients_and_layercam_for_positive_ones():
    acts, grads = random_pair()
    flat = np.broadcast_to(grads.mean(axis=(2, 3), keepdims=True), grads.shape)
    np.testing.assert_allclose(cams.hirescam(acts, flat), cams.gradcam(acts, flat), atol=1e-12)
    assert not np.allclose(cams.hirescam(acts, grads), cams.gradcam(acts, grads))
    np.testing.assert_allclose(cams.layercam(acts, np.abs(grads)), cams.hirescam(acts, np.abs(grads)), atol=1e-12)


def test_maps_are_non_negative():
    acts, grads = random_pair(3)
    for method in cams.GRADIENT_METHODS.values():
        out = method(acts, grads)
        assert out.min() >= 0 and out.max() > 0
    assert cams.eigencam(acts).min() >= 0


def test_eigencam_sign_follows_the_summed_activations():
    rng = np.random.default_rng(2)
    pattern, strengths = rng.random((6, 5)) + 0.1, rng.random(4) + 0.5
    acts = strengths[None, :, None, None] * pattern[None, None]  # rank one: A_k = v_k * P
    expected = np.linalg.norm(strengths) * (pattern - pattern.mean())
    np.testing.assert_allclose(cams.eigencam(acts)[0], np.maximum(expected, 0), atol=1e-10)
    np.testing.assert_allclose(cams.eigencam(-acts)[0], np.maximum(-expected, 0), atol=1e-10)


def test_eigencam_does_not_depend_on_the_svd_sign(monkeypatch):
    acts = random_pair(4)[0]
    before = cams.eigencam(acts)
    svd = np.linalg.svd

    def flipped(a, *args, **kwargs):
        u, s, vt = svd(a, *args, **kwargs)
        return -u, s, -vt

    monkeypatch.setattr(np.linalg, "svd", flipped)
    np.testing.assert_array_equal(cams.eigencam(acts), before)
    assert before.max() > 0


def test_eigencam_of_constant_activations_is_zero():
    assert not cams.eigencam(np.ones((1, 3, 4, 4))).any()


class MeanScores:
    """A fake adapter: logits are the masked images' per-colour means (K = 3), or their red mean (K = 1)."""

    def __init__(self, logits: int = 3):
        self.logits, self.sizes = logits, []

    def scores(self, images, batch_size=32):
        self.sizes.append(len(images))
        return images.mean(axis=(1, 2))[:, : self.logits].astype(np.float64)


def test_scorecam_with_one_channel_is_that_channels_map():
    acts = np.random.default_rng(5).normal(size=(3, 4, 4, 4))
    x = images(3, 8, 8)
    out = cams.scorecam(MeanScores(), x, acts, 0, channels=1)
    top = acts.mean(axis=(2, 3)).argmax(axis=1)
    # The softmax over one channel is 1, so the map is that channel's activations, ReLU'd.
    np.testing.assert_allclose(out, np.maximum(acts[np.arange(3), top], 0), atol=1e-12)


def test_scorecam_channel_ties_keep_lower_indices():
    acts = np.zeros((1, 4, 2, 2))
    acts[0, 0, 0, 0] = acts[0, 1, 1, 1] = acts[0, 2, 0, 1] = 4.0  # three channels of equal mean 1
    acts[0, 3] = 0.5
    x = images(1, 6, 6)
    np.testing.assert_allclose(cams.scorecam(MeanScores(), x, acts, 1, channels=1)[0], acts[0, 0], atol=1e-12)
    two = cams.scorecam(MeanScores(), x, acts, 1, channels=2)[0]
    assert two[0, 0] > 0 and two[1, 1] > 0 and two[0, 1] == 0 and two[1, 0] == 0
    np.testing.assert_allclose(two.sum(), 4.0, atol=1e-12)  # softmax weights sum to 1


def test_scorecam_more_channels_than_there_are_means_all():
    acts = np.random.default_rng(6).random((2, 5, 3, 3))
    x = images(2, 9, 9)
    everything = cams.scorecam(MeanScores(), x, acts, 2)
    np.testing.assert_array_equal(cams.scorecam(MeanScores(), x, acts, 2, channels=100), everything)
    assert not np.allclose(cams.scorecam(MeanScores(), x, acts, 2, channels=2), everything)


def test_scorecam_single_logit_class_zero_negates_the_logit():
    acts = np.random.default_rng(7).random((1, 4, 3, 3))
    x = images(1, 9, 9)
    one, zero = (cams.scorecam(MeanScores(1), x, acts, k) for k in (1, 0))
    assert not np.allclose(one, zero)
    with pytest.raises(ValueError, match="class_index"):
        cams.scorecam(MeanScores(1), x, acts, 2)


class Counting:
    """Wraps an adapter, recording the size of every scores call."""

    def __init__(self, inner):
        self.inner, self.sizes = inner, []

    def scores(self, images, batch_size=32):
        self.sizes.append(len(images))
        return self.inner.scores(images, batch_size)


@pytest.mark.parametrize("channels", [None, 4])
def test_scorecam_batching_changes_nothing_and_batches_across_images(channels):
    _, adapter = model(3)
    x = images(3)
    acts = adapter.activations(x, "4")
    kept = 6 if channels is None else channels
    maps = {}
    for batch_size in (1, 7):
        counting = Counting(adapter)
        maps[batch_size] = cams.scorecam(counting, x, acts, 1, channels=channels, batch_size=batch_size)
        assert len(counting.sizes) == math.ceil(len(x) * kept / batch_size)
        assert max(counting.sizes) <= batch_size and sum(counting.sizes) == len(x) * kept
    assert np.abs(maps[1] - maps[7]).max() <= 1e-6 and maps[1].max() > 0


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(cams.GRADIENT_METHODS))
def test_gradient_methods_refuse_bad_shapes(method):
    acts, grads = random_pair()
    with pytest.raises(ValueError, match="must be the same"):
        cams.GRADIENT_METHODS[method](acts, grads[:, :4])
    with pytest.raises(ValueError, match="must be the same"):
        cams.GRADIENT_METHODS[method](acts[0], grads[0])


def test_eigencam_and_scorecam_refuse_bad_input():
    acts = np.random.default_rng(8).random((2, 3, 4, 4))
    x = images(2, 8, 8)
    with pytest.raises(ValueError, match="activations must be"):
        cams.eigencam(acts[0])
    with pytest.raises(ValueError, match="activations must be"):
        cams.scorecam(MeanScores(), x, acts[0], 0)
    with pytest.raises(ValueError, match="2 images but activations for 1"):
        cams.scorecam(MeanScores(), x, acts[:1], 0)
    with pytest.raises(ValueError, match="images"):
        cams.scorecam(MeanScores(), x[..., :2], acts, 0)
    for channels in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="channels must be a positive int"):
            cams.scorecam(MeanScores(), x, acts, 0, channels=channels)
    for batch_size in (0, -3):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            cams.scorecam(MeanScores(), x, acts, 0, batch_size=batch_size)
