"""The shared epoch loop: best epoch kept, early stopping, learning-rate schedule, logging."""

from __future__ import annotations

import pytest
import torch

from medinterp.training.loop import FitConfig, ReduceLROnPlateau, fit


class Scripted:
    """A fake model whose validation losses follow a script; its "weights" are the epoch number."""

    def __init__(self, val_losses):
        self.val_losses = list(val_losses)
        self.epoch = 0
        self.state = None
        self.lrs = []

    def train_epoch(self, epoch):
        self.epoch = epoch
        return {"loss": 1.0 / epoch}

    def evaluate(self):
        return {"loss": self.val_losses[self.epoch - 1], "accuracy": 1 - self.val_losses[self.epoch - 1]}

    def get_state(self):
        return self.epoch

    def set_state(self, state):
        self.state = state

    def set_learning_rate(self, lr):
        self.lrs.append(lr)


class Recorder:
    def __init__(self):
        self.rows, self.step = [], 0

    def log_metric(self, name, value):
        self.rows.append((self.step, name, value))

    def next_step(self):
        self.step += 1


def test_best_epoch_is_restored_and_logged():
    model, log = Scripted([0.9, 0.5, 0.7, 0.6]), Recorder()
    result = fit(model, FitConfig(epochs=4, learning_rate=0.1), log, prefix="fold0/")
    assert result.best_epoch == 2 and model.state == 2
    assert result.best["val_loss"] == 0.5 and result.epochs_run == 4 and not result.stopped_early
    assert (1, "fold0/val_loss", 0.5) in log.rows and log.step == 4
    assert {name for _, name, _ in log.rows} == {"fold0/lr", "fold0/train_loss", "fold0/val_loss", "fold0/val_accuracy"}


def test_maximised_monitor_picks_highest_accuracy():
    model = Scripted([0.9, 0.5, 0.3, 0.6])
    result = fit(model, FitConfig(epochs=4, learning_rate=0.1, monitor="val_accuracy", mode="max"))
    assert result.best_epoch == 3 and model.state == 3


def test_early_stopping_after_patience_epochs_without_improvement():
    model = Scripted([0.5, 0.6, 0.7, 0.8, 0.9, 0.1])
    result = fit(model, FitConfig(epochs=6, learning_rate=0.1, early_stopping_patience=2))
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1


def test_plateau_schedule_matches_torch():
    losses = [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8]
    ours = ReduceLROnPlateau(lr=0.1, factor=0.4, patience=1)
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.4, patience=1, threshold=0.0)
    for loss in losses:
        theirs.step(loss)
        assert ours.step(loss) == pytest.approx(opt.param_groups[0]["lr"])
    assert ours.lr == pytest.approx(0.1 * 0.4**2)  # reduced after 0.96 and after 0.7


def test_fit_applies_the_schedule_to_the_model():
    model = Scripted([1.0, 1.1, 1.2, 1.3])
    fit(model, FitConfig(epochs=4, learning_rate=0.01, plateau_factor=0.5, plateau_patience=1))
    assert model.lrs == pytest.approx([0.01, 0.005])


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        FitConfig(epochs=0, learning_rate=0.1)
    with pytest.raises(KeyError, match="monitor"):
        fit(Scripted([0.1]), FitConfig(epochs=1, learning_rate=0.1, monitor="val_auc"))
