"""The paper's stages end to end on tiny generated data: split, prepare, autoencoder, classifier, evaluate.

MobileNetV2 at 32 px (BreCaHAD at 64 px), one epoch each, with ``paper.weights`` a weights file the test makes (standing
in for ImageNet, so the three variants are three different runs).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import split_params

from medinterp import registry
from medinterp.export import metadata
from medinterp.models.keras.build import build_backbone
from medinterp.stages import paper_autoencoder, paper_classifier, paper_evaluate, prepare, split

BACKBONE = "mobilenet_v2"
VARIANTS = ("vanilla", "encoder-imagenet", "encoder-random")


@pytest.fixture(scope="module")
def pipeline(tiny_data, tmp_path_factory):
    work = tmp_path_factory.mktemp("paper")
    source, _ = build_backbone(registry.get(BACKBONE, "keras"), 64)
    rng = np.random.default_rng(3)
    source.set_weights([w + rng.normal(0, 0.01, w.shape).astype(w.dtype) for w in source.get_weights()])
    weights = work / "pretrained.weights.h5"
    source.save_weights(str(weights))

    params = split_params(
        tiny_data,
        **{
            "paper.backbones": [BACKBONE],
            "paper.weights": str(weights),
            "paper.image_size": 32,
            "paper.evaluate.image_size": 64,
            "paper.evaluate.overlays": 2,
            "paper.autoencoder.epochs": 1,
            "paper.classifier.epochs": 1,
        },
    )
    (work / "params.yaml").write_text(yaml.safe_dump(params))

    patch = pytest.MonkeyPatch()
    patch.chdir(work)
    try:
        split.main()
        prepare.main()
        for stage in (paper_autoencoder, paper_classifier):
            patch.setattr(sys, "argv", [stage.__name__, BACKBONE])
            stage.main()
        paper_evaluate.main()
    finally:
        patch.undo()
    return work, str(weights)


def test_encoders_for_each_starting_point(pipeline):
    work, weights = pipeline
    summary = json.loads((work / "metrics/paper" / BACKBONE / "autoencoder.json").read_text())
    assert summary["imagenet"]["weights_used"] == weights and summary["random"]["weights_used"] == "random"
    assert summary["settings"]["autoencoder"]["epochs"] == 1 and "classifier" not in summary["settings"]
    for tag in ("imagenet", "random"):
        assert summary[tag]["onnx_parity"]["within_tolerance"]
        assert (
            json.loads((work / f"logs/paper_autoencoder@{BACKBONE}.json").read_text())["onnx_parity"][tag][
                "max_abs_diff"
            ]
            < 1e-4
        )
        meta = metadata.read(work / "models/paper" / BACKBONE / "autoencoder" / f"encoder-{tag}.onnx")
        assert meta["output"]["kind"] == "features" and meta["init_used"] == summary[tag]["weights_used"]
        live = work / "plots/paper" / BACKBONE / "autoencoder/plots"
        assert (live / "metrics" / tag / "val_loss.tsv").is_file() and (
            live / "images" / tag / "reconstructions.png"
        ).is_file()


def test_classifier_variants_are_exported_with_parity(pipeline):
    work, weights = pipeline
    summary = json.loads((work / "metrics/paper" / BACKBONE / "classifier.json").read_text())
    expected = {
        "vanilla": ("vanilla", "imagenet", weights),
        "encoder-imagenet": ("encoder", "imagenet", weights),
        "encoder-random": ("encoder", "random", "random"),
    }
    for variant, (training, requested, used) in expected.items():
        row = summary[variant]
        assert (row["training"], row["weights_requested"], row["weights_used"], row["same_run_as"]) == (
            training,
            requested,
            used,
            None,
        )
        assert row["onnx_parity"]["within_tolerance"] and 0.0 <= row["val_accuracy"] <= 1.0
        run = row["same_run_as"] or variant
        assert (
            json.loads((work / f"logs/paper_classifier@{BACKBONE}.json").read_text())["onnx_parity"][run][
                "max_abs_diff"
            ]
            < 1e-4
        )
        meta = metadata.read(work / "models/paper" / BACKBONE / "classifier" / f"{variant}.onnx")
        assert meta["class_names"] == ["benign", "malignant"] and meta["output"]["activation"] == "sigmoid"
        assert meta["metrics"]["onnx_parity"] == row["onnx_parity"]
        assert (work / "plots/paper" / BACKBONE / "classifier/plots/metrics" / variant / "val_accuracy.tsv").is_file()


def test_table2_rows_agree_with_their_per_image_csv(pipeline):
    work, weights = pipeline
    table = json.loads((work / "metrics/table2.json").read_text())
    test_images = len(pd.read_csv(work / "splits/brecahad.csv"))
    for variant in VARIANTS:
        row = table[BACKBONE][variant]
        per_image = pd.read_csv(work / "metrics/paper/ira" / BACKBONE / f"{variant}.csv")
        assert len(per_image) == row["images"] == test_images
        assert row["images_correct"] == int(per_image["correct"].sum())
        assert row["accuracy"] == pytest.approx(per_image["correct"].mean())
        assert ((per_image["probability"] >= 0.5) == per_image["correct"]).all()  # every BreCaHAD image is malignant
        scored = per_image.dropna(subset=["ira"])
        assert row["images_evaluated"] == len(scored)
        np.testing.assert_allclose(scored["ira"], scored["points_inside"] / scored["points"], rtol=1e-5)
        if len(scored):
            assert row["ira"] == pytest.approx(scored["ira"].mean(), rel=1e-5)
            assert row["irm"] == pytest.approx(scored["ira"].median(), rel=1e-5)
            assert row["sd_ira"] == pytest.approx(scored["ira"].std(ddof=0), rel=1e-4, abs=1e-6)
            assert row["mask_area"] == pytest.approx(scored["mask_area"].mean(), rel=1e-5)
        assert row["weights_used"] == ("random" if variant == "encoder-random" else weights)
        assert table["evaluation"][BACKBONE] == {
            "image_size": 64,
            "gradcam_layer": "out_relu",
            "points": ["tumor"],
            "constant_heatmap": "zero",
        }
        assert (work / "plots/paper/overlays" / BACKBONE / f"{variant}.png").is_file()


def test_exported_classifiers_give_table2_probabilities(pipeline, tiny_data):
    """The ONNX artifacts take Table 2's input size, so ``medinterp predict`` on the BreCaHAD images
    gives the probabilities ``paper_evaluate`` computed with the Keras model."""
    from medinterp.inference.predict import predict

    work, _ = pipeline
    frame = pd.read_csv(work / "splits/brecahad.csv")
    images = [tiny_data / name for name in frame["image"]]
    for variant in VARIANTS:
        onnx = work / "models/paper" / BACKBONE / "classifier" / f"{variant}.onnx"
        meta = metadata.read(onnx)
        assert meta["input"]["shape"] == [None, 64, 64, 3] and meta["params"]["trained_at_image_size"] == 32
        run = predict(onnx, images, batch_size=4)
        assert not any(p.error for p in run.predictions)
        evaluated = pd.read_csv(work / "metrics/paper/ira" / BACKBONE / f"{variant}.csv").set_index("image")
        predicted = np.array([p.probabilities[1] for p in run.predictions])
        np.testing.assert_allclose(predicted, evaluated.loc[frame["image"], "probability"].to_numpy(), atol=1e-4)


def test_interpret_paper_applies_the_thesis_methods_to_a_paper_classifier(pipeline, monkeypatch):
    """``interpret_paper`` on the classifiers trained above: the BreakHis validation images are the
    image sets, the trained classifier is the subject, and the starting network of an encoder
    variant is the autoencoder's encoder (its activations equal the encoder file's)."""
    from medinterp import params
    from medinterp.models.keras.adapter import KerasAdapter
    from medinterp.models.keras.checkpoint import load_weights
    from medinterp.paper.subject import paper_classifier_subject
    from medinterp.stages import interpret_paper, run

    work, _ = pipeline
    monkeypatch.chdir(work)
    raw = yaml.safe_load(Path("params.yaml").read_text())
    raw["interpret"].update(batch_size=8, paper={"backbones": [BACKBONE], "variants": ["encoder-random"]})
    raw["interpret"]["outliers"].update(min_share=0.1, examples=2)
    raw["interpret"]["filters"].update(quantile=0.5, top_k=2, heatmap_top=2)
    raw["profiles"]["sample"]["interpret"] = {
        "featurevis": {"steps": 2, "top_n": 1},
        "sanity": {"layers": 2, "natural_images": 2, "top_n": 1},
    }
    Path("params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(sys, "argv", ["interpret_paper", BACKBONE, "encoder-random"])
    run(interpret_paper.main)  # in the stage's transaction, as DVC runs it: its own outputs are pending until it ends

    val = pd.read_csv("splits/breakhis.csv").query("split == 'val'")
    variant = "encoder-random"
    folder = Path("metrics/interpret/paper") / BACKBONE / variant
    assert pd.read_csv(folder / "outliers.csv")["image"].tolist() == val["image"].tolist()
    filters = json.loads((folder / "filters.json").read_text())
    assert (filters["model"], filters["family"], filters["layer"]) == (BACKBONE, "keras", "out_relu")
    assert filters["images"]["binary"] == val["class_name"].value_counts().to_dict()
    assert "multiclass" not in filters["images"]
    assert set(pd.read_csv(folder / "table10.csv")["set"]) <= {"outliers", "binary", "binary_without_outliers"}
    assert json.loads((folder / "sanity.json").read_text())["class"] == "malignant"
    for name in ("outliers", "filters_heatmap", "featurevis_pretrained", "featurevis_finetuned", "sanity_similarity"):
        assert (Path("plots/interpret/paper") / BACKBONE / variant / f"{name}.png").is_file()

    subject, initial = paper_classifier_subject(params.load(), BACKBONE, "encoder-random")
    encoder, _ = build_backbone(registry.get(BACKBONE, "keras"), 32)
    load_weights(encoder, f"models/paper/{BACKBONE}/autoencoder/encoder-random.weights.h5")
    images = np.asarray(subject.validation.images[:4], dtype=np.float32) / 255.0
    expected = KerasAdapter(encoder).activations(images, "out_relu")
    np.testing.assert_allclose(initial.activations(images, "out_relu"), expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(subject.finetuned.activations(images, "out_relu"), expected, atol=1e-3)  # it trained on


EXPLANATION_METRICS = (
    "ira",
    "sd_ira",
    "irm",
    "mask_area",
    "ira_lift",
    "pointing_game",
    "relevance_mass_accuracy",
    "top_k_intersection",
    "images_evaluated",
    "images_constant_heatmap",
    "images_without_points",
    "images",
    "images_correct",
    "images_explained",
    "images_correct_explained",
)


def test_paper_explanations_benchmarks_every_method_on_every_variant(pipeline, monkeypatch):
    """``paper_explanations`` in its transaction on the classifiers trained above: every method of
    ``explanations.methods`` on the first two BreCaHAD images, whatever their prediction, and one image through a
    two-step cascade. With Table 2's images (``images_from: correct``, ``images: all``) its ``gradcam`` row is
    Table 2's IRA."""
    from medinterp import params
    from medinterp.interpret.randomization import cascade_counts
    from medinterp.paper import evaluate, explanations, table2
    from medinterp.stages import paper_explanations, run

    work, _ = pipeline
    monkeypatch.chdir(work)
    raw = yaml.safe_load(Path("params.yaml").read_text())
    raw["explanations"].update(images_from="all", images=2, figure_images=2)
    raw["explanations"]["scorecam"]["channels"] = 4
    raw["explanations"]["randomization"].update(steps=2, images=1)
    Path("params.yaml").write_text(yaml.safe_dump(raw))
    settings = params.load().explanation_settings()
    methods = list(settings.methods)
    assert (
        settings.images_from,
        settings.images,
        settings.scorecam.channels,
        settings.randomization.steps,
        settings.randomization.images,
    ) == ("all", 2, 4, 2, 1)
    assert len(methods) == 9
    run(paper_explanations.main)  # in the stage's transaction, as DVC runs it

    frame = pd.read_csv("splits/brecahad.csv")
    names = [Path(image).name for image in frame["image"]]
    table = json.loads(Path("metrics/table2.json").read_text())
    found = json.loads(Path("metrics/explanations.json").read_text())
    randomization = json.loads(Path("metrics/randomization.json").read_text())
    assert list(found) == [BACKBONE, "conventions", "seed"] == list(randomization) and found["seed"] == 0
    assert (
        found["conventions"]
        == randomization["conventions"]
        == {
            BACKBONE: {
                "layer": "out_relu",
                "image_size": 64,
                "points": ["tumor"],
                "constant_heatmap": "zero",
                "radius": 15,
                "top_k": 1000,
                "images_from": "all",
                "images": 2,
                "scorecam_channels": 4,
                "randomization_steps": 2,
                "randomization_images": 1,
                "max_spearman": 0.5,
            }
        }
    )
    assert list(found[BACKBONE]) == list(VARIANTS) == list(randomization[BACKBONE])
    seconds = json.loads(Path("logs/paper_explanations.json").read_text())["seconds_per_image"][BACKBONE]
    assert set(seconds) == set(VARIANTS)  # three distinct runs here
    for variant in VARIANTS:
        row = table[BACKBONE][variant]
        results = found[BACKBONE][variant]
        assert list(results) == methods
        for method, metrics in results.items():
            assert set(EXPLANATION_METRICS) <= set(metrics), method
            assert (metrics["images"], metrics["images_correct"], metrics["images_explained"]) == (
                len(frame),
                row["images_correct"],
                2,
            )
            assert metrics["images_evaluated"] + metrics["images_without_points"] <= 2
        assert set(seconds[variant]) == {*methods, "forward_backward_pass"}

        per_image = pd.read_csv(Path("metrics/paper/explanations") / BACKBONE / f"{variant}.csv")
        assert per_image[["method", "image"]].values.tolist() == [[m, n] for m in methods for n in names[:2]]
        scored = per_image.dropna(subset=["ira"])
        for method in methods:
            mine = scored[scored["method"] == method]
            if len(mine):
                assert results[method]["ira"] == pytest.approx(mine["ira"].mean())
        # Table 2 scored its correct images with the same Grad-CAM: their IRA is the gradcam row's.
        ira = pd.read_csv(Path("metrics/paper/ira") / BACKBONE / f"{variant}.csv").set_index("image")
        gradcam_rows = per_image[per_image["method"] == "gradcam"].set_index("image")
        for path in frame["image"][:2]:
            if ira.loc[path, "correct"]:
                assert gradcam_rows.loc[Path(path).name, "ira"] == pytest.approx(ira.loc[path, "ira"], rel=1e-6)

        curves = pd.read_csv(Path("metrics/paper/explanations") / BACKBONE / f"{variant}_randomization.csv")
        layers = int(curves["layers_randomized"].max())
        counts = [0, *cascade_counts(layers, 2)]
        assert sorted(curves["layers_randomized"].unique()) == counts and len(counts) == 3
        assert len(curves) == len(counts) * len(methods) * 1
        assert set(curves["image_index"]) == {0}
        assert curves.loc[curves["step"] == 0, "spearman"].dropna().to_numpy() == pytest.approx(1.0)
        rand = randomization[BACKBONE][variant]
        assert list(rand) == methods
        for method, result in rand.items():
            assert {"fails", "final_spearman", "final_ssim", "steps"} <= set(result), method
            assert list(result["steps"]) == ["step0", "step1", "step2"]
            assert [s["layers_randomized"] for s in result["steps"].values()] == counts
        # The baselines ignore the model: they fail
        # (the centre prior is drawn at the input's 64 px, not the 2 x 2 layer's).
        for baseline in ("random", "centre"):
            assert rand[baseline]["fails"] is True and rand[baseline]["final_spearman"] == pytest.approx(1.0)

        plots = Path("plots/paper/explanations") / BACKBONE / variant
        for name in ("methods.png", "randomization.png", "randomization.csv"):
            assert (plots / name).is_file(), name
        assert len(pd.read_csv(plots / "randomization.csv")) == len(counts) * len(methods)

    # Table 2's images: with every image counted right (threshold 0 on both sides, so the comparison is never
    # empty), the gradcam row of images_from: correct, images: all is Table 2's row.
    raw["explanations"].update(methods=["gradcam"], images_from="correct", images="all")
    raw["explanations"]["randomization"].update(steps=1, images=1)
    table2_like = params.validate(raw)
    monkeypatch.setattr(evaluate, "THRESHOLD", 0.0)
    monkeypatch.setattr(explanations, "THRESHOLD", 0.0)
    every = explanations.explain_backbone(table2_like, BACKBONE)
    rows = table2.evaluate_backbone(table2_like, BACKBONE).rows
    for variant in VARIANTS:
        row, mine = rows[variant], every.summaries[variant]["gradcam"]
        assert mine["images_explained"] == row["images_correct"] == len(frame)
        assert mine["images_evaluated"] == row["images_evaluated"] > 0
        for key in ("ira", "sd_ira", "irm", "mask_area", "images_constant_heatmap"):
            assert mine[key] == pytest.approx(row[key], rel=1e-6, abs=1e-9), key
