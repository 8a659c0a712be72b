"""The report: every published number it prints is checked against the seed texts' table lines, and
this run's numbers land in the right cells."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix
from test_published import BLOCKS, PAPER_NAMES, THESIS_NAMES, _number, _rows

from medinterp.report import tables
from medinterp.report.figures import confusion_counts, confusion_figure
from medinterp.report.published import load_published
from medinterp.report.render import html_page, markdown

BINARY = {
    "model": "vgg16",
    "family": "torch",
    "cv": {"train_accuracy_mean": 0.9, "train_loss_mean": 0.25, "val_accuracy_mean": 0.875, "val_loss_mean": 0.3},
    "test": {"accuracy": 0.8125, "roc_auc": 0.75},
}
ALEXNET = {
    "model": "alexnet",
    "family": "torch",
    "cv": {"train_accuracy_mean": 0.5},
    "test": {"accuracy": 0.25, "roc_auc": 0.5},
}
MULTICLASS = {
    "model": "densenet201",
    "family": "torch",
    "train": {"accuracy": 0.5},
    "val": {"accuracy": 0.25},
    "test": {"accuracy": 0.375, "roc_auc_ovr_macro": 0.625},
}
TABLE2 = {
    "densenet201": {
        "encoder-random": {
            "family": "keras",
            "weights_used": "random",
            "images_evaluated": 7,
            "accuracy": 0.75,
            "ira": 0.5,
            "sd_ira": 0.125,
            "irm": 0.625,
            "mask_area": 0.25,
        }
    },
    "torch-resnet50": {
        "vanilla": {"family": "torch", "weights_used": "random", "accuracy": 0.5, "ira": 0.25, "mask_area": 0.125}
    },
}


def _report_tables() -> list[tables.Table]:
    published = load_published()
    return [
        tables.table2(TABLE2, published),
        tables.table6([BINARY, ALEXNET], published),
        tables.table7([BINARY, ALEXNET], published),
        tables.table8([MULTICLASS], published),
        tables.table9([MULTICLASS], published),
        tables.table10(
            [{"model": "vgg16", "family": "torch", "binary_outlier": [3, 1, 4, 1, 5], "multiclass": [9, 2, 6]}],
            published,
        ),
    ]


def _markdown_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Section title's table number (or explanation metric) -> rows as {column: cell}, parsed from the Markdown."""
    found, current, header = {}, None, None
    for line in text.splitlines():
        if line.startswith(
            "## "
        ):  # "## Table 2 (paper): ..." -> "Table 2"; "## Explanation benchmark: IRA, %" -> as far as the comma
            title = re.match(r"^## (Table \d+|Explanation benchmark: [^(,]+?)(?: \(|,|$)", line)
            current, header = (title[1], None) if title else (None, None)
            if current:
                found[current] = []
        elif current and line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            else:
                found[current].append(dict(zip(header, cells)))
    return found


def _seed_table2() -> dict[tuple[str, str], list[str]]:
    rows, backbone = {}, None
    for line in BLOCKS["paper Table 2"][2][1:]:
        cells = [c.strip() for c in line.split("|") if c.strip()]
        if cells[0] in PAPER_NAMES:
            backbone = PAPER_NAMES[cells[0]]
            rows[backbone, "vanilla"] = cells[2:7]
        elif cells[0] == "Encoder":
            rows[backbone, "encoder-imagenet"] = cells[1:6]
        else:
            rows[backbone, "encoder-random"] = cells[0:5]
    return rows


def _seed_rows(table: str) -> dict[str, list[str]]:
    return {THESIS_NAMES.get(cells[0], cells[0]): [c.strip() for c in cells] for cells in _rows(table)}


# Report column -> index of the seed line's cell that holds the same number.
THESIS_COLUMNS = {
    "Table 6": {
        "published train accuracy": 1,
        "published train loss": 2,
        "published val accuracy": 3,
        "published val loss": 4,
        "published test accuracy": 5,
    },
    "Table 7": {"published AUC": 1, "published accuracy": 2, "published source": 4},
    "Table 8": {"published train accuracy": 1, "published val accuracy": 2},
    "Table 9": {"published test AUC": 1, "published val accuracy": 2, "published source": 3},
    "Table 10": {"published binary outlier set": 1, "published multiclass set": 2},
}


def _same(report_cell: str, seed_cell: str) -> bool:
    seed_cell = re.sub(r"<[^>]+>", "", seed_cell).strip()
    if seed_cell in ("-", "no data"):
        return report_cell == "-"
    if "," in seed_cell:
        return [int(x) for x in report_cell.split(",")] == [int(x) for x in seed_cell.split(",")]
    try:
        return float(report_cell) == _number(seed_cell)
    except ValueError:
        return report_cell == seed_cell


def test_every_published_number_in_the_report_matches_the_seed_lines():
    text = markdown("report", {}, _report_tables(), [], base=Path("."))
    found = _markdown_tables(text)
    seed2 = _seed_table2()
    checked = 0
    for row in found["Table 2"]:
        if row["backbone"] == "torch-resnet50":  # a backbone the paper did not train: nothing published
            assert {row[c] for c in row if c.startswith("published")} == {"-"}
            continue
        seed = seed2[row["backbone"], row["variant"]]
        for column, index in zip(
            ["published weights", "published accuracy", "published IRA", "published SD-IRA", "published IRM"], range(5)
        ):
            assert _same(row[column], seed[index]), (row["backbone"], row["variant"], column)
            checked += 1
    for table, columns in THESIS_COLUMNS.items():
        seed = _seed_rows(f"thesis {table}")
        published_models = [row["model"] for row in found[table] if row["model"] in seed]
        assert sorted(published_models) == sorted(seed), table  # every seed line is in the report
        for row in found[table]:
            for column, index in columns.items():
                expected = seed[row["model"]][index] if row["model"] in seed else "-"
                assert _same(row[column], expected), (table, row["model"], column)
                checked += 1
    # Table 2: 9 rows x 5; 6: 3 x 5; 7: 6 x 3; 8: 3 x 2 (densenet201 blank); 9: 5 x 3; 10: 3 x 2
    assert checked == 45 + 15 + 18 + 6 + 15 + 6


def test_this_runs_numbers_land_in_their_rows_as_percentages():
    found = _markdown_tables(markdown("report", {}, _report_tables(), [], base=Path(".")))
    row = next(r for r in found["Table 2"] if (r["backbone"], r["variant"]) == ("densenet201", "encoder-random"))
    assert (row["accuracy"], row["IRA"], row["SD-IRA"], row["IRM"], row["mask area"]) == (
        "75",
        "50",
        "12.5",
        "62.5",
        "25",
    )
    assert row["family"] == "keras"
    torch_row = next(r for r in found["Table 2"] if r["backbone"] == "torch-resnet50")
    assert (torch_row["family"], torch_row["variant"], torch_row["IRA"], torch_row["mask area"]) == (
        "torch",
        "vanilla",
        "25",
        "12.5",
    )
    filled = {(r["backbone"], r["variant"]) for r in found["Table 2"] if r["accuracy"] != "-"}
    assert filled == {("densenet201", "encoder-random"), ("torch-resnet50", "vanilla")}
    vgg = next(r for r in found["Table 6"] if r["model"] == "vgg16")
    assert (vgg["family"], vgg["train accuracy"], vgg["train loss"], vgg["val accuracy"], vgg["test accuracy"]) == (
        "torch",
        "90",
        "0.25",
        "87.5",
        "81.25",
    )
    alexnet = next(r for r in found["Table 6"] if r["model"] == "alexnet")  # several models of one run, each in its row
    assert (alexnet["train accuracy"], alexnet["test accuracy"], alexnet["published test accuracy"]) == (
        "50",
        "25",
        "81.3",
    )
    assert next(r for r in found["Table 6"] if r["model"] == "resnet50")["train accuracy"] == "-"
    assert next(r for r in found["Table 7"] if r["model"] == "vgg16")["AUC"] == "0.75"
    dense = next(r for r in found["Table 9"] if r["model"] == "densenet201")  # a model the thesis did not train
    assert (dense["test AUC"], dense["val accuracy"], dense["published test AUC"]) == ("0.625", "25", "-")
    assert next(r for r in found["Table 10"] if r["model"] == "vgg16")["binary outlier set"] == "3, 1, 4, 1, 5"


def test_html_page_shows_tables_and_figures(tmp_path):
    figure = tmp_path / "plots" / "a.png"
    page = html_page(
        "report", {"profile": "sample"}, _report_tables(), [("overlay", figure)], base=tmp_path / "metrics"
    )
    assert page.count("<table>") == 6
    assert "src='../plots/a.png'" in page and "<b>profile</b>: sample" in page


def test_confusion_counts_match_scikit_learn(tmp_path):
    rng = np.random.default_rng(0)
    classes = ["MEL", "NV", "BCC", "AK"]
    frame = pd.DataFrame({"actual": rng.choice(classes, 60), "predicted": rng.choice(classes, 60)})
    expected = confusion_matrix(frame["actual"], frame["predicted"], labels=classes)
    np.testing.assert_array_equal(confusion_counts(frame, classes), expected)
    confusion_figure(frame, classes, "test", tmp_path / "cm.png", normalise=True)
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="SCC"):
        confusion_counts(pd.DataFrame({"actual": ["SCC"], "predicted": ["MEL"]}), classes)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_report_stage_end_to_end(tmp_path, monkeypatch):
    import json

    from medinterp.stages import report as stage

    monkeypatch.chdir(tmp_path)
    _write(
        tmp_path / "params.yaml",
        "models: [vgg16, alexnet]\nmodel: vgg16\ndata: {profile: sample}\n"
        "split: {isic_multiclass: {classes: [MEL, NV, BCC]}}\n",
    )
    _write(
        tmp_path / "metrics/table2.json",
        json.dumps({**TABLE2, "evaluation": {"densenet201": {"image_size": 128}}, "seed": 0}),
    )
    for entry, filters in (("vgg16", (420, 46, 121, 270, 394)), ("alexnet", (60, 41, 143, 218, 228))):
        _write(
            tmp_path / f"metrics/isic/{entry}/binary.json",
            json.dumps({**BINARY, "model": entry, "init_used": "random", "image_size": 64, "seed": 0}),
        )
        _write(tmp_path / f"metrics/isic/{entry}/multiclass.json", json.dumps({**MULTICLASS, "model": entry}))
        rows = (
            [(entry, "outliers", "all", f) for f in filters]
            + [(entry, "outliers", "benign", f) for f in (1, 2, 3, 4, 5)]
            + [(entry, "multiclass", "all", f) for f in (484, 81, 119, 206, 450)]
        )
        _write(
            tmp_path / f"metrics/interpret/{entry}/table10.csv",
            pd.DataFrame(rows, columns=["model", "set", "class", "filter"]).to_csv(index=False),
        )
        for task, classes in (("binary", ["benign", "malignant"]), ("multiclass", ["MEL", "NV", "BCC"])):
            for split in ("val", "test"):
                frame = pd.DataFrame({"actual": classes * 2, "predicted": classes[::-1] * 2})
                _write(tmp_path / f"plots/isic/{entry}/{task}/predictions_{split}.csv", frame.to_csv(index=False))
    _write(tmp_path / "plots/paper/overlays/densenet201/encoder-random.png", "png")
    metric = {
        "ira": 0.8,
        "ira_lift": 2.0,
        "pointing_game": 1.0,
        "relevance_mass_accuracy": 0.1,
        "top_k_intersection": 0.2,
        "images_evaluated": 4,
        "images_correct_explained": 3,
    }
    conventions = {"conventions": {"densenet201": {"max_spearman": 0.5}}, "seed": 0}
    _write(
        tmp_path / "metrics/explanations.json",
        json.dumps(
            {
                "densenet201": {"encoder-random": {"gradcam": metric, "centre": {**metric, "ira_lift": 1.5}}},
                **conventions,
            }
        ),
    )
    _write(
        tmp_path / "metrics/randomization.json",
        json.dumps(
            {
                "densenet201": {
                    "encoder-random": {
                        "gradcam": {"fails": False, "final_spearman": 0.1},
                        "centre": {"fails": True, "final_spearman": 1.0},
                    }
                },
                **conventions,
            }
        ),
    )
    _write(tmp_path / "plots/paper/explanations/densenet201/encoder-random/methods.png", "png")

    stage.main()
    text = (tmp_path / "metrics/report.md").read_text()
    found = _markdown_tables(text)
    lift = {r["method"]: r["densenet201 encoder-random"] for r in found["Explanation benchmark: IRA lift"]}
    assert lift == {"gradcam": "2", "centre": "1.5"}
    assert "Failing: centre (densenet201 encoder-random)." in text
    vgg = next(r for r in found["Table 10"] if r["model"] == "vgg16")
    # pooled top five, ascending as the thesis prints them; equal to the published VGG16 row here
    assert vgg["binary outlier set"] == "46, 121, 270, 394, 420" == vgg["published binary outlier set"]
    assert vgg["multiclass set"] == "81, 119, 206, 450, 484"
    alexnet = next(r for r in found["Table 10"] if r["model"] == "alexnet")
    assert alexnet["binary outlier set"] == "41, 60, 143, 218, 228" == alexnet["published binary outlier set"]
    assert "**data profile**: sample" in text and "vgg16 (torch), initialisation random, 64 px" in text
    assert "**main ISIC artifacts**: vgg16" in text
    for entry in ("vgg16", "alexnet"):
        for name in (
            "confusion_binary_val",
            "confusion_binary_test",
            "confusion_multiclass_val",
            "confusion_multiclass_test",
        ):
            assert (tmp_path / f"plots/report/{entry}/{name}.png").read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "metrics/report.html").read_text()
    assert "src='../plots/report/alexnet/confusion_multiclass_test.png'" in page
    assert "src='../plots/paper/overlays/densenet201/encoder-random.png'" in page
    assert "src='../plots/paper/explanations/densenet201/encoder-random/methods.png'" in page


def test_report_stage_names_a_missing_input(tmp_path, monkeypatch):
    from medinterp.errors import ConfigError
    from medinterp.stages import report as stage

    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "params.yaml", "data: {profile: sample}\n")
    with pytest.raises(ConfigError, match="metrics/table2.json is missing"):
        stage.main()
