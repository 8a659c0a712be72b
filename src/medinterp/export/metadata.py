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
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any

from medinterp.errors import MedinterpError
from medinterp.io import atomic_path, readable, write_json
from medinterp.provenance import code_digest

METADATA_KEY = "medinterp"
SCHEMA_VERSION = 2   # 2: ``provenance`` replaced ``git_revision``
FAMILIES = ("keras", "torch")
LAYOUTS = ("NHWC", "NCHW")
OUTPUT_KINDS = ("logits", "features")
ACTIVATIONS = ("sigmoid", "softmax", None)
RESIZE = "bilinear, squashed to a square (Pillow BILINEAR)"

REQUIRED = {
    "schema": int, "name": str, "architecture": str, "family": str, "task": str, "dataset": str,
    "split": str, "class_names": list, "input": dict, "output": dict, "metrics": dict,
    "init_used": str, "provenance": dict, "params": dict, "framework": dict,
}


class MetadataError(MedinterpError):
    """A model's metadata is missing or does not describe how to run it."""


def input_spec(size: int, layout: str, mean: list[float] | None = None, std: list[float] | None = None, name: str = "input") -> dict:
    shape = [None, size, size, 3] if layout == "NHWC" else [None, 3, size, size]
    return {"name": name, "shape": shape, "layout": layout, "dtype": "float32", "value_range": [0.0, 1.0],
            "mean": mean, "std": std, "resize": RESIZE}


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
    return {"medinterp": package_version(), "stage": stage_module, "code_sha256": code_digest(stage_module),
            "inputs": {Path(p).as_posix(): file_md5(p) for p in inputs}}


def framework_info(name: str, version: str) -> dict:
    # major.minor only: uv may pick any 3.11.x for `.python-version`'s 3.11, and the patch level
    # would otherwise make the same weights export to other bytes on another machine
    return {"name": name, "version": version, "python": ".".join(platform.python_version_tuple()[:2])}


def make(**fields: Any) -> dict:
    """A metadata record; raises :class:`MetadataError` if it is incomplete."""
    meta = {"schema": SCHEMA_VERSION, **fields}
    validate(meta)
    return meta


def for_checkpoint(info: dict[str, Any], *, name: str, dataset: str, split: str, metrics: dict[str, float],
                   params: dict[str, Any], framework: dict, provenance: dict) -> dict:
    """The record of an ISIC checkpoint's export (``medinterp.models.checkpoint``'s ``info``), either
    family: input ``input`` in the checkpoint's layout and normalisation, output ``logits``."""
    norm = info["normalisation"]
    return make(
        name=name, architecture=info["architecture"], family=info["family"], task=info["task"], dataset=dataset,
        split=split, class_names=list(info["class_names"]),
        input=input_spec(int(info["image_size"]), norm["layout"], norm["mean"], norm["std"], name="input"),
        output=output_spec("logits", "sigmoid" if int(info["num_outputs"]) == 1 else "softmax", name="logits"),
        metrics=metrics, init_used=info["init_used"], provenance=provenance, params=params, framework=framework,
    )


def validate(meta: Any, source: str = "metadata") -> dict:
    """Check that ``meta`` says everything needed to run the model; return it unchanged."""
    if not isinstance(meta, dict):
        raise MetadataError(f"{source}: expected a JSON object, found {type(meta).__name__}")
    for key, kind in REQUIRED.items():
        if key not in meta:
            raise MetadataError(f"{source}: missing '{key}'")
        if not isinstance(meta[key], kind):
            raise MetadataError(f"{source}: '{key}' should be {kind.__name__}, found {type(meta[key]).__name__}")
    if meta["schema"] != SCHEMA_VERSION:
        raise MetadataError(f"{source}: schema {meta['schema']} is not supported (expected {SCHEMA_VERSION})")
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
        raise MetadataError(f"{source}: input shape {shape} has {channels} channels for layout {spec['layout']}, expected 3")
    for key in ("mean", "std"):
        value = spec[key]
        if value is not None and (not isinstance(value, list) or len(value) != 3):
            raise MetadataError(f"{source}: input {key} should be null or three numbers, found {value!r}")
    if spec["std"] is not None and any(s <= 0 for s in spec["std"]):
        raise MetadataError(f"{source}: input std {spec['std']} must be positive")
    out = meta["output"]
    if out.get("kind") not in OUTPUT_KINDS:
        raise MetadataError(f"{source}: output kind {out.get('kind')!r} is not one of {OUTPUT_KINDS}")
    if out.get("activation") not in ACTIVATIONS:
        raise MetadataError(f"{source}: output activation {out.get('activation')!r} is not one of {ACTIVATIONS}")
    if out["kind"] == "logits" and not meta["class_names"]:
        raise MetadataError(f"{source}: a classifier needs its class names in output order")
    return meta


def sidecar_path(onnx_path: str | Path) -> Path:
    return Path(onnx_path).with_suffix(".json")


def attach(onnx_path: str | Path, meta: dict) -> None:
    """Store ``meta`` inside the ONNX file (``metadata_props['medinterp']``) and beside it as JSON."""
    import onnx

    validate(meta)
    onnx_path = Path(onnx_path)
    model = onnx.load(str(readable(onnx_path)))   # the stage's own export, not renamed into place yet
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
        raise MetadataError(f"{onnx_path}: no '{METADATA_KEY}' metadata inside and no {sidecar_path(onnx_path).name} beside it")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{source}: malformed JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    return validate(meta, source)
