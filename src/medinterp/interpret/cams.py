"""Class activation maps beyond Grad-CAM, framework-free (numpy and scipy only).

Every method takes what a :class:`medinterp.interpret.adapter.ModelAdapter` returns: a layer's
activations and, for the gradient methods, the gradient of one class score with respect to them,
both channel-first ``(N, C, h, w)``. Each returns ``float64`` maps ``(N, h, w)`` at the layer's
resolution, non-negative: a ReLU ends every method, as in pytorch-grad-cam's
``compute_cam_per_layer``. Unlike pytorch-grad-cam's ``__call__``, nothing here min-max scales or
resizes the maps; :func:`medinterp.interpret.gradcam.heatmap` does that for display.

The formulas follow pytorch-grad-cam 1.5.7 (its ``get_cam_weights`` / ``get_cam_image``), including
its epsilons, so that the maps agree with it to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import zoom

from medinterp.interpret import gradcam as _gradcam
from medinterp.interpret.adapter import image_batch

# The epsilons pytorch-grad-cam uses (grad_cam_plusplus.py, xgrad_cam.py, score_cam.py).
_PLUSPLUS_EPS = 1e-6
_XGRAD_EPS = 1e-7
_SCORE_EPS = 1e-8


def _four_d(name: str, array) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 4:
        raise ValueError(f"{name} must be (N, C, h, w), got shape {array.shape}")
    return array


def _pair(activations, gradients) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64 ``(N, C, h, w)`` of one shape; anything else is a ``ValueError``."""
    acts, grads = np.asarray(activations, dtype=np.float64), np.asarray(gradients, dtype=np.float64)
    if acts.ndim != 4 or acts.shape != grads.shape:
        raise ValueError(f"activations {acts.shape} and gradients {grads.shape} must be the same (N, C, h, w)")
    return acts, grads


def _weighted(weights: np.ndarray, acts: np.ndarray) -> np.ndarray:
    """``ReLU(sum_k w_k A_k)`` per image, for ``(N, C)`` weights."""
    return np.maximum(np.einsum("nc,nchw->nhw", weights, acts), 0.0)


def gradcam(activations, gradients) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization"): channel weights are the spatial mean of the gradient, the map is
    ``ReLU(sum_k w_k A_k)``. Delegates to :func:`medinterp.interpret.gradcam.class_maps`, the
    implementation the pipeline already uses."""
    acts, grads = _pair(activations, gradients)
    return _gradcam.class_maps(acts, grads)


def gradcam_plus_plus(activations, gradients) -> np.ndarray:
    """Grad-CAM++ (Chattopadhay et al. 2018, "Grad-CAM++: Generalized Gradient-based Visual
    Explanations for Deep Convolutional Networks"), in the closed form of its eq. 19 that
    pytorch-grad-cam uses (first derivatives only, as if the score were exponentiated):
    ``alpha = g^2 / (2 g^2 + sum_ij(A) g^3 + 1e-6)``, zero where ``g == 0``; channel weights
    ``sum_ij ReLU(g) * alpha``; map ``ReLU(sum_k w_k A_k)``. The epsilon is pytorch-grad-cam's
    ``1e-6``."""
    acts, grads = _pair(activations, gradients)
    g2 = grads**2
    g3 = g2 * grads
    sum_acts = acts.sum(axis=(2, 3), keepdims=True)
    alpha = np.divide(g2, 2 * g2 + sum_acts * g3 + _PLUSPLUS_EPS, out=np.zeros_like(g2), where=grads != 0)
    # ReLU(g) * alpha, written as a select so that an infinite alpha at a negative g (a zero
    # denominator) gives 0 rather than 0 * inf = nan; elsewhere identical.
    weights = np.where(grads > 0, grads * alpha, 0.0).sum(axis=(2, 3))
    return _weighted(weights, acts)


def hirescam(activations, gradients) -> np.ndarray:
    """HiResCAM (Draelos & Carin 2020, "Use HiResCAM instead of Grad-CAM for faithful explanations
    of convolutional neural networks"): the gradient multiplies the activations elementwise instead
    of being averaged first, ``ReLU(sum_k g_k * A_k)`` position by position; for a model that ends
    in global average pooling and a linear layer it equals Grad-CAM."""
    acts, grads = _pair(activations, gradients)
    return np.maximum((grads * acts).sum(axis=1), 0.0)


def xgradcam(activations, gradients) -> np.ndarray:
    """XGrad-CAM (Fu et al. 2020, "Axiom-based Grad-CAM: Towards Accurate Visualization and
    Explanation of CNNs"): channel weights ``sum_ij(g * A) / (sum_ij(A) + 1e-7)``, the
    activation-weighted mean of the gradient; map ``ReLU(sum_k w_k A_k)``."""
    acts, grads = _pair(activations, gradients)
    weights = (grads * acts / (acts.sum(axis=(2, 3), keepdims=True) + _XGRAD_EPS)).sum(axis=(2, 3))
    return _weighted(weights, acts)


def layercam(activations, gradients) -> np.ndarray:
    """Layer-CAM (Jiang et al. 2021, "LayerCAM: Exploring Hierarchical Class Activation Maps for
    Localization"): each position keeps only positive gradients, ``sum_k ReLU(g_k) * A_k``, then a
    ReLU (which matters only where activations are negative, i.e. before a layer's ReLU)."""
    acts, grads = _pair(activations, gradients)
    return np.maximum((np.maximum(grads, 0.0) * acts).sum(axis=1), 0.0)


def eigencam(activations) -> np.ndarray:
    """Eigen-CAM (Muhammad & Yilmaz 2020, "Eigen-CAM: Class Activation Map using Principal
    Components"): per image, the activations as a ``(h*w, C)`` matrix, centred over positions, are
    projected on their first right singular vector; then ReLU. An SVD's sign is arbitrary (it may
    differ between LAPACK builds), so the projection is flipped, if needed, to correlate
    non-negatively with the channel-summed activation map; when that correlation is exactly zero,
    its entry of largest magnitude (the first such) is made positive. pytorch-grad-cam's
    ``get_2d_projection`` keeps whatever sign the SVD returns."""
    acts = np.nan_to_num(_four_d("activations", activations), nan=0.0)  # as get_2d_projection
    n, c, h, w = acts.shape
    maps = np.zeros((n, h, w))
    for i, a in enumerate(acts):
        x = a.reshape(c, h * w).T
        x = x - x.mean(axis=0)
        if not x.any():
            continue  # constant channels: no principal direction, a zero map
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        projection = x @ vt[0]
        # projection has zero mean, so its dot product with the summed map is their covariance.
        correlation = projection @ a.sum(axis=0).ravel()
        sign = np.sign(correlation) if correlation != 0 else np.sign(projection[np.argmax(np.abs(projection))])
        maps[i] = np.maximum(sign * projection, 0.0).reshape(h, w)
    return maps


def _class_score(logits: np.ndarray, class_index: int) -> np.ndarray:
    """Column ``class_index`` of ``(B, K)`` logits; a single-logit model's class 0 is the negated logit."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"adapter.scores must return (N, K) logits, got shape {logits.shape}")
    if logits.shape[1] == 1:
        if class_index not in (0, 1):
            raise ValueError(f"class_index must be 0 or 1 for a single-logit model, got {class_index}")
        return logits[:, 0] if class_index == 1 else -logits[:, 0]
    if not 0 <= class_index < logits.shape[1]:
        raise ValueError(f"class_index must be in [0, {logits.shape[1]}), got {class_index}")
    return logits[:, class_index]


def _positive_int(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _kept_channels(acts: np.ndarray, channels: int | None) -> np.ndarray:
    """``(N, k)`` channel indices, ascending, of the ``channels`` channels with the highest mean
    activation per image (ties: lower index first); all channels for ``None``."""
    n, c = acts.shape[:2]
    if channels is None or channels >= c:
        return np.tile(np.arange(c), (n, 1))
    ranked = np.argsort(-acts.mean(axis=(2, 3)), axis=1, kind="stable")
    return np.sort(ranked[:, :channels], axis=1)


def _masks(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(B, h, w)`` maps upsampled to ``(B, height, width)`` bilinearly with corners aligned (as
    ``torch.nn.UpsamplingBilinear2d``), each min-max scaled to [0, 1] with score_cam.py's epsilon."""
    h, w = maps.shape[1:]
    # grid_mode=False maps corner to corner, src = dst * (h-1)/(height-1): align_corners=True.
    # mode="nearest" only guards rounding at the last sample; all samples lie inside the grid.
    up = zoom(maps, (1, height / h, width / w), order=1, grid_mode=False, mode="nearest")
    lo, hi = up.min(axis=(1, 2), keepdims=True), up.max(axis=(1, 2), keepdims=True)
    return (up - lo) / (hi - lo + _SCORE_EPS)


def scorecam(adapter, images, activations, class_index, channels=None, batch_size=32) -> np.ndarray:
    """Score-CAM (Wang et al. 2020, "Score-CAM: Score-Weighted Visual Explanations for
    Convolutional Neural Networks"): each channel's activation map, upsampled to the image size
    (bilinear, corners aligned) and min-max scaled, masks the image; the class score of each masked
    image (``adapter.scores``, logits; a single-logit model's class 0 is the negated logit), passed
    through a softmax over channels, weighs that channel, and the map is ``ReLU(sum_k w_k A_k)``.
    ``channels`` keeps per image only the channels with the highest mean activation (ties: lower
    index first), the softmax runs over those and the rest weigh 0; ``None`` keeps all. Masked
    images go ``batch_size`` per ``adapter.scores`` call, across channels and images. Masking
    happens in the [0, 1] image space, which equals pytorch-grad-cam's masking of the normalised
    input tensor only when the model's normalisation is the identity (mean 0, std 1)."""
    images = image_batch(images)
    acts = _four_d("activations", activations)
    if len(acts) != len(images):
        raise ValueError(f"{len(images)} images but activations for {len(acts)}")
    if channels is not None:
        channels = _positive_int("channels", channels)
    batch_size = _positive_int("batch_size", batch_size)
    height, width = images.shape[1:3]
    kept = _kept_channels(acts, channels)
    pairs = [(i, k) for i in range(len(acts)) for k in kept[i]]  # image-major (image, channel) pairs
    scores = np.empty(len(pairs))
    for start in range(0, len(pairs), batch_size):
        rows, chans = map(np.asarray, zip(*pairs[start : start + batch_size]))
        masked = (images[rows] * _masks(acts[rows, chans], height, width)[..., None]).astype(np.float32)
        scores[start : start + len(rows)] = _class_score(adapter.scores(masked, batch_size), class_index)
    scores = scores.reshape(kept.shape)
    soft = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights = np.zeros(acts.shape[:2])
    np.put_along_axis(weights, kept, soft / soft.sum(axis=1, keepdims=True), axis=1)
    return _weighted(weights, acts)


GRADIENT_METHODS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "gradcam": gradcam,
    "gradcam_plus_plus": gradcam_plus_plus,
    "hirescam": hirescam,
    "xgradcam": xgradcam,
    "layercam": layercam,
}
