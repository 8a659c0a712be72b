"""The settings of one ISIC task (``binary`` or ``multiclass``), resolved and checked.

``resolve(params, "isic", spec)`` lays the registry's per-model values (the thesis's Table 4:
epochs, batch size), ``profiles.<data.profile>.isic`` and the ``isic`` block of params.yaml over
each other; :func:`task_settings` picks the task's block out of that, checks it, and turns it into
typed values, so a typo in params.yaml stops the stage before any training starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from medinterp import params as P
from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.registry import ModelSpec
from medinterp.settings import need, resolve
from medinterp.training.loop import FitConfig

TASKS = ("binary", "multiclass")
INIT_CHOICES = ("imagenet", "random")   # anything else is a path to a weights file


@dataclass(frozen=True)
class Augment:
    """Training augmentation, the thesis's section 3.4 (Perez et al. 2018)."""

    crop_scale: tuple[float, float]      # share of the image's area a random crop keeps
    crop_ratio: tuple[float, float]      # aspect ratios of that crop
    rotation: float                      # degrees, either way
    shear: float                         # degrees, either way
    scale: tuple[float, float]           # zoom factors
    flips: bool                          # horizontal and vertical, each with probability 1/2
    brightness: tuple[float, float]
    contrast: tuple[float, float]
    saturation: tuple[float, float]
    hue: tuple[float, float]             # shift, as a fraction of the hue circle


@dataclass(frozen=True)
class TaskSettings:
    task: str
    image_size: int
    weights: str                         # imagenet | random | path to a weights file
    loader_workers: int
    epochs: int
    batch_size: int
    learning_rate: float
    plateau_factor: float
    plateau_patience: int
    early_stopping_patience: int
    monitor: str                         # val_<metric>; losses are minimised, anything else maximised
    dropout: float
    freeze: tuple[str, ...]
    augment: Augment

    @property
    def mode(self) -> str:
        return "min" if self.monitor.endswith("loss") else "max"

    def fit_config(self) -> FitConfig:
        return FitConfig(
            epochs=self.epochs, learning_rate=self.learning_rate, monitor=self.monitor, mode=self.mode,
            early_stopping_patience=self.early_stopping_patience,
            plateau_factor=self.plateau_factor, plateau_patience=self.plateau_patience,
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["freeze"] = list(self.freeze)
        out["augment"] = {k: list(v) if isinstance(v, tuple) else v for k, v in out["augment"].items()}
        return out


def from_params(params: dict[str, Any], task: str) -> tuple[ModelSpec, TaskSettings, int]:
    """The model (``model=`` and ``family=`` through the registry), the task's settings and the seed
    a stage of ``task`` runs with; a name the registry lacks fails here, before anything is loaded."""
    spec = registry.get(str(P.get(params, "model")), str(P.get(params, "family")))
    return spec, task_settings(resolve(params, "isic", spec), task), int(P.get(params, "seed"))


def task_settings(resolved: dict[str, Any], task: str) -> TaskSettings:
    """Typed settings of ``task`` from ``resolve(params, "isic", spec)``."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    block = resolved.get(task) or {}
    where = f"isic.{task}"

    aug = need(resolved, "augment", "isic")
    augment = Augment(
        crop_scale=_pair(need(aug, "crop_scale", "isic.augment"), "isic.augment.crop_scale"),
        crop_ratio=_pair(need(aug, "crop_ratio", "isic.augment"), "isic.augment.crop_ratio"),
        rotation=float(need(aug, "rotation", "isic.augment")),
        shear=float(need(aug, "shear", "isic.augment")),
        scale=_pair(need(aug, "scale", "isic.augment"), "isic.augment.scale"),
        flips=bool(need(aug, "flips", "isic.augment")),
        brightness=_pair(need(aug, "brightness", "isic.augment"), "isic.augment.brightness"),
        contrast=_pair(need(aug, "contrast", "isic.augment"), "isic.augment.contrast"),
        saturation=_pair(need(aug, "saturation", "isic.augment"), "isic.augment.saturation"),
        hue=_pair(need(aug, "hue", "isic.augment"), "isic.augment.hue"),
    )
    freeze = need(block, "freeze", where)
    if not isinstance(freeze, list) or not all(isinstance(f, str) for f in freeze):
        raise ConfigError(f"params.yaml: {where}.freeze should be a list of layer names (or []), found {freeze!r}")
    monitor = str(need(block, "monitor", where))
    if not monitor.startswith("val_"):
        raise ConfigError(f"params.yaml: {where}.monitor should name a validation metric (val_loss, val_roc_auc, ...), found {monitor!r}")
    settings = TaskSettings(
        task=task,
        image_size=int(need(resolved, "image_size", "isic")),
        weights=str(need(resolved, "weights", "isic")),
        loader_workers=int(need(resolved, "loader_workers", "isic")),
        epochs=int(need(block, "epochs", where)),
        batch_size=int(need(block, "batch_size", where)),
        learning_rate=float(need(block, "learning_rate", where)),
        plateau_factor=float(need(block, "plateau_factor", where)),
        plateau_patience=int(need(block, "plateau_patience", where)),
        early_stopping_patience=int(need(block, "early_stopping_patience", where)),
        monitor=monitor,
        dropout=float(need(block, "dropout", where)),
        freeze=tuple(freeze),
        augment=augment,
    )
    for name, value, low in (("epochs", settings.epochs, 1), ("batch_size", settings.batch_size, 2), ("image_size", settings.image_size, 16)):
        if value < low:
            raise ConfigError(f"params.yaml: {name} of isic.{task} is {value}, expected at least {low}")
    if not 0.0 <= settings.dropout < 1.0:
        raise ConfigError(f"params.yaml: {where}.dropout is {settings.dropout}, expected 0 <= dropout < 1")
    return settings


def _pair(value: Any, where: str) -> tuple[float, float]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value) and value[0] <= value[1]):
        raise ConfigError(f"params.yaml: {where} should be [low, high] with low <= high, found {value!r}")
    return float(value[0]), float(value[1])
