"""The metadata every exported model carries, inside the ONNX file and in a sidecar JSON.

Like a MONAI bundle's metadata, it is enough to run the model without this repository's training
code: the architecture and family, the data it learnt from, the class names in output order, and
the exact preprocessing (input layout and shape, value range, normalisation, resizing), plus the
metrics of its evaluation, the params, and the provenance that made it: the package version, a
digest of the stage's code and the md5 of each input file (DVC's hash of the same file, so
``dvc.lock`` finds the stage that made it). Nothing in it depends on git's working-tree state or
the machine, so the same weights exported twice give the same bytes. :func:`validate` checks it
before anything runs the model.

Preprocessing contract, in order: decode to RGB uint8; resize to ``input.shape``'s height and
width (``input.resize``); divide by 255 so values lie in ``input.value_range`` [0, 1]; subtract
``input.mean`` and divide by ``input.std`` per channel when they are given; arrange as
``input.layout``. The output is ``output.kind``; ``output.activation`` (``sigmoid`` or
``softmax``) turns logits into class probabilities.

The model card (schema 3) adds what a MONAI bundle's ``metadata.json`` carries, all derived by
:func:`make` from the fields above, so no caller passes them: ``version``, ``description``,
``intended_use``, ``license`` (of the model and of each dataset), ``data_source`` (the data
profile, whether the data were synthetic, each dataset's origin and citation), ``data_type``,
``references`` and ``network_data_format`` (each input and output tensor: shape, dtype, value
range, channel meaning, activation). ``version`` is ``<package version>+<model id>``: the model id
is the first 12 hex digits of the sha256 of what made the model and how it is run (see
:data:`VERSIONED`), so it changes whenever the code, an input file, a param, the framework or
the preprocessing does. A GTO version (``<artifact>@v1.2.0``, docs/registry.md) is a release label
on a Git commit; this one identifies the build inside the file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import re
from pathlib import Path
from typing import Any

from medinterp.errors import MedinterpError
from medinterp.io import atomic_path, readable, write_json
from medinterp.provenance import code_digest

METADATA_KEY = "medinterp"
SCHEMA_VERSION = 3  # 2: ``provenance`` replaced ``git_revision``; 3: the model card fields
FAMILIES = ("keras", "torch")
LAYOUTS = ("NHWC", "NCHW")
OUTPUT_KINDS = ("logits", "features")
ACTIVATIONS = ("sigmoid", "softmax", None)
RESIZE = "bilinear, squashed to a square (Pillow BILINEAR)"

REQUIRED = {
    "schema": int,
    "name": str,
    "architecture": str,
    "family": str,
    "task": str,
    "dataset": str,
    "split": str,
    "class_names": list,
    "input": dict,
    "output": dict,
    "metrics": dict,
    "init_used": str,
    "provenance": dict,
    "params": dict,
    "framework": dict,
}
# what make() derives from the fields above
CARD = {
    "version": str,
    "description": str,
    "intended_use": str,
    "license": dict,
    "data_source": dict,
    "data_type": str,
    "references": list,
    "network_data_format": dict,
}
# the fields whose digest is the model id in ``version``: what made the model and how it is run
VERSIONED = (
    "name",
    "architecture",
    "family",
    "task",
    "dataset",
    "split",
    "class_names",
    "input",
    "output",
    "init_used",
    "params",
    "provenance",
    "framework",
)
VERSION_PATTERN = re.compile(r"^\S+\+[0-9a-f]{12}$")
PROFILES = ("sample", "full", None)

INTENDED_USE = (
    "Research on the interpretability of medical-image classifiers (Grad-CAM and region accuracy, filter "
    "statistics, feature visualisation, sanity checks) and reproduction of published results. Not a medical "
    "device: not for diagnosis, screening, triage or any other clinical decision, and not validated on any "
    "patient population."
)
MODEL_LICENSE = "not stated: the medinterp package declares no licence (pyproject.toml)"

# Where each dataset comes from (README "Real datasets", shared/datasets.md) and the paper to cite.
# None of those sources states a licence for the images, so the card points to the published terms.
SOURCES = {
    "breakhis": {
        "name": "BreakHis (BreaKHis_v1), Breast Cancer Histopathological Database",
        "content": "breast tumour tissue, H&E-stained histopathology, 700x460 RGB PNG, 82 patients",
        "url": "https://web.inf.ufpr.br/vri/databases-software/breast-cancer-histopathological-database-breakhis/",
        "citation": "Spanhol F. A., Oliveira L. S., Petitjean C., Heutte L. "
        "A Dataset for Breast Cancer Histopathological Image Classification. "
        "IEEE Transactions on Biomedical Engineering 63(7):1455-1462, 2016.",
    },
    "isic2020": {
        "name": "ISIC 2020 Challenge (SIIM-ISIC Melanoma Classification), training set",
        "content": "dermoscopic images of skin lesions, JPEG, 33,126 images of 2,056 patients, 584 melanomas",
        "url": "https://challenge.isic-archive.com/data/#2020",
        "citation": "Rotemberg V. et al. A patient-centric dataset of images and metadata for identifying melanomas "
        "using clinical context. Scientific Data 8:34, 2021 (PMC7843971).",
    },
    "isic2019": {
        "name": "ISIC 2019 Challenge, training set",
        "content": "dermoscopic images of skin lesions, JPEG, 25,331 images in eight diagnostic classes",
        "url": "https://challenge.isic-archive.com/data/#2019",
        "citation": "Tschandl P., Rosendahl C., Kittler H. The HAM10000 dataset. Scientific Data 5:180161, 2018; "
        "Codella N. et al. Skin Lesion Analysis Toward Melanoma Detection: A Challenge at ISBI 2017. "
        "arXiv:1710.05006; Combalia M. et al. BCN20000: Dermoscopic Lesions in the Wild. arXiv:1908.02288.",
    },
    "isic2016": {
        "name": "ISIC 2016 Challenge (ISBI 2016) part 3, test set",
        "content": "dermoscopic images of skin lesions, JPEG, 379 test images (304 benign, 75 malignant)",
        "url": "https://challenge.isic-archive.com/data/#2016",
        "citation": "Gutman D. et al. Skin Lesion Analysis toward Melanoma Detection: A Challenge at the International "
        "Symposium on Biomedical Imaging (ISBI) 2016. arXiv:1605.01397.",
    },
}
# the ``dataset`` a model names -> its sources, what was used of them, the image modality and file type
DATASETS = {
    "breakhis": {
        "sources": ("breakhis",),
        "modality": "histopathology",
        "use": "BreakHis images at one magnification (split.breakhis.magnification), benign vs malignant",
        "data_type": "png (8-bit RGB)",
    },
    "isic_binary": {
        "sources": ("isic2020", "isic2019", "isic2016"),
        "modality": "dermoscopy",
        "use": "ISIC 2020 training images plus ISIC 2019's images of split.isic_binary.extra_malignant_classes "
        "as malignant, in cross-validation folds; tested on the ISIC 2016 part 3 test set",
        "data_type": "jpeg (8-bit RGB)",
    },
    "isic_multiclass": {
        "sources": ("isic2019",),
        "modality": "dermoscopy",
        "use": "ISIC 2019 training images in split.isic_multiclass.classes, split into train/val/test",
        "data_type": "jpeg (8-bit RGB)",
    },
}
CHANNELS = {"0": "red", "1": "green", "2": "blue"}


class MetadataError(MedinterpError):
    """A model's metadata is missing or does not describe how to run it."""


def input_spec(
    size: int, layout: str, mean: list[float] | None = None, std: list[float] | None = None, name: str = "input"
) -> dict:
    shape = [None, size, size, 3] if layout == "NHWC" else [None, 3, size, size]
    return {
        "name": name,
        "shape": shape,
        "layout": layout,
        "dtype": "float32",
        "value_range": [0.0, 1.0],
        "mean": mean,
        "std": std,
        "resize": RESIZE,
    }


def output_spec(kind: str, activation: str | None, name: str = "output") -> dict:
    return {"name": name, "kind": kind, "activation": activation}


def file_md5(path: str | Path) -> str:
    """md5 of a file's bytes: what DVC 3 records for it in ``dvc.lock``."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_version() -> str:
    try:
        return importlib.metadata.version("medinterp")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def provenance(stage_module: str, inputs: list[str | Path]) -> dict:
    """What made a model: the package version, the stage module and the sha256 of the code it runs
    (``provenance.code_digest``), and the md5 of each input file, by its path in the repository."""
    return {
        "medinterp": package_version(),
        "stage": stage_module,
        "code_sha256": code_digest(stage_module),
        "inputs": {Path(p).as_posix(): file_md5(p) for p in inputs},
    }


def framework_info(name: str, version: str) -> dict:
    # major.minor only: uv may pick any 3.11.x for `.python-version`'s 3.11, and the patch level
    # would otherwise make the same weights export to other bytes on another machine
    return {"name": name, "version": version, "python": ".".join(platform.python_version_tuple()[:2])}


def make(**fields: Any) -> dict:
    """A metadata record with its model card; raises :class:`MetadataError` if it is incomplete."""
    derived = sorted(set(fields) & set(CARD))
    if derived:
        raise MetadataError(f"metadata: {derived} are derived by make(), do not pass them")
    meta = {"schema": SCHEMA_VERSION, **fields}
    _check_fields(meta, "metadata")
    meta.update(model_card(meta))
    return validate(meta)


def model_version(meta: dict) -> str:
    """``<package version>+<model id>``, the model id being a digest of :data:`VERSIONED`."""
    digest = hashlib.sha256(json.dumps({k: meta[k] for k in VERSIONED}, sort_keys=True).encode()).hexdigest()
    return f"{package_version()}+{digest[:12]}"


def data_profile(recorded: dict) -> str | None:
    """``data.profile`` as an export's recorded params hold it (the key every stage writes); None if absent."""
    return recorded.get("data.profile")


def model_card(meta: dict) -> dict:
    """The card fields of a record whose other fields :func:`_check_fields` accepted."""
    dataset = DATASETS[meta["dataset"]]
    sources = [{"key": key, **SOURCES[key], "license": f"see {SOURCES[key]['url']}"} for key in dataset["sources"]]
    profile = data_profile(meta["params"])
    return {
        "version": model_version(meta),
        "description": _description(meta, dataset),
        "intended_use": INTENDED_USE,
        "license": {"model": _model_license(meta), "data": {s["key"]: s["license"] for s in sources}},
        "data_source": {
            "profile": profile,
            "synthetic": None if profile is None else profile == "sample",
            "summary": _data_summary(profile, dataset, sources),
            "datasets": sources,
        },
        "data_type": dataset["data_type"],
        "references": [s["citation"] for s in sources],
        "network_data_format": {
            "inputs": {meta["input"]["name"]: _input_format(meta["input"], dataset["modality"])},
            "outputs": {meta["output"]["name"]: _output_format(meta["output"], meta["class_names"])},
        },
    }


def _description(meta: dict, dataset: dict) -> str:
    what = f"{meta['architecture']} ({meta['family']})"
    if meta["output"]["kind"] == "features":
        job = f"encoder of a {dataset['modality']} autoencoder: an image in, its latent feature map out"
    else:
        job = f"{meta['task']} classifier of {dataset['modality']} images into {', '.join(meta['class_names'])}"
    return f"{what} {job}. Data: {dataset['use']}; trained on {meta['split']}; initialisation: {meta['init_used']}."


def _model_license(meta: dict) -> str:
    weights = "; the weights derive from the training data, so the data's terms (license.data) apply to them too"
    if meta["init_used"] != "random":
        weights += f", as do those of the initial weights ({meta['init_used']})"
    return MODEL_LICENSE + weights


def _data_summary(profile: str | None, dataset: dict, sources: list[dict]) -> str:
    names = ", ".join(s["name"] for s in sources)
    if profile == "sample":
        return (
            f"synthetic: the bundled sample profile, images made by medinterp's generator (`medinterp synth`) in "
            f"the published layouts of {names}; no real patient data, so the model says nothing about real images"
        )
    if profile == "full":
        return f"the published datasets: {names}; {dataset['use']}"
    return (
        f"the data profile is not recorded in this model's params: the published datasets ({names}) under "
        "data.profile=full, or the bundled synthetic sample in their layouts under data.profile=sample; "
        "provenance.inputs names the input files by md5"
    )


def _input_format(spec: dict, modality: str) -> dict:
    mean, std = spec["mean"], spec["std"]
    low, high = spec["value_range"]
    if mean is not None:  # the range of the tensor the model takes, after normalisation
        low = round(min((low - m) / s for m, s in zip(mean, std)), 6)
        high = round(max((high - m) / s for m, s in zip(mean, std)), 6)
    size = spec["shape"][1:3] if spec["layout"] == "NHWC" else spec["shape"][2:4]
    steps = [
        "decode to RGB uint8",
        f"resize to {size[0]}x{size[1]} ({spec.get('resize', RESIZE)})",
        f"divide by 255: values in {spec['value_range']}",
    ]
    if mean is not None:
        steps.append(f"per channel, subtract mean {mean} and divide by std {std}")
    steps.append(f"arrange as {spec['layout']} float32 with a batch dimension first")
    return {
        "type": "image",
        "format": "RGB",
        "modality": modality,
        "num_channels": 3,
        "spatial_shape": list(size),
        "shape": spec["shape"],
        "layout": spec["layout"],
        "dtype": spec["dtype"],
        "value_range": [low, high],
        "normalisation": None if mean is None else {"mean": mean, "std": std},
        "is_patch_data": False,
        "channel_def": CHANNELS,
        "preprocessing": steps,
    }


def _output_format(spec: dict, class_names: list[str]) -> dict:
    if spec["kind"] == "features":
        return {
            "type": "features",
            "format": "feature map in the input's layout",
            "num_channels": None,
            "shape": None,
            "dtype": "float32",
            "value_range": None,
            "activation": None,
            "is_onehot": False,
            "channel_def": None,
            "meaning": "the encoder's last feature map; not class scores (the shape is the exported graph's)",
        }
    single = spec["activation"] == "sigmoid" and len(class_names) == 2
    names = class_names[1:] if single else class_names
    if single:
        meaning = (
            f"one logit per image: sigmoid(logit) = P({class_names[1]}), P({class_names[0]}) = 1 - P({class_names[1]})"
        )
    elif spec["activation"] == "softmax":
        meaning = f"{len(names)} logits in class order; softmax over them gives the class probabilities"
    else:
        meaning = f"{len(names)} independent logits in class order; sigmoid of each gives that class's probability"
    return {
        "type": "logits",
        "format": "class scores",
        "num_channels": len(names),
        "shape": [None, len(names)],
        "dtype": "float32",
        "value_range": None,
        "activation": spec["activation"],
        "is_onehot": False,
        "channel_def": {str(i): name for i, name in enumerate(names)},
        "meaning": meaning,
    }


def for_checkpoint(
    info: dict[str, Any],
    *,
    name: str,
    dataset: str,
    split: str,
    metrics: dict[str, float],
    params: dict[str, Any],
    framework: dict,
    provenance: dict,
) -> dict:
    """The record of an ISIC checkpoint's export (``medinterp.models.checkpoint``'s ``info``), either
    family: input ``input`` in the checkpoint's layout and normalisation, output ``logits``."""
    norm = info["normalisation"]
    return make(
        name=name,
        architecture=info["architecture"],
        family=info["family"],
        task=info["task"],
        dataset=dataset,
        split=split,
        class_names=list(info["class_names"]),
        input=input_spec(int(info["image_size"]), norm["layout"], norm["mean"], norm["std"], name="input"),
        output=output_spec("logits", "sigmoid" if int(info["num_outputs"]) == 1 else "softmax", name="logits"),
        metrics=metrics,
        init_used=info["init_used"],
        provenance=provenance,
        params=params,
        framework=framework,
    )


def validate(meta: Any, source: str = "metadata") -> dict:
    """Check that ``meta`` says everything needed to run the model and carries its model card;
    return it unchanged."""
    _check_fields(meta, source)
    _check_types(meta, CARD, source)
    if not VERSION_PATTERN.match(meta["version"]):
        raise MetadataError(f"{source}: version {meta['version']!r} should be <package version>+<12 hex digits>")
    for key in ("description", "intended_use", "data_type"):
        if not meta[key].strip():
            raise MetadataError(f"{source}: '{key}' is empty")
    licence = meta["license"]
    if not (isinstance(licence.get("model"), str) and isinstance(licence.get("data"), dict) and licence["data"]):
        raise MetadataError(f"{source}: license should give 'model' (text) and 'data' (a licence per dataset)")
    data = meta["data_source"]
    if data.get("profile", "missing") not in PROFILES or data.get("synthetic", "missing") not in (True, False, None):
        raise MetadataError(
            f"{source}: data_source should give 'profile' (one of {PROFILES}) and 'synthetic' (true, false or null)"
        )
    datasets = data.get("datasets")
    if not (
        isinstance(datasets, list)
        and datasets
        and all(
            isinstance(d, dict) and all(isinstance(d.get(k), str) for k in ("name", "url", "citation", "license"))
            for d in datasets
        )
    ):
        raise MetadataError(
            f"{source}: data_source.datasets should list each dataset's name, url, citation and license"
        )
    formats = meta["network_data_format"]
    for side, spec in (("inputs", meta["input"]), ("outputs", meta["output"])):
        if not isinstance(formats.get(side), dict) or spec["name"] not in formats[side]:
            raise MetadataError(f"{source}: network_data_format.{side} does not describe '{spec['name']}'")
    return meta


def _check_types(meta: dict, required: dict[str, type], source: str) -> None:
    for key, kind in required.items():
        if key not in meta:
            raise MetadataError(f"{source}: missing '{key}'")
        if not isinstance(meta[key], kind):
            raise MetadataError(f"{source}: '{key}' should be {kind.__name__}, found {type(meta[key]).__name__}")


def _check_fields(meta: Any, source: str) -> None:
    """The checks of the fields a caller gives (everything but the card)."""
    if not isinstance(meta, dict):
        raise MetadataError(f"{source}: expected a JSON object, found {type(meta).__name__}")
    if meta.get("schema") != SCHEMA_VERSION:
        raise MetadataError(
            f"{source}: schema {meta.get('schema')} is not supported (expected {SCHEMA_VERSION}); "
            "export the model again"
        )
    _check_types(meta, REQUIRED, source)
    if meta["dataset"] not in DATASETS:
        raise MetadataError(f"{source}: dataset '{meta['dataset']}' is not one of {tuple(DATASETS)}")
    if meta["family"] not in FAMILIES:
        raise MetadataError(f"{source}: family '{meta['family']}' is not one of {FAMILIES}")
    spec = meta["input"]
    for key in ("name", "shape", "layout", "dtype", "value_range", "mean", "std"):
        if key not in spec:
            raise MetadataError(f"{source}: input is missing '{key}'")
    if spec["layout"] not in LAYOUTS:
        raise MetadataError(f"{source}: input layout '{spec['layout']}' is not one of {LAYOUTS}")
    shape = spec["shape"]
    if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape[1:])):
        raise MetadataError(f"{source}: input shape {shape} should be [batch, ...] with three positive sizes")
    channels = shape[3] if spec["layout"] == "NHWC" else shape[1]
    if channels != 3:
        raise MetadataError(
            f"{source}: input shape {shape} has {channels} channels for layout {spec['layout']}, expected 3"
        )
    for key in ("mean", "std"):
        value = spec[key]
        if value is not None and (not isinstance(value, list) or len(value) != 3):
            raise MetadataError(f"{source}: input {key} should be null or three numbers, found {value!r}")
    if spec["std"] is not None and any(s <= 0 for s in spec["std"]):
        raise MetadataError(f"{source}: input std {spec['std']} must be positive")
    out = meta["output"]
    if "name" not in out:
        raise MetadataError(f"{source}: output is missing 'name'")
    if out.get("kind") not in OUTPUT_KINDS:
        raise MetadataError(f"{source}: output kind {out.get('kind')!r} is not one of {OUTPUT_KINDS}")
    if out.get("activation") not in ACTIVATIONS:
        raise MetadataError(f"{source}: output activation {out.get('activation')!r} is not one of {ACTIVATIONS}")
    if out["kind"] == "logits" and not meta["class_names"]:
        raise MetadataError(f"{source}: a classifier needs its class names in output order")


def sidecar_path(onnx_path: str | Path) -> Path:
    return Path(onnx_path).with_suffix(".json")


def with_feature_shape(meta: dict, graph) -> dict:
    """``meta`` with a feature output's shape and channels read from the exported ``graph``
    (only the graph knows a backbone's feature map); a classifier's card is returned as it is."""
    formats = meta["network_data_format"]["outputs"]
    name = meta["output"]["name"]
    graph_outputs = {o.name: o for o in graph.output}
    if meta["output"]["kind"] != "features" or name not in graph_outputs:
        return meta
    dims = graph_outputs[name].type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    channels = shape[-1] if meta["input"]["layout"] == "NHWC" else shape[1]
    output = {**formats[name], "shape": shape, "num_channels": channels}
    return {**meta, "network_data_format": {**meta["network_data_format"], "outputs": {**formats, name: output}}}


def attach(onnx_path: str | Path, meta: dict) -> None:
    """Store ``meta`` inside the ONNX file (``metadata_props['medinterp']``) and beside it as JSON;
    a feature output's shape comes from the file's graph (:func:`with_feature_shape`)."""
    import onnx

    validate(meta)
    onnx_path = Path(onnx_path)
    model = onnx.load(str(readable(onnx_path)))  # the stage's own export, not renamed into place yet
    meta = with_feature_shape(meta, model.graph)
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta, sort_keys=True)
    with atomic_path(onnx_path) as tmp:
        onnx.save(model, str(tmp))
    write_json(sidecar_path(onnx_path), meta)


def read(onnx_path: str | Path) -> dict:
    """The metadata of an exported model, from inside the file (the sidecar JSON if the file has none)."""
    import onnx

    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise MetadataError(f"{onnx_path}: model file not found")
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:
        raise MetadataError(f"{onnx_path}: not a readable ONNX file ({type(exc).__name__}: {exc})") from exc
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY in props:
        text, source = props[METADATA_KEY], f"{onnx_path} (metadata_props)"
    elif sidecar_path(onnx_path).is_file():
        text, source = sidecar_path(onnx_path).read_text(encoding="utf-8"), str(sidecar_path(onnx_path))
    else:
        raise MetadataError(
            f"{onnx_path}: no '{METADATA_KEY}' metadata inside and no {sidecar_path(onnx_path).name} beside it"
        )
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{source}: malformed JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    return validate(meta, source)
