"""Reading ``params.yaml``: the one place every stage gets its settings from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from medinterp.errors import ConfigError

PARAMS_FILE = Path("params.yaml")


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found; run the stage from the repository root")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return params


def get(params: dict[str, Any], dotted: str) -> Any:
    """Look up ``a.b.c`` in nested params, with an error that names the missing key."""
    node: Any = params
    for i, key in enumerate(dotted.split(".")):
        if not isinstance(node, dict) or key not in node:
            missing = ".".join(dotted.split(".")[: i + 1])
            raise ConfigError(f"params.yaml: missing key '{missing}'")
        node = node[key]
    return node


def profile(params: dict[str, Any]) -> dict[str, Any]:
    """The settings block of the active data profile (``data.profile``: sample or full)."""
    name = get(params, "data.profile")
    profiles = get(params, "profiles")
    if name not in profiles:
        raise ConfigError(f"params.yaml: data.profile is '{name}', expected one of {sorted(profiles)}")
    return profiles[name]
