"""An exported model's card (``export.metadata``) as Markdown, for people: ``medinterp card``."""

from __future__ import annotations

import json


def _json(value) -> str:
    return f"`{json.dumps(value)}`"


def _tensor_rows(formats: dict, keys: tuple[str, ...]) -> list[str]:
    rows = ["| tensor | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, spec in formats.items():
        rows.append(f"| `{name}` | " + " | ".join(_json(spec.get(k)) for k in keys) + " |")
    return rows


def markdown(meta: dict) -> str:
    """The card of a validated record (``export.metadata.validate``)."""
    data, formats = meta["data_source"], meta["network_data_format"]
    inputs, outputs = formats["inputs"], formats["outputs"]
    lines = [
        f"# {meta['name']}",
        "",
        meta["description"],
        "",
        f"- **Version**: `{meta['version']}` (package version + model id; schema {meta['schema']})",
        f"- **Architecture**: {meta['architecture']} "
        f"({meta['family']}, {meta['framework']['name']} {meta['framework']['version']})",
        f"- **Task**: {meta['task']}; classes in output order: {', '.join(meta['class_names']) or 'none (features)'}",
        f"- **Initialisation**: {meta['init_used']}",
        "",
        "## Intended use",
        "",
        meta["intended_use"],
        "",
        "## Data",
        "",
        f"Profile: {data['profile'] or 'not recorded'}; "
        f"synthetic: {'unknown' if data['synthetic'] is None else str(data['synthetic']).lower()}.",
        f"{data['summary'][0].upper()}{data['summary'][1:]}.",
        "",
        f"Dataset `{meta['dataset']}`, split: {meta['split']}; files: {meta['data_type']}.",
        "",
    ]
    for source in data["datasets"]:
        lines.append(
            f"- **{source['name']}**: {source.get('content', '')}. {source['url']}. Licence: {source['license']}. "
            f"Cite: {source['citation']}"
        )
    lines += ["", "## Licence", "", f"Model: {meta['license']['model']}.", ""]
    lines += [f"- data `{key}`: {text}" for key, text in meta["license"]["data"].items()]
    lines += ["", "## Input", ""]
    lines += _tensor_rows(inputs, ("shape", "layout", "dtype", "value_range", "channel_def", "normalisation"))
    for name, spec in inputs.items():
        lines += ["", f"Preprocessing of `{name}`, in order:", ""]
        lines += [f"{i}. {step}" for i, step in enumerate(spec["preprocessing"], 1)]
    lines += ["", "## Output", ""]
    lines += _tensor_rows(outputs, ("shape", "dtype", "activation", "channel_def"))
    lines += [""] + [f"- `{name}`: {spec['meaning']}" for name, spec in outputs.items()]
    if meta["metrics"]:
        lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {key} | {_json(value)} |" for key, value in sorted(meta["metrics"].items())]
    lines += ["", "## References", ""] + [f"- {ref}" for ref in meta["references"]]
    provenance = meta["provenance"]
    lines += [
        "",
        "## Provenance",
        "",
        f"Stage `{provenance.get('stage', 'unknown')}`, code sha256 `{provenance.get('code_sha256', 'unknown')}`.",
    ]
    lines += [f"- `{path}`: md5 `{md5}`" for path, md5 in provenance.get("inputs", {}).items()]
    return "\n".join(lines) + "\n"
