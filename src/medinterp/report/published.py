"""The seeds' published numbers (``published.yaml`` beside this module), for the report only."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

PUBLISHED = Path(__file__).with_name("published.yaml")


@cache
def load_published() -> dict:
    return yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))
