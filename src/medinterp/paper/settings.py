"""The settings of the paper's stages for one backbone, resolved and checked.

``resolve(params, "paper", spec)`` lays the registry's Table 1 values (epochs, learning rates,
optimizers), ``profiles.<data.profile>.paper`` and the ``paper`` block of params.yaml over each
other; :func:`from_params` turns that into typed values, so a typo stops a stage before any training.

The three variants of section 4.3 are fixed by name: ``vanilla`` (ImageNet weights, no
autoencoder), ``encoder-imagenet`` (autoencoder started from ImageNet weights) and
``encoder-random`` (autoencoder started from random weights). ``paper.weights`` says what an
ImageNet request loads: ``imagenet`` (Keras's file), ``random`` (the offline sample: requests for
ImageNet start from random weights, and every output says so) or a local weights file. Runs that
would start from the same weights in the same way are one run: with ``weights: random`` the two
encoder variants share one autoencoder and one classifier, and both rows say so (``same_run_as``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from medinterp import params as P
from medinterp import registry
from medinterp.datasets.brecahad import ANNOTATION_KEYS
from medinterp.errors import ConfigError
from medinterp.interpret.ira import CONSTANT_POLICIES
from medinterp.registry import ModelSpec
from medinterp.settings import need, resolve
from medinterp.training.loop import FitConfig


@dataclass(frozen=True)
class Variant:
    name: str
    autoencoder: bool        # classifier started from the pre-trained encoder
    weights: str             # what the variant asks for: imagenet | random

    @property
    def training(self) -> str:
        """Table 2's "Training" column."""
        return "encoder" if self.autoencoder else "vanilla"


VARIANTS = {v.name: v for v in (
    Variant("vanilla", False, "imagenet"),
    Variant("encoder-imagenet", True, "imagenet"),
    Variant("encoder-random", True, "random"),
)}


@dataclass(frozen=True)
class AutoencoderSettings:
    epochs: int
    learning_rate: float
    optimizer: str
    decoder_filters: int
    reconstructions: int     # validation images shown beside their reconstructions

    def fit_config(self) -> FitConfig:
        return FitConfig(epochs=self.epochs, learning_rate=self.learning_rate, monitor="val_loss", mode="min")


@dataclass(frozen=True)
class ClassifierSettings:
    epochs: int
    learning_rate: float
    optimizer: str
    head_units: int
    dropout: float
    monitor: str             # val_<metric> picking the kept epoch; losses minimised, anything else maximised
    balance_classes: bool

    def fit_config(self) -> FitConfig:
        mode = "min" if self.monitor.endswith("loss") else "max"
        return FitConfig(epochs=self.epochs, learning_rate=self.learning_rate, monitor=self.monitor, mode=mode)


@dataclass(frozen=True)
class EvaluateSettings:
    image_size: int          # BreCaHAD's input size: the training size unless set
    points: tuple[str, ...]  # annotation classes whose points count (the paper: tumor)
    constant_heatmap: str    # zero | skip (medinterp.interpret.ira)
    gradcam_layer: str       # the registry's unless set
    overlays: int            # BreCaHAD images drawn per row


SECTIONS = ("autoencoder", "classifier", "evaluate")


@dataclass(frozen=True)
class PaperSettings:
    backbone: str
    image_size: int
    weights: str             # what an ImageNet request loads: imagenet | random | a weights file or folder
    batch_size: int
    batchnorm_momentum: float | None
    augment: bool            # rotation and mirroring of the training images
    parity_tolerance: float  # largest |ONNX Runtime - Keras| output difference an export may show
    variants: tuple[Variant, ...]
    autoencoder: AutoencoderSettings
    classifier: ClassifierSettings
    evaluate: EvaluateSettings

    def init_for(self, requested: str) -> str:
        """The weights a request (``imagenet`` or ``random``) really starts from."""
        return "random" if requested == "random" else self.weights

    def encoder_tag(self, variant: Variant) -> str:
        """Which autoencoder an encoder variant starts from: ``random`` or ``imagenet`` (by the weights really loaded)."""
        return "random" if self.init_for(variant.weights) == "random" else "imagenet"

    def encoder_tags(self) -> list[str]:
        """The autoencoders to train, one per distinct starting point of the encoder variants."""
        return list(dict.fromkeys(self.encoder_tag(v) for v in self.variants if v.autoencoder))

    def runs(self) -> dict[str, str]:
        """Each variant -> the variant whose training it is: itself, or one that starts identically,
        preferring the variant that asked for the weights really used (``encoder-random`` when the
        sample gives ``encoder-imagenet`` random weights too)."""
        chosen: dict[tuple[bool, str], str] = {}
        for v in self.variants:
            key = (v.autoencoder, self.encoder_tag(v))
            if key not in chosen or v.weights == key[1]:
                chosen[key] = v.name
        return {v.name: chosen[(v.autoencoder, self.encoder_tag(v))] for v in self.variants}

    def as_dict(self, *sections: str) -> dict[str, Any]:
        """The settings shared by every stage, plus the named sections (``autoencoder``, ``classifier``,
        ``evaluate``): what a stage records is what it used."""
        out = asdict(self)
        out["variants"] = [v.name for v in self.variants]
        out["evaluate"]["points"] = list(self.evaluate.points)
        return {k: v for k, v in out.items() if k not in SECTIONS or k in sections}


def backbones(params: dict[str, Any]) -> list[str]:
    names = P.get(params, "paper.backbones")
    if not isinstance(names, list) or not names:
        raise ConfigError(f"params.yaml: paper.backbones should be a list of keras models, found {names!r}")
    return [str(n) for n in names]


def from_params(params: dict[str, Any], backbone: str) -> tuple[ModelSpec, PaperSettings, int]:
    """The registry spec, the settings and the seed of ``backbone`` (a keras model name)."""
    if backbone not in backbones(params):
        raise ConfigError(f"'{backbone}' is not in paper.backbones {backbones(params)}")
    spec = registry.get(backbone, "keras")
    return spec, settings(resolve(params, "paper", spec), spec), int(P.get(params, "seed"))


def settings(resolved: dict[str, Any], spec: ModelSpec) -> PaperSettings:
    """Typed settings from ``resolve(params, "paper", spec)``."""

    def block(key: str) -> dict:
        found = resolved.get(key)
        if not isinstance(found, dict):
            raise ConfigError(f"params.yaml: paper.{key} should be a mapping, found {found!r}")
        return found

    def phase(source: dict, at: str) -> dict:
        """Table 1's three settings of a training phase."""
        return {"epochs": int(need(source, "epochs", at)), "learning_rate": float(need(source, "learning_rate", at)),
                "optimizer": str(need(source, "optimizer", at))}

    names = need(resolved, "variants", "paper")
    unknown = [n for n in names if n not in VARIANTS] if isinstance(names, list) else names
    if not isinstance(names, list) or unknown or not names:
        raise ConfigError(f"params.yaml: paper.variants should be a list drawn from {list(VARIANTS)}, found {names!r}")
    ae, clf, ev = block("autoencoder"), block("classifier"), block("evaluate")
    momentum = resolved.get("batchnorm_momentum")
    out = PaperSettings(
        backbone=spec.name,
        image_size=int(need(resolved, "image_size", "paper")),
        weights=str(need(resolved, "weights", "paper")),
        batch_size=int(need(resolved, "batch_size", "paper")),
        batchnorm_momentum=None if momentum is None else float(momentum),
        augment=bool(need(resolved, "augment", "paper")),
        parity_tolerance=float(need(resolved, "parity_tolerance", "paper")),
        variants=tuple(VARIANTS[n] for n in dict.fromkeys(names)),
        autoencoder=AutoencoderSettings(
            **phase(ae, "paper.autoencoder"),
            decoder_filters=int(need(ae, "decoder_filters", "paper.autoencoder")),
            reconstructions=int(need(ae, "reconstructions", "paper.autoencoder")),
        ),
        classifier=ClassifierSettings(
            **phase(clf, "paper.classifier"),
            head_units=int(need(clf, "head_units", "paper.classifier")),
            dropout=float(need(clf, "dropout", "paper.classifier")),
            monitor=str(need(clf, "monitor", "paper.classifier")),
            balance_classes=bool(need(clf, "balance_classes", "paper.classifier")),
        ),
        evaluate=EvaluateSettings(
            image_size=int(ev.get("image_size") or need(resolved, "image_size", "paper")),
            points=tuple(str(p) for p in need(ev, "points", "paper.evaluate")),
            constant_heatmap=str(need(ev, "constant_heatmap", "paper.evaluate")),
            gradcam_layer=str(ev.get("gradcam_layer") or spec.gradcam_layer),
            overlays=int(need(ev, "overlays", "paper.evaluate")),
        ),
    )
    _check(out)
    return out


def _check(s: PaperSettings) -> None:
    for name, value, low in (("paper.image_size", s.image_size, 32), ("paper.evaluate.image_size", s.evaluate.image_size, 32),
                             ("paper.batch_size", s.batch_size, 2),
                             ("paper.autoencoder.epochs", s.autoencoder.epochs, 1), ("paper.classifier.epochs", s.classifier.epochs, 1),
                             ("paper.autoencoder.decoder_filters", s.autoencoder.decoder_filters, 1),
                             ("paper.classifier.head_units", s.classifier.head_units, 1)):
        if value < low:
            raise ConfigError(f"params.yaml: {name} is {value}, expected at least {low}")
    if not 0.0 <= s.classifier.dropout < 1.0:
        raise ConfigError(f"params.yaml: paper.classifier.dropout is {s.classifier.dropout}, expected 0 <= dropout < 1")
    if not s.classifier.monitor.startswith("val_"):
        raise ConfigError(f"params.yaml: paper.classifier.monitor should name a validation metric (val_loss, val_accuracy), "
                          f"found {s.classifier.monitor!r}")
    if s.evaluate.constant_heatmap not in CONSTANT_POLICIES:
        raise ConfigError(f"params.yaml: paper.evaluate.constant_heatmap is '{s.evaluate.constant_heatmap}', "
                          f"expected one of {list(CONSTANT_POLICIES)}")
    unknown = [p for p in s.evaluate.points if p not in ANNOTATION_KEYS]
    if not s.evaluate.points or unknown:
        raise ConfigError(f"params.yaml: paper.evaluate.points is {list(s.evaluate.points)}; name the annotation classes "
                          f"whose points count, from {list(ANNOTATION_KEYS)}")
