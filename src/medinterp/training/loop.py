"""The epoch loop both families share: best epoch kept, early stopping, ReduceLROnPlateau, dvclive.

A family adapter (Keras or PyTorch) implements :class:`Trainable`; everything about *when* to stop,
which epoch to keep and how the learning rate falls is decided here, once. Given a
:class:`~medinterp.training.resume.ResumeFile`, :func:`fit` saves its state after every epoch and
continues an interrupted run from there (:mod:`medinterp.training.resume`).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any, Protocol

from tqdm import tqdm

from medinterp.training.resume import ResumeFile


class Trainable(Protocol):
    def train_epoch(self, epoch: int) -> dict[str, float]:
        """Run one epoch over the training data; return its metrics (at least ``loss``)."""

    def evaluate(self) -> dict[str, float]:
        """Metrics on the validation data (at least ``loss``)."""

    def get_state(self) -> Any:
        """A copy of the weights, to restore the best epoch later."""

    def set_state(self, state: Any) -> None: ...

    def set_learning_rate(self, lr: float) -> None: ...

    def training_state(self) -> dict[str, Any]:
        """Everything an interrupted fit needs to continue bit-identically from the end of the last
        completed epoch (weights, optimizer state, random-number streams), as picklable plain
        Python/numpy values. Only called when :func:`fit` is given a resume file."""

    def set_training_state(self, state: dict[str, Any]) -> None: ...


class MetricLogger(Protocol):
    """What the loop needs of ``dvclive.Live``."""

    def log_metric(self, name: str, value: float) -> None: ...

    def next_step(self) -> None: ...


def improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value < best - min_delta if mode == "min" else value > best + min_delta


@dataclass
class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement.

    Same rule as ``torch.optim.lr_scheduler.ReduceLROnPlateau`` with ``threshold=0`` and
    ``cooldown=0``: the counter of bad epochs resets when the rate is reduced.
    """

    lr: float
    factor: float
    patience: int
    mode: str = "min"
    min_lr: float = 0.0
    best: float | None = None
    bad_epochs: int = 0

    def step(self, value: float) -> float:
        if improved(value, self.best, self.mode):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.patience:
                self.lr = max(self.min_lr, self.lr * self.factor)
                self.bad_epochs = 0
        return self.lr


def direction(metric: str) -> str:
    """``min`` for a loss, ``max`` for every other metric: the one place this rule is written."""
    return "min" if metric.endswith("loss") else "max"


@dataclass
class FitConfig:
    epochs: int
    learning_rate: float
    monitor: str = "val_loss"  # a key of evaluate() prefixed with "val_"
    mode: str = ""  # "min" for losses, "max" for accuracies; "": by the monitor's name
    early_stopping_patience: int | None = None
    plateau_factor: float | None = None
    plateau_patience: int | None = None

    @classmethod
    def of(cls, settings: Any) -> FitConfig:
        """The fit of a settings block (``params.IsicTask``, ``params.PaperClassifier``, ...): its
        epochs, learning rate and monitor, and the patience fields where the block has them."""
        return cls(
            epochs=settings.epochs,
            learning_rate=settings.learning_rate,
            monitor=settings.monitor,
            early_stopping_patience=getattr(settings, "early_stopping_patience", None),
            plateau_factor=getattr(settings, "plateau_factor", None),
            plateau_patience=getattr(settings, "plateau_patience", None),
        )

    def __post_init__(self):
        self.mode = self.mode or direction(self.monitor)
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {self.mode!r}")


@dataclass
class FitResult:
    best_epoch: int  # 1-based
    best: dict[str, float]  # the metrics of the kept epoch
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def epochs_run(self) -> int:
        return len(self.history)


def _log(logger: MetricLogger | None, prefix: str, row: dict[str, float]) -> None:
    if logger is not None:
        for key, value in row.items():
            if key != "epoch":
                logger.log_metric(prefix + key, value)
        logger.next_step()


def fit(
    model: Trainable,
    config: FitConfig,
    logger: MetricLogger | None = None,
    prefix: str = "",
    desc: str = "train",
    resume: ResumeFile | None = None,
) -> FitResult:
    """Train for up to ``config.epochs`` epochs and leave ``model`` at its best epoch.

    Each epoch logs ``<prefix>train_<metric>``, ``<prefix>val_<metric>`` and ``<prefix>lr`` to
    ``logger`` (one dvclive step per epoch). The best epoch is the first with the best
    ``config.monitor``; early stopping ends training ``early_stopping_patience`` epochs after it.

    With ``resume``, the state after each epoch is saved there; a matching saved state is restored
    first (its epochs replayed to ``logger``) and training continues from the epoch after it, so
    the result, the logged metrics and the weights are those of an uninterrupted run. A finished
    run's file is kept (its stage deletes it once all its runs are done) and restores the result at once.
    """
    schedule = None
    if config.plateau_factor is not None and config.plateau_patience is not None:
        schedule = ReduceLROnPlateau(config.learning_rate, config.plateau_factor, config.plateau_patience, config.mode)
    lr = config.learning_rate
    history: list[dict[str, float]] = []
    best_value: float | None = None
    best_state, best_epoch, since_best = None, 0, 0
    stopped = False
    saved = resume.load() if resume is not None else None
    if saved is not None:
        history, lr, stopped = saved["history"], saved["lr"], saved["stopped"]
        best_value, best_state, best_epoch, since_best = (
            saved["best_value"],
            saved["best_state"],
            saved["best_epoch"],
            saved["since_best"],
        )
        if schedule is not None:
            schedule.lr, schedule.best, schedule.bad_epochs = saved["schedule"]
        model.set_training_state(saved["model"])
        for row in history:
            _log(logger, prefix, row)
        tqdm.write(f"resuming {desc} after epoch {len(history)} of {config.epochs} ({resume.path})", file=sys.stderr)
    model.set_learning_rate(lr)
    done = len(history) if not stopped else config.epochs
    bar = tqdm(range(done + 1, config.epochs + 1), desc=desc, unit="epoch", initial=done, total=config.epochs)
    for epoch in bar:
        row = {"epoch": epoch, "lr": lr}
        row |= {f"train_{k}": float(v) for k, v in model.train_epoch(epoch).items()}
        row |= {f"val_{k}": float(v) for k, v in model.evaluate().items()}
        if config.monitor not in row:
            raise KeyError(f"monitor '{config.monitor}' is not among the epoch's metrics {sorted(row)}")
        history.append(row)
        _log(logger, prefix, row)
        bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k.startswith(("train_loss", "val_"))})
        value = row[config.monitor]
        if improved(value, best_value, config.mode) or best_state is None:
            best_value, best_state, best_epoch, since_best = value, model.get_state(), epoch, 0
        else:
            since_best += 1
        stopped = config.early_stopping_patience is not None and since_best >= config.early_stopping_patience
        if schedule is not None and not stopped:
            new_lr = schedule.step(value)
            if new_lr != lr:
                lr = new_lr
                model.set_learning_rate(lr)
        if resume is not None:
            resume.save(
                {
                    "history": history,
                    "lr": lr,
                    "stopped": stopped,
                    "best_value": best_value,
                    "best_state": best_state,
                    "best_epoch": best_epoch,
                    "since_best": since_best,
                    "schedule": None if schedule is None else (schedule.lr, schedule.best, schedule.bad_epochs),
                    "model": model.training_state(),
                }
            )
        if stopped:
            break
    bar.close()
    model.set_state(best_state)
    return FitResult(best_epoch, history[best_epoch - 1], history, stopped)
