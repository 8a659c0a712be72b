"""The ISIC tasks' framework-free parts: class weights, folds, the cross-validation protocol, ROC
tables, the settings a stage runs with, and the refusal of keras models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO
from sklearn import metrics as sk
from sklearn.utils.class_weight import compute_class_weight

from medinterp import params
from medinterp.errors import ConfigError
from medinterp.evaluation.curves import macro_roc_table, roc_table
from medinterp.evaluation.scalars import mean_std
from medinterp.isic.crossval import cross_validate, fold_indices
from medinterp.isic.predictions import predictions_table
from medinterp.preprocessing.arrays import ImageTable
from medinterp.training import class_weights
from medinterp.training.loop import FitConfig, FitResult


def test_balanced_weights_match_sklearn():
    labels = np.array([0] * 30 + [1] * 7 + [2] * 3)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    assert class_weights.balanced(labels, 3) == pytest.approx(expected)
    with pytest.raises(ConfigError, match=r"\[2\] have no training images"):
        class_weights.balanced([0, 1, 1], 3)


def test_manual_weights_run_from_rarest_to_most_frequent():
    labels = np.repeat(np.arange(8), [50, 200, 30, 10, 40, 5, 20, 15])  # class 5 rarest, class 1 most frequent
    weights = class_weights.by_frequency_rank(labels, 8, 0.9, 0.2)
    assert weights[5] == pytest.approx(0.9) and weights[1] == pytest.approx(0.2)
    order = np.argsort([50, 200, 30, 10, 40, 5, 20, 15])
    assert np.all(np.diff(weights[order]) < 0)  # evenly falling with frequency
    assert np.diff(weights[order]) == pytest.approx(np.full(7, -0.1))
    tied = class_weights.by_frequency_rank([0, 0, 1, 1, 2], 3, 0.9, 0.2)  # classes 0 and 1 share ranks 2 and 3
    assert tied == pytest.approx([0.375, 0.375, 0.9])


def test_manual_weights_by_mapping_or_range():
    names = ["a", "b"]
    assert class_weights.manual([0, 1, 1], names, {"a": 0.7, "b": 0.1}, None, "x") == pytest.approx([0.7, 0.1])
    assert class_weights.manual([0, 1, 1], names, None, [0.9, 0.2], "x") == pytest.approx([0.9, 0.2])
    with pytest.raises(ConfigError, match="missing \\['b'\\]"):
        class_weights.manual([0, 1], names, {"a": 1.0}, None, "isic.multiclass")
    with pytest.raises(ConfigError, match="class_weight_range"):
        class_weights.manual([0, 1], names, None, [0.9], "isic.multiclass")


def test_fold_indices_partition_the_rows():
    folds = np.array([0, 1, 2, 0, 1, 2, 2])
    for k in range(3):
        train, val = fold_indices(folds, k)
        assert set(train) | set(val) == set(range(7)) and not set(train) & set(val)
        assert (folds[val] == k).all() and (folds[train] != k).all()


class FakeTrained:
    """A "model" that predicts a fixed probability per image, from the image's first pixel."""

    def __init__(self, fold, quality):
        self.fit = FitResult(
            best_epoch=fold + 1,
            best={"train_loss": 0.1 * fold, "train_accuracy": 0.5, "val_loss": 1.0 - quality},
            history=[{}] * (fold + 1),
        )
        self.class_weights = [1.0, 2.0]
        self.train_images_per_second = 10.0 + fold
        self.quality = quality

    def predict(self, images):
        truth = images[:, 0, 0, 0].astype(float) / 255.0  # the label is written into the pixel
        return np.clip(self.quality * truth + (1 - self.quality) * 0.5, 0, 1)


def _table(labels, folds=None):
    images = np.zeros((len(labels), 2, 2, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = np.asarray(labels) * 255
    frame = pd.DataFrame(
        {
            "image": [f"img{i}.jpg" for i in range(len(labels))],
            "image_id": [f"img{i}" for i in range(len(labels))],
            "label": labels,
        }
    )
    if folds is not None:
        frame["fold"] = folds
    return ImageTable(frame, images)


def test_cross_validation_collects_out_of_fold_predictions_and_keeps_the_best_fold():
    labels = np.array([0, 1] * 6)
    table = _table(labels, np.repeat([0, 1, 2], 4))
    test = _table(np.array([0, 0, 1]))
    quality = {0: 0.2, 1: 0.9, 2: 0.5}
    seen = []

    def train_fold(fold, train_index, val_index):
        seen.append((fold, set(train_index), set(val_index)))
        return FakeTrained(fold, quality[fold])

    cv = cross_validate(table, test, ["benign", "malignant"], train_fold, best_by="val_loss")
    assert [s[0] for s in seen] == [0, 1, 2] and all(not (t & v) for _, t, v in seen)
    assert cv.best_fold == 1 and cv.best.quality == 0.9  # lowest val_loss = 1 - quality
    assert cv.test_prob == pytest.approx(FakeTrained(1, 0.9).predict(test.images))
    for fold, q in quality.items():  # every row predicted by its own fold's model
        rows = table.frame["fold"] == fold
        assert cv.val_prob[rows] == pytest.approx(FakeTrained(fold, q).predict(table.images[rows.to_numpy()]))
    assert cv.summary["train_loss_mean"] == pytest.approx(0.1) and cv.summary["train_loss_std"] == pytest.approx(
        np.std([0, 0.1, 0.2])
    )
    assert cv.folds[0]["val_tn"] + cv.folds[0]["val_fp"] == 2 and cv.folds[0]["class_weight_malignant"] == 2.0
    assert "class_weight_malignant_mean" not in cv.summary
    assert (
        cross_validate(table, test, ["benign", "malignant"], train_fold, best_by="val_roc_auc").best_fold == 0
    )  # ties: all AUC 1


def test_mean_std_skips_missing_values():
    out = mean_std([{"a": 1.0, "b": 2.0}, {"a": 3.0}])
    assert out == {"a_mean": 2.0, "a_std": 1.0, "b_mean": 2.0, "b_std": 0.0}


def test_roc_tables_match_sklearn():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 80)
    score = (0.4 * y + rng.random(80)).round(1)
    fpr, tpr, _ = sk.roc_curve(y, score, drop_intermediate=False)
    table = roc_table(y, score)
    assert table["fpr"].to_numpy() == pytest.approx(fpr) and table["tpr"].to_numpy() == pytest.approx(tpr)

    y3 = rng.integers(0, 4, 200)
    prob = rng.random((200, 4)) + np.eye(4)[y3] * 0.6
    prob = (prob / prob.sum(axis=1, keepdims=True)).round(2)
    macro = macro_roc_table(y3, prob, points=20001)
    area = np.trapezoid(macro["tpr"], macro["fpr"])
    assert area == pytest.approx(
        sk.roc_auc_score(y3, prob / prob.sum(axis=1, keepdims=True), multi_class="ovr", average="macro"), abs=1e-3
    )
    assert macro["tpr"].iloc[0] >= 0 and macro["tpr"].iloc[-1] == pytest.approx(1.0)


def test_predictions_table_names_classes_and_probabilities():
    frame = pd.DataFrame({"image": ["a.jpg", "b.jpg"], "image_id": ["a", "b"], "label": [0, 1]})
    binary = predictions_table(frame, np.array([0.7, 0.2]), ["benign", "malignant"], {"fold": [3, 4]})
    assert binary.columns.tolist() == ["image", "image_id", "fold", "label", "actual", "predicted", "prob_malignant"]
    assert binary["predicted"].tolist() == ["malignant", "benign"]
    multi = predictions_table(frame, np.array([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]]), ["x", "y", "z"])
    assert multi["predicted"].tolist() == ["z", "x"] and multi["prob_y"].tolist() == [0.2, 0.3]


def from_params(raw, task):
    """Settings of ``raw["model"]`` as the only entry of ``models``."""
    config = params.validate({**raw, "models": [raw["model"]]})
    return config.model_spec(), config.isic_task(task), config.seed


def test_repository_params_resolve_for_every_torch_model():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for name in ("alexnet", "vgg16", "resnet50", "densenet201", "mobilenet_v2"):
        spec, settings, seed = from_params({**params, "model": name}, "binary")
        assert spec.family == "torch" and settings.image_size == 64 and settings.weights == "random"
        assert FitConfig.of(settings).plateau_factor == 0.4 and settings.early_stopping_patience == 10
        assert settings.learning_rate == 0.001 and settings.freeze == ["classifier"]
    full = {**params, "data": {**params["data"], "profile": "full"}}
    _, alexnet, _ = from_params({**full, "model": "alexnet"}, "binary")
    assert (alexnet.epochs, alexnet.batch_size, alexnet.image_size, alexnet.weights) == (15, 32, 224, "imagenet")
    assert alexnet.learning_rate == 0.0001
    _, vgg, _ = from_params({**full, "model": "vgg16"}, "multiclass")
    assert (vgg.epochs, vgg.plateau_factor, vgg.plateau_patience, FitConfig.of(vgg).mode) == (45, 0.2, 2, "min")


def test_model_and_family_pick_the_registry_entry():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert from_params({**params, "model": "nasnet_mobile"}, "binary")[0].family == "keras"
    assert from_params({**params, "model": "densenet201"}, "binary")[0].family == "torch"
    assert from_params({**params, "model": "densenet201", "family": "keras"}, "binary")[0].family == "keras"
    with pytest.raises(ConfigError, match="alexnet"):
        from_params({**params, "model": "alexnet", "family": "keras"}, "binary")


def test_bad_settings_are_named():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["isic"]["binary"]["freeze"] = "classifier"
    with pytest.raises(ConfigError, match="isic.binary.freeze is 'classifier': should be a valid list"):
        from_params(params, "binary")
    params["isic"]["binary"]["freeze"] = []
    params["isic"]["augment"]["scale"] = [1.2, 0.8]
    with pytest.raises(ConfigError, match=r"isic.augment.scale is \[1.2, 0.8\]: should be \[low, high\]"):
        from_params(params, "binary")
