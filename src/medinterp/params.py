"""The schema of ``params.yaml``: every param declared, typed, defaulted, validated and documented here.

:func:`load` reads ``params.yaml`` and returns a frozen :class:`Params`; nothing else reads the
file, and no stage or library indexes a raw dict. A misspelt key, a wrong type or an out-of-range
value stops the stage with one line naming the key, the value and what is allowed
(``params.yaml: isic.binary.epoch is not a param; did you mean isic.binary.epochs?``).

A field marked *inherited* (``null`` in params.yaml) takes its value from three layers, the first
that sets it winning:

1. the block's own value in ``params.yaml``;
2. ``profiles.<data.profile>``: what the sample / full switch changes;
3. the model's seed defaults in the registry (the paper's Table 1, the thesis's Table 4).

:meth:`Params.paper_for`, :meth:`Params.isic_task` and :meth:`Params.interpret_settings` do that
layering, so a stage gets ready values in one call: ``params.yaml -> load() -> stage -> library``.
``docs/params.md`` is generated from this module (``python -m medinterp.params --docs``; a test
checks it is current).
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from medinterp import registry
from medinterp.errors import ConfigError
from medinterp.registry import ModelSpec

PARAMS_FILE = Path("params.yaml")

PositiveInt = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
Share = Annotated[float, Field(ge=0, le=1)]
OpenShare = Annotated[float, Field(gt=0, lt=1)]
Dropout = Annotated[float, Field(ge=0, lt=1)]
ImageSize = Annotated[int, Field(ge=16, le=4096)]
Precision = Literal["fp32", "bf16", "fp16"]
Range = tuple[float, float]
# The values below are the libraries' own names; tests/test_params.py checks they agree.
AnnotationClass = Literal["mitosis", "non_mitosis", "apoptosis", "tumor", "non_tumor", "lumen", "non_lumen"]
IsicClass = Literal["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]
ValMetric = Literal[
    "val_loss",
    "val_accuracy",
    "val_balanced_accuracy",
    "val_roc_auc",
    "val_precision",
    "val_recall",
    "val_f1",
    "val_roc_auc_ovr_macro",
]
VariantName = Literal["vanilla", "encoder-imagenet", "encoder-random"]


def inherited(description: str) -> Any:
    """A field whose ``null`` means: the profile's value, else the registry's (module docstring)."""
    return Field(None, description=description, json_schema_extra={"inherited": True})


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _distinct(values: list[str], item: str) -> list[str]:
    """``values`` if none is listed twice (a list validator's check; ``item`` names an entry in the message)."""
    if len(set(values)) != len(values):
        raise ValueError(f"lists a {item} twice")
    return values


def _ordered_pair(value: Range) -> Range:
    if value[0] > value[1]:
        raise ValueError("should be [low, high] with low <= high")
    return value


# ---------------------------------------------------------------------------------------- data
class DataPaths(Block):
    breakhis: str = Field("BreaKHis_v1", description="BreakHis, below data.root, as its archive unpacks")
    brecahad: str = Field("BreCaHAD", description="BreCaHAD")
    isic2020: str = Field("ISIC_2020", description="ISIC 2020 challenge (train images, GroundTruth, duplicates)")
    isic2019: str = Field("ISIC_2019", description="ISIC 2019 challenge")
    isic2016: str = Field("ISIC_2016", description="ISIC 2016 part 3 (train and test)")


class Data(Block):
    profile: Literal["sample", "full"] = Field(
        "sample",
        description="sample: the bundled synthetic miniature; full: the real datasets with the seeds' settings",
    )
    root: str = Field("data", description="folder holding the datasets (inside or outside the repository)")
    paths: DataPaths = DataPaths()


# --------------------------------------------------------------------------------------- split
class SplitBreakhis(Block):
    magnification: Literal[40, 100, 200, 400] = Field(400, description="BreakHis magnification used (the paper: 400X)")
    val_fraction: OpenShare = Field(
        0.2, description="share of the slides (or images) in validation (80/20 as the paper)"
    )
    group_by_slide: bool = Field(True, description="keep a slide on one side (the paper did not group)")
    drop_relabelled_copies: bool = Field(
        False, description="slide 14-13412 is filed as DC and LC; true keeps only the DC copy"
    )


class SplitBrecahad(Block):
    required_points: list[AnnotationClass] = Field(
        ["tumor"], min_length=1, description="images without any of these annotation classes are removed"
    )


class SplitIsicBinary(Block):
    extra_malignant_classes: list[IsicClass] = Field(
        ["MEL"], description="ISIC 2019 classes added as malignant (the thesis: MEL)"
    )
    drop_duplicates: bool = Field(True, description="drop ISIC 2020's listed duplicates (the thesis kept them)")
    folds: Annotated[int, Field(ge=2)] = Field(5, description="cross-validation folds")
    group_by_patient: bool = Field(True, description="ISIC 2020 patient id; ISIC 2019 lesion id")


class SplitIsicMulticlass(Block):
    classes: list[IsicClass] = Field(
        ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"],
        min_length=2,
        description="ISIC 2019 classes, in the order of the model's outputs",
    )
    test_fraction: OpenShare = Field(0.2, description="share of the images held out for testing")
    val_fraction: OpenShare = Field(0.2, description="share of what remains after the test set, for validation")
    group_by_lesion: bool = Field(True, description="keep a lesion's images on one side")

    @field_validator("classes")
    @classmethod
    def _distinct_classes(cls, classes: list[str]) -> list[str]:
        return _distinct(classes, "class")


class Split(Block):
    breakhis: SplitBreakhis = SplitBreakhis()
    brecahad: SplitBrecahad = SplitBrecahad()
    isic_binary: SplitIsicBinary = SplitIsicBinary()
    isic_multiclass: SplitIsicMulticlass = SplitIsicMulticlass()


class Prepare(Block):
    jobs: PositiveInt = Field(2, description="decoding processes")


# --------------------------------------------------------------------------------------- paper
class Variant(BaseModel):
    """One of section 4.3's variants, fixed by name."""

    model_config = ConfigDict(frozen=True)
    name: VariantName
    autoencoder: bool  # classifier started from the pre-trained encoder
    weights: str  # what the variant asks for: imagenet | random

    @property
    def training(self) -> str:
        """Table 2's "Training" column."""
        return "encoder" if self.autoencoder else "vanilla"


VARIANTS = {
    v.name: v
    for v in (
        Variant(name="vanilla", autoencoder=False, weights="imagenet"),
        Variant(name="encoder-imagenet", autoencoder=True, weights="imagenet"),
        Variant(name="encoder-random", autoencoder=True, weights="random"),
    )
}


class Phase(Block):
    """Table 1's three settings of a training phase, plus what the phase alone has."""

    epochs: PositiveInt | None = inherited("training epochs (Table 1: autoencoder 50/70/70, classifier 100)")
    learning_rate: Positive | None = inherited("learning rate (Table 1: autoencoder 1e-3, classifier 1e-4)")
    optimizer: Literal["adam", "sgd"] | None = inherited("optimizer (Table 1: autoencoder Adam, classifier SGD)")


class PaperAutoencoder(Phase):
    decoder_filters: PositiveInt = Field(
        256, description="filters of the first transposed convolution, halved at each further one"
    )
    reconstructions: Count = Field(4, description="validation images drawn beside their reconstructions")

    @property
    def monitor(self) -> str:
        return "val_loss"


class PaperClassifier(Phase):
    head_units: PositiveInt = Field(256, description="dense layer between the pooled features and the logit")
    dropout: Dropout = Field(0.5, description="before the dense head")
    monitor: Literal["val_loss", "val_accuracy", "val_roc_auc"] = Field(
        "val_loss", description="validation metric that picks the kept epoch"
    )
    balance_classes: bool = Field(True, description="draw benign images again until both classes are as many")


class PaperEvaluate(Block):
    image_size: ImageSize | None = Field(
        None, description="BreCaHAD's input size; null: the profile's, else paper.image_size"
    )
    points: list[AnnotationClass] = Field(
        ["tumor"], min_length=1, description="BreCaHAD annotation classes that count for the IRA"
    )
    constant_heatmap: Literal["zero", "skip"] = Field(
        "zero", description="zero: an all-zero Grad-CAM counts with IRA 0; skip: left out (counted either way)"
    )
    gradcam_layer: str | None = Field(None, description="null: the registry's (the last convolutional feature map)")
    overlays: Count = Field(3, description="BreCaHAD images drawn per row (Figs. 9-11)")


ExplanationMethod = Literal[
    "gradcam", "gradcam_plus_plus", "hirescam", "xgradcam", "layercam", "eigencam", "scorecam", "random", "centre"
]
EXPLANATION_METHODS: tuple[str, ...] = get_args(ExplanationMethod)


class ScoreCam(Block):
    channels: PositiveInt | Literal["all"] | None = inherited(
        "channels of the layer kept per image (the most activated); all: every one (one forward pass each)"
    )
    batch_size: PositiveInt = Field(64, description="masked images per forward pass")


class Randomization(Block):
    steps: PositiveInt | None = inherited("cascading steps from the output layer down; the last randomizes every layer")
    images: PositiveInt | Literal["all"] | None = inherited("explained images whose maps are recomputed at each step")
    max_spearman: Annotated[float, Field(ge=-1, le=1)] = Field(
        0.5, description="a method fails when its fully randomized maps still correlate above this (mean Spearman)"
    )


class Explanations(Block):
    methods: list[ExplanationMethod] = Field(
        list(EXPLANATION_METHODS),
        min_length=1,
        description="explanation methods and baselines compared (stage paper_explanations)",
    )
    images_from: Literal["correct", "all"] | None = inherited(
        "which BreCaHAD images are explained: correct (classified malignant, as Table 2) | all"
    )
    images: PositiveInt | Literal["all"] | None = inherited(
        "BreCaHAD images explained per classifier, the first of images_from"
    )
    radius: Count = Field(
        15,
        description="pixels around each tumour point: the discs of the pointing game, "
        "relevance mass and top-k (Zhang et al. 2018: 15)",
    )
    top_k: PositiveInt = Field(1000, description="pixels of the top-k intersection (Quantus's default)")
    scorecam: ScoreCam = ScoreCam()
    randomization: Randomization = Randomization()
    figure_images: Count = Field(4, description="images per method drawn in the comparison grid")

    @field_validator("methods")
    @classmethod
    def _distinct_methods(cls, methods: list[str]) -> list[str]:
        return _distinct(methods, "method")


class Paper(Block):
    backbones: list[str] = Field(
        ["nasnet_mobile", "densenet201", "mobilenet_v2"],
        min_length=1,
        description="models of the registry, one stage each: a name (keras where both families have it) "
        "or `<family>-<name>` (`torch-resnet50`)",
    )
    variants: list[VariantName] = Field(
        ["vanilla", "encoder-imagenet", "encoder-random"], min_length=1, description="section 4.3's variants"
    )
    image_size: ImageSize | None = inherited("BreakHis input size (sample 64, full 128 as the paper)")
    weights: str | None = inherited(
        "what an ImageNet request loads: imagenet | random | a weights file or a folder of Keras's files"
    )
    batch_size: Annotated[int, Field(ge=2)] | None = inherited("images per step (the paper does not give one)")
    batchnorm_momentum: OpenShare | None = Field(
        None, description="momentum of every batch normalisation layer; null keeps each architecture's"
    )
    augment: bool = Field(True, description="random 90-degree rotations and mirroring of the training images")
    precision: Precision = Field(
        "fp32",
        description="fp32 | bf16 | fp16: Keras's mixed-precision policy for training "
        "(mixed_bfloat16 / mixed_float16); pays off on a GPU",
    )
    parity_tolerance: Positive = Field(
        0.001,
        description="largest |ONNX Runtime - framework| output difference an export may show; more stops the stage",
    )
    autoencoder: PaperAutoencoder = PaperAutoencoder()
    classifier: PaperClassifier = PaperClassifier()
    evaluate: PaperEvaluate = PaperEvaluate()

    @field_validator("backbones")
    @classmethod
    def _known_backbones(cls, backbones: list[str]) -> list[str]:
        return _model_list(backbones, "auto", PAPER_FAMILY)

    # What the resolved settings mean, used by the paper's stages.
    @property
    def variant_list(self) -> list[Variant]:
        return [VARIANTS[n] for n in dict.fromkeys(self.variants)]

    def init_for(self, requested: str) -> str:
        """The weights a request (``imagenet`` or ``random``) really starts from."""
        return "random" if requested == "random" else self.weights

    def encoder_tag(self, variant: Variant) -> str:
        """Which autoencoder an encoder variant starts from: ``random`` or ``imagenet`` (by the weights
        really loaded)."""
        return "random" if self.init_for(variant.weights) == "random" else "imagenet"

    def encoder_tags(self) -> list[str]:
        """The autoencoders to train, one per distinct starting point of the encoder variants."""
        return list(dict.fromkeys(self.encoder_tag(v) for v in self.variant_list if v.autoencoder))

    def runs(self) -> dict[str, str]:
        """Each variant -> the variant whose training it is: itself, or one that starts identically,
        preferring the variant that asked for the weights really used (``encoder-random`` when the
        sample gives ``encoder-imagenet`` random weights too)."""
        chosen: dict[tuple[bool, str], str] = {}
        for v in self.variant_list:
            key = (v.autoencoder, self.encoder_tag(v))
            if key not in chosen or v.weights == key[1]:
                chosen[key] = v.name
        return {v.name: chosen[(v.autoencoder, self.encoder_tag(v))] for v in self.variant_list}

    def as_dict(self, backbone: str, *sections: str) -> dict[str, Any]:
        """The settings every paper stage shares plus the named sections: what a stage records is what it used."""
        shared = self.model_dump(exclude={"backbones", "autoencoder", "classifier", "evaluate"})
        out = {
            "backbone": backbone,
            **{
                k: shared[k]
                for k in (
                    "image_size",
                    "weights",
                    "batch_size",
                    "batchnorm_momentum",
                    "augment",
                    "precision",
                    "parity_tolerance",
                )
            },
        }
        out["variants"] = [v.name for v in self.variant_list]
        for section in sections:
            out[section] = getattr(self, section).model_dump()
        return out


PAPER_FAMILY = "keras"  # a bare name in paper.backbones: the paper's family where both have it


def _model_list(entries: list[str], family: str, preferred: str) -> list[str]:
    """``entries`` if each names one registered model and no two the same one."""
    specs = []
    for entry in entries:
        try:
            specs.append(registry.lookup(entry, family, preferred).key)
        except ConfigError as exc:
            raise ValueError(f"{entry!r}: {exc}") from None
    twice = sorted({k for k in specs if specs.count(k) > 1})
    if twice:
        raise ValueError(f"names {twice} more than once")
    return entries


# ---------------------------------------------------------------------------------------- isic
class Augment(Block):
    """Training augmentation, the thesis's section 3.4 (Perez et al. 2018)."""

    crop_scale: Range = Field((0.4, 1.0), description="random crop keeping this share of the area ...")
    crop_ratio: Range = Field((0.75, 1.3333333), description="... with aspect ratio in this range")
    rotation: Annotated[float, Field(ge=0, le=180)] = Field(90.0, description="degrees either way")
    shear: Annotated[float, Field(ge=0, lt=90)] = Field(20.0, description="degrees either way")
    scale: Range = Field((0.8, 1.2), description="zoom factors")
    flips: bool = Field(True, description="horizontal and vertical, each with probability 1/2")
    brightness: Range = Field((0.7, 1.3), description="brightness factors")
    contrast: Range = Field((0.7, 1.3), description="contrast factors")
    saturation: Range = Field((0.7, 1.3), description="saturation factors")
    hue: Range = Field((-0.1, 0.1), description="hue shift, as a fraction of the hue circle")

    @field_validator("crop_scale", "crop_ratio", "scale", "brightness", "contrast", "saturation", "hue")
    @classmethod
    def _pairs(cls, value: Range, info: Any) -> Range:
        low, high = _ordered_pair(value)
        if info.field_name == "crop_scale" and not 0 < low <= high <= 1:
            raise ValueError("should lie in (0, 1]")
        if info.field_name == "hue" and not -0.5 <= low <= high <= 0.5:
            raise ValueError("should lie in [-0.5, 0.5]")
        if info.field_name not in ("crop_scale", "hue") and low <= 0:
            raise ValueError("should be positive")
        return value


class IsicTask(Block):
    """What both ISIC tasks have (sections 4.2-4.3, 5.2, Table 4)."""

    epochs: PositiveInt | None = inherited("null: the profile's, else the model's Table 4 value")
    batch_size: Annotated[int, Field(ge=2)] | None = inherited("null: the profile's, else Table 4")
    learning_rate: Positive | None = inherited("Adam; null: the profile's (full 0.0001 as the thesis, sample 0.001)")
    plateau_factor: OpenShare = Field(0.4, description="ReduceLROnPlateau on the monitored metric")
    plateau_patience: Count = Field(1, description="epochs without improvement before the rate drops")
    early_stopping_patience: PositiveInt = Field(10, description="epochs without improvement before training stops")
    monitor: ValMetric = Field(
        "val_loss", description="epoch kept per fold (losses minimised, other metrics maximised)"
    )
    dropout: Dropout = Field(0.1, description="before the new final layer")
    freeze: list[str] = Field(["classifier"], description="layers that do not train; the new final layer always does")


class IsicBinary(IsicTask):
    best_fold_by: ValMetric = Field("val_roc_auc", description="the fold whose model is kept and tested on ISIC 2016")


class IsicMulticlass(IsicTask):
    plateau_factor: OpenShare = Field(0.2, description="ReduceLROnPlateau on the monitored metric")
    plateau_patience: Count = Field(2, description="epochs without improvement before the rate drops")
    class_weight_range: tuple[Positive, Positive] = Field(
        (0.9, 0.2), description="loss weights: rarest class .. most frequent, by frequency rank"
    )
    class_weights: dict[IsicClass, Positive] | None = Field(
        None, description="or {MEL: 0.4, NV: 0.2, ...} to set each class's weight"
    )


class IsicExport(Block):
    opset: Annotated[int, Field(ge=11, le=21)] = Field(17, description="ONNX opset")
    parity_tolerance: Positive = Field(0.0001, description="largest |ONNX Runtime - PyTorch| logit difference accepted")


class Isic(Block):
    image_size: ImageSize | None = inherited("null: the profile's (sample 64, full 224)")
    weights: str | None = inherited("imagenet | random | path to a torchvision state dict; null: the profile's")
    loader_workers: Count | Literal["auto"] = Field(
        "auto",
        description="processes that read training batches from the arrays; auto: from the machine's cores "
        "(results do not depend on it: augmentation is drawn in the main process)",
    )
    precision: Precision = Field(
        "fp32",
        description="fp32 | bf16 | fp16: autocast (torch) or mixed-precision policy (Keras) "
        "for training and evaluation; fp16 and bf16 pay off on a GPU",
    )
    memory_format: Literal["channels_last", "contiguous"] | None = inherited(
        "torch family's layout of training batches; null: the profile's (sample contiguous, full channels_last: "
        "channels_last slows training on small images and speeds it up on large ones); Keras is always NHWC"
    )
    augment: Augment = Augment()
    binary: IsicBinary = IsicBinary()
    multiclass: IsicMulticlass = IsicMulticlass()
    export: IsicExport = IsicExport()


class TaskSettings(IsicTask):
    """One ISIC task's resolved settings: the task's block with the ``isic`` fields it trains with."""

    task: Literal["binary", "multiclass"]
    image_size: ImageSize
    weights: str
    loader_workers: Count | Literal["auto"]
    precision: Precision = "fp32"
    memory_format: Literal["channels_last", "contiguous"] = "channels_last"
    augment: Augment

    def as_dict(self) -> dict[str, Any]:
        own = (
            "task",
            "image_size",
            "weights",
            "precision",
            "memory_format",
            "epochs",
            "batch_size",
            "learning_rate",
            "plateau_factor",
            "plateau_patience",
            "early_stopping_patience",
            "monitor",
            "dropout",
            "freeze",
            "augment",
        )
        dumped = self.model_dump()
        dumped["augment"] = {k: list(v) if isinstance(v, tuple) else v for k, v in dumped["augment"].items()}
        return {k: dumped[k] for k in own}


# ----------------------------------------------------------------------------------- interpret
class Outliers(Block):
    z: Positive = Field(2.0, description="a pixel is an outlier when |z| > z in any channel (the thesis: 2.0)")
    min_share: Share = Field(
        0.2, description="an image is an outlier when more than this share of its pixels are (the thesis: 0.0)"
    )
    examples: Count = Field(4, description="images shown in the Fig. 17 figure")


class Filters(Block):
    layer: str | None = Field(None, description="null: the registry's last convolutional layer")
    quantile: OpenShare = Field(
        0.95, description="per-filter threshold on the images' spatial maxima (the thesis: 0.95)"
    )
    top_k: PositiveInt = Field(5, description="filters per set and class in the top table (Table 10)")
    heatmap_top: PositiveInt = Field(10, description="filters per class shown in the heatmap (Fig. 26)")


class Bilateral(Block):
    every: Count = Field(4, description="steps between filterings; 0: never")
    sigma_color: Positive = Field(75.0, description="as OpenCV's bilateralFilter, 0-255 scale (Table 3: sigmaColor 75)")
    sigma_spatial: Positive = Field(1.0, description="pixels")
    diameter: PositiveInt = Field(5, description="window side, pixels")


class Regularizers(Block):
    """Table 3."""

    jitter: Share = Field(0.1, description="brightness factor drawn from [1 - jitter, 1 + jitter]")
    rotate: Annotated[float, Field(ge=0, le=180)] = Field(
        15.0, description="degrees, drawn from [-rotate, rotate] (Table 3)"
    )
    translate: Share = Field(0.1, description="share of the image side, per axis (Table 3)")
    resize: Annotated[float, Field(ge=1)] = Field(
        1.2, description="scale drawn log-uniformly from [1/resize, resize] (Table 3)"
    )
    l1: Annotated[float, Field(ge=0)] = Field(
        0.05, description="L1 penalty towards mid-grey, relative to the normalised gradient (Table 3)"
    )
    bilateral: Bilateral = Bilateral()


class Featurevis(Block):
    steps: PositiveInt | None = inherited("gradient steps (the thesis: 120, 200 with its own objective)")
    top_n: PositiveInt | None = inherited("most activated filters visualized per layer")
    lr: Positive = Field(0.05, description="mean change of a pixel value per step (normalised gradient ascent)")
    init_std: Annotated[float, Field(ge=0)] = Field(0.1, description="noise start: 0.5 + init_std * N(0, 1)")
    batch_size: PositiveInt = Field(32, description="visualizations optimised together")
    regularizers: Regularizers = Regularizers()


class Sanity(Block):
    class_: Literal["benign", "malignant"] = Field(
        "malignant", alias="class", description="class of the binary task compared"
    )
    layers: PositiveInt | Literal["all"] | None = inherited(
        "convolutional layers compared, spread from first to last; all: every one"
    )
    natural_images: PositiveInt | None = inherited("natural images of the class compared with (at most)")
    top_n: PositiveInt | None = inherited("visualizations per layer")


class InterpretPaper(Block):
    backbones: list[str] = Field(
        [],
        description="entries of paper.backbones whose classifiers the thesis's methods "
        "interpret (stage interpret_paper, one per backbone and variant); [] : none",
    )
    variants: list[VariantName] = Field(["vanilla"], min_length=1, description="which of each backbone's classifiers")


class Interpret(Block):
    batch_size: PositiveInt = Field(32, description="images per forward pass")
    outliers: Outliers = Outliers()
    filters: Filters = Filters()
    featurevis: Featurevis = Featurevis()
    sanity: Sanity = Sanity()
    paper: InterpretPaper = InterpretPaper()


# ------------------------------------------------------------------------------------ profiles
def _partial(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` with every field optional and defaulting to None: a layer that sets only some keys."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = _partial(annotation)
        fields[name] = (annotation | None, Field(None, alias=info.alias, description=info.description))
    return create_model(
        f"{model.__name__}Layer", __config__=ConfigDict(extra="forbid", frozen=True, populate_by_name=True), **fields
    )


class Layered(Block):
    paper: Paper = Paper()
    isic: Isic = Isic()
    interpret: Interpret = Interpret()
    explanations: Explanations = Explanations()


Layer = _partial(Layered)


# Why each sample value differs from the seeds': params.yaml's comments and docs/params.md.
SAMPLE = {
    "paper": {
        "image_size": 64,
        "weights": "random",
        "batch_size": 16,
        "batchnorm_momentum": 0.5,
        "autoencoder": {"epochs": 1},
        "classifier": {"epochs": 1, "optimizer": "adam", "learning_rate": 0.001},
        "evaluate": {"image_size": 128},
    },
    "isic": {
        "image_size": 64,
        "weights": "random",
        "memory_format": "contiguous",
        "binary": {"epochs": 1, "batch_size": 16, "learning_rate": 0.001},
        "multiclass": {"epochs": 3, "batch_size": 16, "learning_rate": 0.001},
    },
    "interpret": {"featurevis": {"steps": 20, "top_n": 3}, "sanity": {"layers": 3, "natural_images": 8, "top_n": 2}},
    "explanations": {
        "images_from": "all",
        "images": 4,
        "scorecam": {"channels": 8},
        "randomization": {"steps": 2, "images": 2},
    },
}
FULL = {
    "paper": {"image_size": 128, "weights": "imagenet", "batch_size": 16},
    "isic": {
        "image_size": 224,
        "weights": "imagenet",
        "memory_format": "channels_last",
        "binary": {"learning_rate": 0.0001},
        "multiclass": {"learning_rate": 0.0001},
    },
    "interpret": {
        "featurevis": {"steps": 200, "top_n": 5},
        "sanity": {"layers": "all", "natural_images": 100, "top_n": 5},
    },
    "explanations": {
        "images_from": "correct",
        "images": "all",
        "scorecam": {"channels": "all"},
        "randomization": {"steps": 10, "images": "all"},
    },
}


class Profiles(Block):
    sample: Layer = Field(
        Layer.model_validate(SAMPLE), description="the bundled synthetic sample: offline, CPU, minutes"
    )
    full: Layer = Field(Layer.model_validate(FULL), description="the real datasets with the seeds' settings")


# ----------------------------------------------------------------------------------------- top
class Params(Block):
    models: list[str] = Field(
        ["alexnet", "vgg16", "resnet50"],
        min_length=1,
        description="architectures of the per-model stages (ISIC training, export, interpretation), "
        "one stage each: a name or `<family>-<name>` (`keras-resnet50`)",
    )
    model: str = Field(
        "resnet50",
        description="the entry of `models` behind the registry's main ISIC artifacts "
        "(isic-binary-classifier, isic-multiclass-classifier)",
    )
    family: Literal["auto", "keras", "torch"] = Field(
        "auto", description="which family builds a bare name of `models` where both have it (auto: torch)"
    )
    seed: Count = Field(0, description="seed of every split, initialisation and random draw")
    data: Data = Data()
    split: Split = Split()
    profiles: Profiles = Profiles()
    prepare: Prepare = Prepare()
    paper: Paper = Paper()
    isic: Isic = Isic()
    interpret: Interpret = Interpret()
    explanations: Explanations = Explanations()

    @model_validator(mode="after")
    def _lists_agree(self) -> Params:
        try:
            _model_list(self.models, self.family, registry.PREFERRED_FAMILY)
        except ValueError as exc:
            raise ValueError(f"models: {exc}") from None
        if self.model not in self.models:
            raise ValueError(
                f"model {self.model!r} is not one of models {self.models}: add it there "
                f"(dvc exp run -S 'models=[..., {self.model}]')"
            )
        others = [b for b in self.interpret.paper.backbones if b not in self.paper.backbones]
        if others:
            raise ValueError(f"interpret.paper.backbones {others} are not in paper.backbones {self.paper.backbones}")
        return self

    def _layered(self, spec: ModelSpec | None) -> Layered:
        layers = [getattr(self.profiles, self.data.profile)]
        if spec is not None:
            layers.append(Layer.model_validate(spec.defaults))
        own = Layered(paper=self.paper, isic=self.isic, interpret=self.interpret, explanations=self.explanations)
        return _fill(own, layers)

    def paper_for(self, backbone: str) -> tuple[ModelSpec, Paper]:
        """The registry spec and resolved paper settings of ``backbone`` (an entry of ``paper.backbones``)."""
        if backbone not in self.paper.backbones:
            raise ConfigError(f"'{backbone}' is not in paper.backbones {self.paper.backbones}")
        spec = registry.lookup(backbone, "auto", PAPER_FAMILY)
        paper = self._layered(spec).paper
        _require(paper, "paper", f"profiles.{self.data.profile}.paper or the registry's {spec.key}")
        evaluate = paper.evaluate.model_copy(
            update={
                "image_size": paper.evaluate.image_size or paper.image_size,
                "gradcam_layer": paper.evaluate.gradcam_layer or spec.gradcam_layer,
            }
        )
        return spec, paper.model_copy(update={"evaluate": evaluate})

    def model_spec(self, entry: str | None = None) -> ModelSpec:
        """The spec of an entry of ``models`` (default: ``model``), bare names resolved by ``family``."""
        entry = self.model if entry is None else entry
        if entry not in self.models:
            raise ConfigError(f"'{entry}' is not in models {self.models}")
        return registry.lookup(entry, self.family)

    def isic_task(self, task: Literal["binary", "multiclass"], entry: str | None = None) -> TaskSettings:
        """One ISIC task's settings for an entry of ``models`` (default ``model``): the task's block,
        the ``isic`` fields, every layer applied."""
        spec = self.model_spec(entry)
        isic = self._layered(spec).isic
        block = getattr(isic, task)
        values = {name: getattr(block, name) for name in IsicTask.model_fields}
        values.update(
            task=task,
            image_size=isic.image_size,
            weights=isic.weights,
            loader_workers=isic.loader_workers,
            precision=isic.precision,
            memory_format=isic.memory_format,
            augment=isic.augment,
        )
        for key in ("image_size", "weights", "memory_format"):
            _require_value(values[key], f"isic.{key}", f"profiles.{self.data.profile}.isic")
        for key in ("epochs", "batch_size", "learning_rate"):
            _require_value(
                values[key],
                f"isic.{task}.{key}",
                f"profiles.{self.data.profile}.isic.{task} or the registry's {spec.key}",
            )
        return TaskSettings(**values)

    def interpret_settings(self) -> Interpret:
        """The ``interpret`` block with the profile's values filled in."""
        interpret = self._layered(None).interpret
        _require(interpret, "interpret", f"profiles.{self.data.profile}.interpret")
        return interpret

    def explanation_settings(self) -> Explanations:
        """The ``explanations`` block with the profile's values filled in."""
        explanations = self._layered(None).explanations
        _require(explanations, "explanations", f"profiles.{self.data.profile}.explanations")
        return explanations

    def image_sizes(self) -> dict[str, int]:
        """The size each split table is decoded at: BreakHis ``paper.image_size``, BreCaHAD
        ``paper.evaluate.image_size`` (else ``paper.image_size``), the ISIC tables ``isic.image_size``."""
        layered = self._layered(None)
        paper, isic = layered.paper, layered.isic
        where = f"profiles.{self.data.profile}"
        _require_value(paper.image_size, "paper.image_size", f"{where}.paper")
        _require_value(isic.image_size, "isic.image_size", f"{where}.isic")
        return {
            "breakhis": paper.image_size,
            "brecahad": paper.evaluate.image_size or paper.image_size,
            "isic_binary": isic.image_size,
            "isic2016_test": isic.image_size,
            "isic_multiclass": isic.image_size,
        }


def _fill(value: BaseModel, layers: list[BaseModel | None]) -> Any:
    """``value`` with each of its None fields taken from the first layer that sets it, recursively."""
    updates: dict[str, Any] = {}
    for name in type(value).model_fields:
        own = getattr(value, name)
        below = [getattr(layer, name) for layer in layers if layer is not None]
        if isinstance(own, BaseModel):
            updates[name] = _fill(own, below)
        elif own is None:
            updates[name] = next((b for b in below if b is not None), None)
    return value.model_copy(update=updates)


def _require(block: BaseModel, at: str, where: str) -> None:
    """Every inherited field of ``block`` (recursively) has a value after layering."""
    for name, info in type(block).model_fields.items():
        value = getattr(block, name)
        key = f"{at}.{info.alias or name}"
        if isinstance(value, BaseModel):
            _require(value, key, where)
        elif (info.json_schema_extra or {}).get("inherited"):
            _require_value(value, key, where)


def _require_value(value: Any, key: str, where: str) -> None:
    if value is None:
        raise ConfigError(f"params.yaml: {key} is null and not set in {where}; give it a value")


# ------------------------------------------------------------------------------------- loading
def load(path: str | Path = PARAMS_FILE) -> Params:
    """``params.yaml`` validated: a :class:`Params`, or a :class:`ConfigError` naming the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found; run the stage from the repository root")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc
    return validate(raw, str(path))


def validate(raw: Any, source: str = "params.yaml") -> Params:
    """``raw`` (the parsed YAML) as :class:`Params`; the first problem as one line naming the key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, found {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc.errors(), raw)}") from None


def _describe(errors: list[dict[str, Any]], raw: dict[str, Any]) -> str:
    """One line for the first key with a problem; a value that fits no branch of a union gets each branch's reason."""
    keys = _key_path([str(part) for part in errors[0]["loc"]], raw)
    key = ".".join(keys)
    error = errors[0]
    if not keys:  # a check across top-level keys: its message names them
        return error["msg"].replace("Value error, ", "")
    if error["type"] == "extra_forbidden":
        options = _fields_at(keys[:-1])
        close = difflib.get_close_matches(keys[-1], options, n=1, cutoff=0.6)
        hint = f"; did you mean {'.'.join(keys[:-1] + close)}?" if close else f"; the keys here are {options}"
        return f"{key} is not a param{hint}"
    if error["type"] == "missing":
        return f"{key} is missing"
    same = [e for e in errors if _key_path([str(p) for p in e["loc"]], raw) == keys]
    reasons = list(
        dict.fromkeys(e["msg"].replace("Input should be", "should be").replace("Value error, ", "") for e in same)
    )
    if isinstance(error.get("input"), dict) and error["type"] == "value_error":  # a check across keys of a block
        return f"{key}: {' or '.join(reasons)}"
    return f"{key} is {error.get('input')!r}: {' or '.join(reasons)}"


def _key_path(loc: list[str], raw: dict[str, Any]) -> list[str]:
    """The params keys of an error location, without pydantic's union-branch labels."""
    keys: list[str] = []
    node: Any = raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            keys.append(part)
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and keys:
            keys[-1] += f"[{part}]"
            node = node[int(part)] if int(part) < len(node) else None
        elif isinstance(node, dict) or not keys:  # a key the YAML lacks
            keys.append(part)
            node = None
    return keys


def _fields_at(keys: list[str]) -> list[str]:
    """The valid keys of the block at ``keys`` (``profiles.sample.isic`` included)."""
    model: Any = Params
    for key in keys:
        key = key.split("[")[0]
        fields = {info.alias or name: info for name, info in model.model_fields.items()}
        info = fields.get(key)
        if info is None:
            return []
        model = _model_of(info.annotation)
        if model is None:
            return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is Union or type(annotation).__name__ == "UnionType":
        for arg in get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


# ---------------------------------------------------------------------------------------- docs
def reference() -> str:
    """docs/params.md: every param with its type, default and meaning, from this schema."""
    lines = [
        "# Params reference",
        "",
        "Generated from `src/medinterp/params.py` by `uv run python -m medinterp.params --docs > docs/params.md`;",
        "`tests/test_params.py` fails when this file and the schema disagree. *inherited*: `null` takes the",
        "active profile's value (`profiles.<data.profile>`), else the model's seed default from the registry.",
        "",
    ]
    header = ["| key | type | default | meaning |", "|---|---|---|---|"]
    top = [name for name, info in Params.model_fields.items() if _model_of(info.annotation) is None]
    lines += ["## Top level", "", *header, *(row for name in top for row in _rows(name, Params.model_fields[name])), ""]
    for section, info in Params.model_fields.items():
        if section not in top and section != "profiles":
            lines += [f"## `{section}`", "", *header, *_rows(section, info), ""]
    lines += [
        "## `profiles`",
        "",
        "`profiles.sample` and `profiles.full` hold the values the `data.profile` switch changes. Each is a",
        "partial copy of `paper`, `isic` and `interpret`: any key above may be set there, with the same type",
        "and limits, and no other. A value set in the block itself wins over the profile's.",
        "",
        "| key | sample | full |",
        "|---|---|---|",
    ]
    sample, full = (_flat(p.model_dump(by_alias=True, exclude_none=True)) for p in (Profiles().sample, Profiles().full))
    for key in dict.fromkeys([*sample, *full]):
        lines.append(f"| `{key}` | {_shown(sample.get(key))} | {_shown(full.get(key))} |")
    return "\n".join(lines) + "\n"


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _shown(value: Any) -> str:
    return (
        ""
        if value is None
        else f"`{yaml.safe_dump(_plain(value), default_flow_style=True).strip().removesuffix('...').strip()}`"
    )


def _rows(key: str, info: Any) -> list[str]:
    model = _model_of(info.annotation)
    if model is not None and model is not Layer:
        rows = []
        for name, sub in model.model_fields.items():
            rows += _rows(f"{key}.{sub.alias or name}", sub)
        return rows
    extra = info.json_schema_extra or {}
    default = info.get_default(call_default_factory=True)
    meaning = (info.description or "") + (" *(inherited)*" if extra.get("inherited") else "")
    limits = "".join(f" ({_limit(m)})" for m in info.metadata)
    return [f"| `{key}` | {_type_name(info.annotation)}{limits} | {_shown(default) or '`null`'} | {meaning} |"]


_SIGNS = {"Ge": ">=", "Gt": ">", "Le": "<=", "Lt": "<", "MinLen": "length >=", "MaxLen": "length <="}


def _limit(constraint: Any) -> str:
    """``Ge(ge=1)`` as ``>= 1``."""
    sign = _SIGNS.get(type(constraint).__name__)
    values = (
        [getattr(constraint, f.name) for f in dataclasses.fields(constraint)]
        if dataclasses.is_dataclass(constraint)
        else []
    )
    if sign is None or len(values) != 1:
        return str(constraint)
    return f"{sign} {values[0]}"


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, BaseModel):
        return value.model_dump()
    return value


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *meta = get_args(annotation)
        limits = [_limit(m) for info in meta for m in getattr(info, "metadata", [info])]
        return _type_name(base) + (f" ({', '.join(limits)})" if limits else "")
    if origin is Literal:
        return " \\| ".join(repr(a) for a in get_args(annotation))
    if origin is Union or type(annotation).__name__ == "UnionType":
        return " or ".join(_type_name(a) for a in get_args(annotation)).replace("NoneType", "null")
    if origin in (list, tuple, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in get_args(annotation) if a is not Ellipsis)}]"
    return getattr(annotation, "__name__", str(annotation))


if __name__ == "__main__":
    if sys.argv[1:] == ["--docs"]:
        sys.stdout.write(reference())
    else:
        load()
        print("params.yaml is valid")
