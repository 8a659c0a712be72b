"""Where the paper's stages put their outputs, and the metadata of its exported models.

::

    models/paper/<backbone>/autoencoder/encoder-<random|imagenet>.{weights.h5|npz,onnx,json}
    models/paper/<backbone>/classifier/<variant>.{weights.h5|npz,onnx,json}
    metrics/paper/<backbone>/autoencoder.json, classifier.json     training summaries, ONNX parity
    metrics/paper/ira/<backbone>/<variant>.csv                     per-image Grad-CAM / IRA results
    metrics/table2.json                                            Table 2
    plots/paper/<backbone>/autoencoder/plots/{metrics,images}/<random|imagenet>/   dvclive curves, reconstructions
    plots/paper/<backbone>/classifier/plots/metrics/<run>/                        dvclive curves
    plots/paper/overlays/<backbone>/<variant>.png                  heatmap overlays (Figs. 9-11)
    metrics/explanations.json, ...                                 the explanation benchmark: medinterp.interpret.layout

``<backbone>`` is the entry of ``paper.backbones`` (``nasnet_mobile``, ``torch-resnet50``); the
weights files are the family's own: Keras's ``.weights.h5``, a PyTorch ``state_dict`` as numpy
arrays (``.npz``).
"""

from __future__ import annotations

from pathlib import Path

from medinterp.export import metadata
from medinterp.registry import ModelSpec
from medinterp.training.loop import FitResult

MODELS = Path("models/paper")
METRICS = Path("metrics/paper")
PLOTS = Path("plots/paper")
TABLE2 = Path("metrics/table2.json")
ARRAYS = Path("arrays/breakhis.npy")  # what the paper's networks train on (the prepare stage's)
SPLIT = Path("splits/breakhis.csv")
CLASS_NAMES = ["benign", "malignant"]  # the classifiers' single logit is class 1's


def encoder_path(backbone: str, tag: str, suffix: str) -> Path:
    return MODELS / backbone / "autoencoder" / f"encoder-{tag}{suffix}"


def classifier_path(backbone: str, variant: str, suffix: str) -> Path:
    return MODELS / backbone / "classifier" / f"{variant}{suffix}"


def ira_csv(backbone: str, variant: str) -> Path:
    return METRICS / "ira" / backbone / f"{variant}.csv"


def overlay_png(backbone: str, variant: str) -> Path:
    return PLOTS / "overlays" / backbone / f"{variant}.png"


def onnx_metadata(
    spec: ModelSpec,
    kind: str,
    name: str,
    size: int,
    init_used: str,
    metrics: dict,
    params: dict,
    framework: dict,
    provenance: dict,
) -> dict:
    """Metadata of an exported encoder (``kind="encoder"``) or classifier (``kind="classifier"``)."""
    classifier = kind == "classifier"
    return metadata.make(
        name=f"paper-{spec.name}-{kind}-{name}",
        architecture=spec.name,
        family=spec.family,
        task="binary" if classifier else "autoencoder encoder",
        dataset="breakhis",
        split="train; kept epoch chosen on val",
        class_names=CLASS_NAMES if classifier else [],
        input=metadata.input_spec(size, "NHWC"),
        output=metadata.output_spec("logits", "sigmoid", name="logit")
        if classifier
        else metadata.output_spec("features", None, name="features"),
        metrics=metrics,
        init_used=init_used,
        provenance=provenance,
        params=params,
        framework=framework,
    )


def fit_summary(result: FitResult) -> dict:
    """The kept epoch of a :class:`medinterp.training.loop.FitResult` and its metrics."""
    return {
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        **{k: v for k, v in result.best.items() if k != "epoch"},
    }
