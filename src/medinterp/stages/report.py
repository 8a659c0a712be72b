"""Stage ``report``: this run's Table 2, ISIC Tables 6-9 and Table 10 beside the published numbers, and
the explanation benchmark's tables.

Writes ``metrics/report.md`` (diffable in git) and ``metrics/report.html`` (the same tables plus
the key figures: Grad-CAM overlays, confusion matrices, feature visualizations), and draws the
confusion matrices into ``plots/report/``. The published numbers come only from
``report/published.yaml``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from medinterp import numerics, params
from medinterp.errors import ConfigError
from medinterp.export.metadata import package_version
from medinterp.interpret.layout import EXPLANATIONS, RANDOMIZATION, explanations_plot, metrics_dir, plots_dir
from medinterp.io import readable, write_text
from medinterp.isic import layout
from medinterp.report import tables
from medinterp.report.figures import confusion_figure
from medinterp.report.published import load_published
from medinterp.report.render import html_page, markdown
from medinterp.stages import run

OUT = Path("metrics")
FIGURES = Path("plots/report")
TITLE = "medinterp: this run beside the published results"
# Table 10's columns -> this run's filter set (pooled over classes) in metrics/interpret/table10.csv
TABLE10_SETS = {"binary_outlier": "outliers", "multiclass": "multiclass"}


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} is missing; run the stage that writes it (uv run dvc repro)")
    return path


def read_json(path: str | Path) -> dict:
    return json.loads(_existing(path).read_text(encoding="utf-8"))


def read_csv(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(_existing(path))


def top_filters(table10: pd.DataFrame) -> dict[str, list[int]]:
    """Per Table 10 column, a model's top filters pooled over classes, ascending as the thesis prints them."""
    pooled = table10[table10["class"] == "all"]
    return {
        column: sorted(int(f) for f in pooled[pooled["set"] == name]["filter"])
        for column, name in TABLE10_SETS.items()
        if (pooled["set"] == name).any()
    }


def confusion_figures(entry: str, task: str, classes: list[str]) -> list[tuple[str, Path]]:
    drawn = []
    for split in ("val", "test"):
        predictions = pd.read_csv(layout.plots(entry, task) / f"predictions_{split}.csv")
        path = FIGURES / entry / f"confusion_{task}_{split}.png"
        confusion_figure(predictions, classes, f"{entry}: ISIC {task}, {split}", path, normalise=task == "multiclass")
        drawn.append((f"{entry}: ISIC {task} confusion matrix ({split})", path))
    return drawn


def table2_rows(table2: dict) -> dict[str, dict[str, dict]]:
    """The backbone -> variant -> row part of ``metrics/table2.json`` (it also holds the evaluation's
    conventions and seed)."""
    return {
        backbone: variants
        for backbone, variants in table2.items()
        if isinstance(variants, dict) and all(isinstance(row, dict) and "accuracy" in row for row in variants.values())
    }


def figures(
    table2: dict, explained: dict, entries: list[str], binary_classes: list[str], multiclass_classes: list[str]
) -> list[tuple[str, Path]]:
    shown = [
        (f"Grad-CAM + Otsu overlays, {backbone} {variant}", Path(f"plots/paper/overlays/{backbone}/{variant}.png"))
        for backbone, variants in table2.items()
        for variant in variants
    ]
    for backbone, variants in explained.items():
        for variant in variants:
            shown += [
                (
                    f"Explanation benchmark, {backbone} {variant}: heatmaps of each method",
                    explanations_plot(backbone, variant, "methods.png"),
                ),
                (
                    f"Explanation benchmark, {backbone} {variant}: cascading randomization",
                    explanations_plot(backbone, variant, "randomization.png"),
                ),
            ]
    for entry in entries:
        shown += confusion_figures(entry, "binary", binary_classes) + confusion_figures(
            entry, "multiclass", multiclass_classes
        )
        shown += [
            (f"{entry}: interpretation, {p.stem.replace('_', ' ')}", p) for p in sorted(plots_dir(entry).glob("*.png"))
        ]
    return [
        (caption, path) for caption, path in shown if readable(path).is_file()
    ]  # this stage's figures are pending until it ends


def main() -> None:
    config = params.load()
    published = load_published()
    table2 = table2_rows(read_json("metrics/table2.json"))
    binary = [read_json(layout.report(entry, "binary")) for entry in config.models]
    multiclass = [read_json(layout.report(entry, "multiclass")) for entry in config.models]
    top = [
        {"model": b["model"], "family": b["family"], **top_filters(read_csv(metrics_dir(entry) / "table10.csv"))}
        for entry, b in zip(config.models, binary)
    ]
    built = [
        tables.table2(table2, published),
        tables.table6(binary, published),
        tables.table7(binary, published),
        tables.table8(multiclass, published),
        tables.table9(multiclass, published),
        tables.table10(top, published),
    ]
    explanations = read_json(EXPLANATIONS)
    built += tables.explanation_tables(explanations, read_json(RANDOMIZATION))
    inits = sorted({row.get("weights_used") for variants in table2.values() for row in variants.values()} - {None})
    context = {
        "data profile": config.data.profile,
        "made by": f"medinterp {package_version()}; "
        "the code, params and inputs are the report stage's entry in dvc.lock",
        "numerics": numerics.summary(),
        "paper backbones": ", ".join(table2),
        "paper initialisation used": ", ".join(inits),
        "ISIC models": "; ".join(
            f"{b['model']} ({b['family']}), initialisation {b['init_used']}, {b['image_size']} px, seed {b['seed']}"
            for b in binary
        ),
        "main ISIC artifacts": f"{config.model} (isic-binary-classifier, isic-multiclass-classifier)",
        "published sources": f"{published['paper']['source']}; {published['thesis']['source']}",
    }
    shown = figures(
        table2,
        tables.explanation_runs(explanations),
        config.models,
        ["benign", "malignant"],
        list(config.split.isic_multiclass.classes),
    )
    write_text(OUT / "report.md", markdown(TITLE, context, built, shown, base=OUT))
    write_text(OUT / "report.html", html_page(TITLE, context, built, shown, base=OUT))
    print(f"report: {OUT / 'report.md'}, {OUT / 'report.html'} ({len(shown)} figures)")


if __name__ == "__main__":
    run(main)
