"""Every published number in src/medinterp/report/published.yaml, checked against the seed texts.

The tables are parsed here from verbatim excerpts of the seeds (tests/data/seed_tables.txt), by
code independent of the report's; where shared/seeds/ sits beside the repository the excerpts
themselves are checked against the seed files line by line.
"""

from __future__ import annotations

import re

import pytest
from conftest import REPO

from medinterp.report.published import load_published

EXCERPTS = REPO / "tests" / "data" / "seed_tables.txt"
SEEDS = REPO.parent / "shared" / "seeds"
PAPER_NAMES = {"NASNet Mobile": "nasnet_mobile", "DenseNet201": "densenet201", "MobileNetV2": "mobilenet_v2"}
THESIS_NAMES = {"AlexNet": "alexnet", "VGG16": "vgg16", "ResNet50": "resnet50"}


def _blocks() -> dict[str, tuple[str, int, list[str]]]:
    blocks, current = {}, None
    for line in EXCERPTS.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        header = re.match(r"^== (\S+) (\d+)-(\d+) (.+)$", line)
        if header:
            current = header[4]
            blocks[current] = (header[1], int(header[2]), [])
        else:
            blocks[current][2].append(line)
    return blocks


BLOCKS = _blocks()


def _number(text: str) -> float | None:
    text = re.sub(r"<[^>]+>", "", text).strip().rstrip("%")
    return None if text in ("-", "no data", "") else float(text)


def _rows(table: str) -> list[list[str]]:
    """Data rows: the header line and Table 6's second header line (it starts with a tab) left out."""
    return [line.split("\t") for line in BLOCKS[table][2][1:] if line.strip() and not line.startswith("\t")]


def test_excerpts_are_verbatim_seed_lines():
    if not SEEDS.is_dir():
        pytest.skip(f"{SEEDS} is not beside this checkout; the excerpts are checked where it is")
    for name, (seed, first, lines) in BLOCKS.items():
        text = (SEEDS / seed).read_text(encoding="utf-8").split("\n")
        assert text[first - 1 : first - 1 + len(lines)] == lines, name


def test_paper_table2():
    published = load_published()["paper"]["table2"]
    seen = 0
    backbone = None
    for line in BLOCKS["paper Table 2"][2][1:]:
        cells = [c.strip() for c in line.split("|") if c.strip()]
        if cells[0] in PAPER_NAMES:
            backbone, variant, weights, numbers = PAPER_NAMES[cells[0]], "vanilla", cells[2], cells[3:7]
        elif cells[0] == "Encoder":
            variant, weights, numbers = "encoder-imagenet", cells[1], cells[2:6]
        else:
            variant, weights, numbers = "encoder-random", "Random", cells[1:5]
        row = published[backbone][variant]
        assert row["weights"] == weights
        assert [row[k] for k in ("accuracy", "ira", "sd_ira", "irm")] == [_number(n) for n in numbers], (
            backbone,
            variant,
        )
        seen += 1
    assert seen == 9 == sum(len(v) for v in published.values())


def test_paper_table1():
    published = load_published()["paper"]["table1"]
    lines = {line.split(" | ")[0]: [c.strip() for c in line.split("|")[1:4]] for line in BLOCKS["paper Table 1"][2][2:]}
    header = [c.strip() for c in BLOCKS["paper Table 1"][2][0].split("|")[:3]]
    names = ["nasnet_mobile", "mobilenet_v2", "densenet201"]
    assert header[:2] == ["NASNet Mobile", "MobileNetV2"]
    assert published["epochs_autoencoder"] == dict(zip(names, map(int, lines["Epochs-Autoencoder"])))
    assert {published["epochs_classifier"]} == set(map(int, lines["Epochs-Classifier"]))
    assert {published["training_samples"]} == set(map(int, lines["Training samples"]))
    assert {published["validation_samples"]} == set(map(int, lines["Validation samples"]))
    assert {published["test_samples"]} == set(map(int, lines["Test samples"]))
    assert lines["Learning rate"][0] == str(published["learning_rates"]).replace("'", "")
    assert lines["Optimizer"][0] == ", ".join(published["optimizers"])


def test_thesis_tables_6_to_9():
    published = load_published()["thesis"]
    for cells in _rows("thesis Table 6"):
        keys = ("train_accuracy", "train_loss", "val_accuracy", "val_loss", "test_accuracy")
        assert [published["table6"][THESIS_NAMES[cells[0]]][k] for k in keys] == [_number(c) for c in cells[1:6]]
    rows7 = _rows("thesis Table 7")
    for cells in rows7:
        row = (
            published["table7"][THESIS_NAMES[cells[0]]]
            if cells[0] in THESIS_NAMES
            else published["table7"]["literature"][cells[0]]
        )
        assert (row["auc"], row["accuracy"], row["ensemble"], row["source"]) == (
            _number(cells[1]),
            _number(cells[2]),
            cells[3] == "✓",
            cells[4],
        )
    assert len(rows7) == 3 + len(published["table7"]["literature"])
    for cells in _rows("thesis Table 8"):
        assert [published["table8"][THESIS_NAMES[cells[0]]][k] for k in ("train_accuracy", "val_accuracy")] == [
            _number(c) for c in cells[1:3]
        ]
    for cells in _rows("thesis Table 9"):
        row = (
            published["table9"][THESIS_NAMES[cells[0]]]
            if cells[0] in THESIS_NAMES
            else published["table9"]["literature"][cells[0]]
        )
        assert (row["test_auc"], row["val_accuracy"], row["source"]) == (_number(cells[1]), _number(cells[2]), cells[3])


def test_thesis_tables_4_and_10():
    published = load_published()["thesis"]
    for cells in _rows("thesis Table 4"):
        row = published["table4"][THESIS_NAMES[cells[0]]]
        assert (row["learning_rate"], row["batch_size"], row["optimizer"], row["epochs"]) == (
            float(cells[1]),
            int(cells[2]),
            cells[3],
            int(cells[4]),
        )
    for cells in _rows("thesis Table 10"):
        row = published["table10"][THESIS_NAMES[cells[0]]]
        filters = [None if c.strip() == "no data" else [int(x) for x in c.split(",")] for c in cells[1:3]]
        assert [row["binary_outlier"], row["multiclass"]] == filters
