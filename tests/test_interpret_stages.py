"""The interpretation stages end to end on tiny generated data and tiny checkpoints made here:
interpret_outliers, interpret_filters, interpret_featurevis and interpret_sanity, their outputs
checked against direct computations; and the checkpoint -> adapter step of either family."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO
from PIL import Image

from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.interpret.filter_report import filter_statistics
from medinterp.interpret.image_sets import ImageSet, outlier_subset
from medinterp.interpret.outlier_report import example_rows
from medinterp.interpret.sanity import pick_layers
from medinterp.interpret.sanity_report import natural_rows
from medinterp.models.checkpoint import REQUIRED_INFO, save
from medinterp.models.loading import load_adapter
from medinterp.models.torch.build import build
from medinterp.models.torch.checkpoint import load_checkpoint, save_checkpoint
from medinterp.models.torch.transforms import IMAGENET_MEAN, IMAGENET_STD, to_input
from medinterp.preprocessing.arrays import ImageTable
from medinterp.stages import (
    interpret_featurevis,
    interpret_filters,
    interpret_outliers,
    interpret_sanity,
    prepare,
    split,
)

MODEL = "mobilenet_v2"
SIZE = 32
FOLD = 1  # the tiny data's fold 1 has images above and below MIN_SHARE
MIN_SHARE = 0.1
QUANTILE = 0.5
TOP_K = 3
SEED = 3
FIRST, LAST = "features.0.0", "features.18.0"  # the registry's first and last convolutional layers of mobilenet_v2


def _params(data) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["root"] = str(data)
    params["split"]["isic_multiclass"].update(test_fraction=0.34, val_fraction=0.5)
    params.update(models=[MODEL], model=MODEL)
    sample = params["profiles"]["sample"]
    sample["paper"]["image_size"] = SIZE
    sample["isic"]["image_size"] = SIZE
    sample["interpret"] = {
        "featurevis": {"steps": 4, "top_n": 2},
        "sanity": {"layers": 2, "natural_images": 2, "top_n": 1},
    }
    interpret = params["interpret"]
    interpret["batch_size"] = 8
    interpret["outliers"].update(min_share=MIN_SHARE, examples=3)
    interpret["filters"].update(quantile=QUANTILE, top_k=TOP_K, heatmap_top=2)
    interpret["featurevis"]["regularizers"]["bilateral"]["every"] = 2
    return params


def _checkpoint(path, task: str, class_names: list[str]) -> None:
    """A random mobilenet_v2 whose weights are then moved off their initialisation, standing in for
    a fine-tuned model (the initial network must differ from it)."""
    torch.manual_seed(SEED)
    built = build(registry.get(MODEL), 1 if len(class_names) == 2 else len(class_names), "random", 0.1)
    with torch.no_grad():
        for parameter in built.model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    info = {
        "architecture": MODEL,
        "family": "torch",
        "task": task,
        "class_names": class_names,
        "num_outputs": 1 if len(class_names) == 2 else len(class_names),
        "image_size": SIZE,
        "normalisation": {"layout": "NCHW", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "init_used": "random",
        "seed": SEED,
        "settings": {"weights": "random"},
        "dropout": 0.1,
    }
    save_checkpoint(path, built.model, info)


@pytest.fixture(scope="module")
def workdir(tiny_data, tmp_path_factory):
    """Split and prepare on the tiny data, two tiny checkpoints and the binary report's fold, then
    the four interpretation stages."""
    work = tmp_path_factory.mktemp("interpret")
    params = _params(tiny_data)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        split.main()
        prepare.main()
        _checkpoint(work / "models/isic/mobilenet_v2/binary/checkpoint.npz", "binary", ["benign", "malignant"])
        _checkpoint(
            work / "models/isic/mobilenet_v2/multiclass/checkpoint.npz",
            "multiclass",
            params["split"]["isic_multiclass"]["classes"],
        )
        (work / "metrics/isic/mobilenet_v2").mkdir(parents=True)
        (work / "metrics/isic/mobilenet_v2/binary.json").write_text(
            json.dumps({"image_size": SIZE, "test": {"fold": FOLD}})
        )
        patch.setattr(sys, "argv", ["stage", MODEL])  # the ${item} of the foreach stages
        for stage in (interpret_outliers, interpret_filters, interpret_featurevis, interpret_sanity):
            stage.main()
    return work


def _pngs(workdir, *names):
    for name in names:
        with Image.open(workdir / "plots/interpret/mobilenet_v2" / f"{name}.png") as image:
            assert image.format == "PNG" and min(image.size) > 100


def _fold(workdir) -> tuple[pd.DataFrame, np.ndarray]:
    table = pd.read_csv(workdir / "splits/isic_binary.csv")
    rows = (table["fold"] == FOLD).to_numpy()
    return table[rows].reset_index(drop=True), np.load(workdir / "arrays/isic_binary.npy")[rows]


def test_outliers_stage_lists_the_validation_fold(workdir):
    fold, images = _fold(workdir)
    listed = pd.read_csv(workdir / "metrics/interpret/mobilenet_v2/outliers.csv")
    assert listed.columns.tolist() == ["image", "class_name", "outlier_share", "outlier"]
    assert (
        listed["image"].tolist() == fold["image"].tolist()
        and listed["class_name"].tolist() == fold["class_name"].tolist()
    )
    # The rule computed here directly: per-channel statistics over the fold, |z| > 2 in any channel.
    pixels = images.astype(np.float64)
    z = (pixels - pixels.mean(axis=(0, 1, 2))) / pixels.std(axis=(0, 1, 2))
    shares = (np.abs(z) > 2.0).any(axis=-1).mean(axis=(1, 2))
    np.testing.assert_allclose(listed["outlier_share"], shares, atol=1e-6)
    assert listed["outlier"].tolist() == (shares > MIN_SHARE).tolist()
    assert 0 < listed["outlier"].sum() < len(listed)
    summary = json.loads((workdir / "metrics/interpret/mobilenet_v2/outliers.json").read_text())
    assert (
        summary["images"] == len(listed)
        and summary["outliers"] == listed["outlier"].sum()
        and summary["min_share"] == MIN_SHARE
    )
    _pngs(workdir, "outliers")


def _class_counts(workdir) -> dict[str, pd.Series]:
    fold, _ = _fold(workdir)
    outliers = pd.read_csv(workdir / "metrics/interpret/mobilenet_v2/outliers.csv")
    multi = pd.read_csv(workdir / "splits/isic_multiclass.csv")
    return {
        "outliers": outliers.loc[outliers["outlier"], "class_name"].value_counts(),
        "binary": fold["class_name"].value_counts(),
        "binary_without_outliers": outliers.loc[~outliers["outlier"], "class_name"].value_counts(),
        "multiclass": multi.loc[multi["split"] == "val", "class_name"].value_counts(),
    }


def test_filters_stage_counts_each_set_through_its_model(workdir):
    table = pd.read_csv(workdir / "metrics/interpret/mobilenet_v2/filters.csv")
    assert table.columns.tolist() == ["set", "class", "filter", "occurrences", "percent", "mean_max"]
    assert list(dict.fromkeys(table["set"])) == ["outliers", "binary", "binary_without_outliers", "multiclass"]
    counts = _class_counts(workdir)
    for (name, cls), rows in table.groupby(["set", "class"]):
        size = counts[name].get(cls, 0)
        assert rows["filter"].tolist() == list(range(1280))
        assert (rows["occurrences"] <= size).all()
        expected = 100.0 * rows["occurrences"] / size if size else 0.0 * rows["occurrences"]
        np.testing.assert_allclose(rows["percent"], expected, rtol=1e-5)

    # The multiclass set's occurrences recomputed here: the multiclass checkpoint, a hook on the last
    # convolution, thresholds at the quantile over the set's images.
    model, info = load_checkpoint(workdir / "models/isic/mobilenet_v2/multiclass/checkpoint.npz")
    multi = pd.read_csv(workdir / "splits/isic_multiclass.csv")
    rows = (multi["split"] == "val").to_numpy()
    seen = {}
    handle = model.get_submodule(LAST).register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    with torch.no_grad():
        model(to_input(np.load(workdir / "arrays/isic_multiclass.npy")[rows]))
    handle.remove()
    maxima = seen["out"].amax(dim=(2, 3)).numpy()
    hits = maxima > np.quantile(maxima, QUANTILE, axis=0)
    names = multi.loc[rows, "class_name"].to_numpy()
    ours = table[table["set"] == "multiclass"]
    for cls in info["class_names"]:
        assert ours.loc[ours["class"] == cls, "occurrences"].tolist() == hits[names == cls].sum(axis=0).tolist()


def test_table10_has_the_top_filters_of_every_set_and_class(workdir):
    table = pd.read_csv(workdir / "metrics/interpret/mobilenet_v2/filters.csv")
    top = pd.read_csv(workdir / "metrics/interpret/mobilenet_v2/table10.csv")
    assert top.columns.tolist() == [
        "model",
        "layer",
        "set",
        "class",
        "rank",
        "filter",
        "occurrences",
        "percent",
        "mean_max",
    ]
    assert set(top["model"]) == {MODEL} and set(top["layer"]) == {LAST}
    groups = {key: rows for key, rows in top.groupby(["set", "class"], sort=False)}
    expected = [
        (s, c)
        for s, c in dict.fromkeys(zip(table["set"], table["class"]))
        if table.loc[(table["set"] == s) & (table["class"] == c), "occurrences"].gt(0).sum() >= TOP_K
    ]
    assert set(expected) | {(s, "all") for s in ("outliers", "binary", "binary_without_outliers", "multiclass")} == set(
        groups
    )
    for (name, cls), rows in groups.items():
        assert rows["rank"].tolist() == list(range(1, TOP_K + 1))
        if cls != "all":
            best = table.loc[(table["set"] == name) & (table["class"] == cls), "occurrences"].max()
            assert rows["occurrences"].iloc[0] == best and rows["occurrences"].is_monotonic_decreasing
    info = json.loads((workdir / "metrics/interpret/mobilenet_v2/filters.json").read_text())
    assert info["model"] == MODEL and info["layer"] == LAST and info["filters"] == 1280
    counts = _class_counts(workdir)
    assert info["images"]["binary"] == {c: int(counts["binary"].get(c, 0)) for c in ("benign", "malignant")}
    _pngs(workdir, "filters_heatmap")


def test_featurevis_stage_visualizes_the_ranked_filters(workdir):
    rows = pd.read_csv(workdir / "metrics/interpret/mobilenet_v2/featurevis.csv")
    assert rows.columns.tolist() == [
        "figure",
        "network",
        "regularized",
        "layer",
        "class",
        "target",
        "objective_start",
        "objective_end",
    ]
    top = pd.read_csv(workdir / "metrics/interpret/mobilenet_v2/table10.csv")
    for layer in (FIRST, LAST):
        at = rows[rows["layer"] == layer]
        pooled = at.loc[at["figure"] == "finetuned", "target"].tolist()
        assert len(pooled) == 2
        assert at.loc[at["figure"] == "pretrained", "target"].tolist() == pooled
        assert at.loc[at["figure"] == "unregularized", "target"].tolist() == pooled
        assert set(at.loc[at["figure"] == "classes", "class"]) == {"benign", "malignant"}
    # The last layer's filters are Table 10's binary ones: same model, images, layer and ranking.
    last = rows[rows["layer"] == LAST]
    binary = top[top["set"] == "binary"]
    assert (
        last.loc[last["figure"] == "finetuned", "target"].tolist()
        == binary.loc[binary["class"] == "all", "filter"].head(2).tolist()
    )
    for cls in ("benign", "malignant"):
        if (binary["class"] == cls).any():
            chosen = last.loc[(last["figure"] == "classes") & (last["class"] == cls), "target"].tolist()
            assert chosen == binary.loc[binary["class"] == cls, "filter"].head(2).tolist()
    scores = rows[rows["figure"] == "class_scores"]
    assert scores["target"].tolist() == [0, 1] and scores["class"].tolist() == ["benign", "malignant"]
    # Same noise start, other weights: the network before fine-tuning starts at other objectives.
    fine = rows[(rows["figure"] == "finetuned")].set_index(["layer", "target"])["objective_start"]
    initial = rows[(rows["figure"] == "pretrained")].set_index(["layer", "target"])["objective_start"]
    assert not np.allclose(fine.loc[initial.index], initial)
    assert (
        rows["objective_end"] > rows["objective_start"]
    ).mean() > 0.75  # a few dead filters of the one-epoch model stay flat
    summary = json.loads((workdir / "metrics/interpret/mobilenet_v2/featurevis.json").read_text())
    assert summary["visualizations"] == len(rows) and summary["layers"] == [FIRST, LAST] and summary["steps"] == 4
    assert "seconds_per_visualization" not in summary  # machine-dependent: in the run log only
    assert (
        json.loads((workdir / "logs/interpret_featurevis@mobilenet_v2.json").read_text())["speed"][
            "seconds_per_visualization"
        ]
        > 0
    )
    assert {g: v["visualizations"] for g, v in summary["groups"].items()} == {
        "finetuned": int(rows["figure"].isin(["finetuned", "classes"]).sum()),
        "pretrained": 4,
        "unregularized": 4,
        "class_scores": 2,
    }
    _pngs(
        workdir,
        "featurevis_pretrained",
        "featurevis_finetuned",
        "featurevis_unregularized",
        "featurevis_classes",
        "featurevis_class_scores",
    )


def test_sanity_stage_compares_layers(workdir):
    similarity = pd.read_csv(workdir / "metrics/interpret/mobilenet_v2/sanity_similarity.csv")
    assert similarity.columns.tolist() == [
        "class",
        "layer_index",
        "layer",
        "filters",
        "featurevis_vs_natural",
        "natural_vs_natural",
        "featurevis",
        "natural",
    ]
    adapter, _ = load_adapter(workdir / "models/isic/mobilenet_v2/binary/checkpoint.npz")
    layers = pick_layers(adapter.conv_layers(), 2)
    assert similarity["layer"].tolist() == layers == [FIRST, LAST] and set(similarity["class"]) == {"malignant"}
    assert (similarity["featurevis"] == 1).all() and (similarity["natural"] == 2).all()
    assert similarity[["featurevis_vs_natural", "natural_vs_natural"]].abs().le(1).all().all()
    matrix = pd.read_csv(workdir / "metrics/interpret/mobilenet_v2/sanity_layers.csv", index_col="layer")
    assert matrix.index.tolist() == matrix.columns.tolist() == layers
    np.testing.assert_allclose(matrix.to_numpy(), matrix.to_numpy().T, atol=1e-6)
    np.testing.assert_allclose(
        np.diag(matrix.to_numpy()), 1.0, atol=1e-6
    )  # one visualization per layer, paired with itself
    assert json.loads((workdir / "metrics/interpret/mobilenet_v2/sanity.json").read_text())["class"] == "malignant"
    _pngs(workdir, "sanity_similarity", "sanity_layers")


def test_initial_network_is_the_seeded_start_of_fine_tuning(workdir):
    path = workdir / "models/isic/mobilenet_v2/binary/checkpoint.npz"
    trained, info = load_adapter(path)
    initial, _ = load_adapter(path, initial=True)
    torch.manual_seed(SEED)
    expected = build(registry.get(MODEL), 1, "random", 0.1).model.state_dict()
    state = initial.module.state_dict()
    assert all(torch.equal(state[k], expected[k]) for k in expected)
    assert not torch.equal(trained.module.state_dict()[f"{FIRST}.weight"], state[f"{FIRST}.weight"])
    assert info["architecture"] == MODEL


def test_adapter_family_comes_from_the_checkpoint_without_importing_a_framework(tmp_path):
    with pytest.raises(ConfigError, match="checkpoint not found"):
        load_adapter(tmp_path / "checkpoint.npz")
    save(tmp_path / "checkpoint.npz", {key: None for key in REQUIRED_INFO} | {"family": "caffe"}, {})
    probe = (
        "import sys\nfrom medinterp.errors import ConfigError\nfrom medinterp.models.loading import load_adapter\n"
        f"try:\n    load_adapter({str(tmp_path / 'checkpoint.npz')!r})\nexcept ConfigError as exc:\n    print(exc)\n"
        "print('frameworks loaded:', sorted({'torch', 'tensorflow', 'keras'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "no 'checkpoint_adapter' for family 'caffe'" in result.stdout
    assert "frameworks loaded: []" in result.stdout


def test_outlier_examples_and_subsets():
    shares = np.array([0.3, 0.1, 0.5, 0.2, 0.0])
    assert example_rows(shares, 3).tolist() == [2, 3, 4]  # highest, middle, lowest
    assert example_rows(shares, 9).tolist() == [2, 0, 3, 1, 4]
    table = ImageTable(pd.DataFrame({"image": ["a", "b", "c"]}), np.zeros((3, 2, 2, 3), np.uint8))
    flags = pd.DataFrame({"image": ["a", "b", "c"], "outlier": [True, False, True]})
    assert outlier_subset(table, flags, "list").frame["image"].tolist() == ["a", "c"]
    assert outlier_subset(table, flags, "list", flagged=False).frame["image"].tolist() == ["b"]
    with pytest.raises(ConfigError, match="other images"):
        outlier_subset(table, flags.iloc[::-1], "list")
    labels = np.array([1, 0, 1, 1, 1, 0])
    picked = natural_rows(labels, 1, 2, seed=0)
    assert len(picked) == 2 and set(picked) <= {0, 2, 3, 4} and list(picked) == sorted(picked)
    assert natural_rows(labels, 0, 5, seed=0).tolist() == [1, 5]


class PixelAdapter:
    """The "layer" is the image itself: its three colour channels are the filters."""

    def activations(self, images, layer, batch_size=32):
        return images.transpose(0, 3, 1, 2)


def test_filter_statistics_count_an_empty_set_and_leave_it_out():
    images = np.zeros((4, 2, 2, 3), np.uint8)
    images[:, 0, 0] = [[10, 0, 0], [20, 0, 0], [30, 5, 0], [40, 0, 0]]  # red rises; green only in image 2
    full = ImageSet("binary", images, np.array([0, 1, 1, 0]), ["benign", "malignant"])
    empty = ImageSet("outliers", images[:0], np.zeros(0, int), ["benign", "malignant"])
    stats = filter_statistics([(empty, PixelAdapter()), (full, PixelAdapter())], "pixels", 0.5, 1, progress=False)
    assert stats.images == {"outliers": {"benign": 0, "malignant": 0}, "binary": {"benign": 2, "malignant": 2}}
    assert set(stats.table["set"]) == {"binary"}
    # thresholds at the median: red 25 (images 2 and 3 exceed it), green 0 (image 2), blue 0 (none)
    counts = stats.table.set_index(["class", "filter"])["occurrences"]
    assert counts.to_dict() == {
        ("benign", 0): 1,
        ("benign", 1): 0,
        ("benign", 2): 0,
        ("malignant", 0): 1,
        ("malignant", 1): 1,
        ("malignant", 2): 0,
    }
    assert stats.top[["class", "filter"]].values.tolist() == [["benign", 0], ["malignant", 0], ["all", 0]]
    with pytest.raises(ConfigError, match="every image set is empty"):
        filter_statistics([(empty, PixelAdapter())], "pixels", 0.5, 1, progress=False)
