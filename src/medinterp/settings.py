"""The settings a stage really uses: the seeds' defaults, then the active profile, then params.yaml.

Three layers, each laid over the previous one key by key (nested mappings are merged, anything
else replaced):

1. the model's seed defaults from the registry (the paper's Table 1, the thesis's Table 4);
2. ``profiles.<data.profile>``: what the profile switch changes (image sizes, epochs of the
   bundled sample, ImageNet weights or not);
3. the stage's own block in ``params.yaml``, where ``null`` means "not set here, keep the layer
   below" so the seeds' values show through unless a user sets one.

Stages write the resolved settings into their outputs, so every number says how it was made.
"""

from __future__ import annotations

import copy
from typing import Any

from medinterp import params as P
from medinterp.errors import ConfigError
from medinterp.registry import ModelSpec


def merge(base: dict[str, Any], over: dict[str, Any] | None) -> dict[str, Any]:
    """``base`` with ``over`` laid on top; ``None`` values in ``over`` do not replace anything."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve(params: dict[str, Any], section: str, spec: ModelSpec | None = None) -> dict[str, Any]:
    """Effective settings of ``section`` (a dotted params key such as ``paper`` or ``isic.binary``)."""
    layers: list[dict[str, Any] | None] = []
    if spec is not None:
        layers.append(_at(spec.defaults, section))
    layers.append(_at(P.profile(params), section))
    layers.append(P.get(params, section))
    out: dict[str, Any] = {}
    for layer in layers:
        out = merge(out, layer)
    return out


def need(source: dict[str, Any], key: str, at: str) -> Any:
    """``source[key]`` of the resolved settings at ``at`` (e.g. ``isic.binary``); a key that no layer
    sets stops the stage with a :class:`ConfigError` naming it."""
    if source.get(key) is None:
        raise ConfigError(f"params.yaml: {at}.{key} is not set (in params.yaml, the data profile or the registry)")
    return source[key]


def _at(tree: dict[str, Any], dotted: str) -> dict[str, Any] | None:
    node: Any = tree
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, dict) else None
