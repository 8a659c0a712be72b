"""Opening dataset images: RGB always, and a clear error naming the file when it cannot be read."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from medinterp.errors import DatasetError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                return img.size
    except FileNotFoundError as exc:
        raise DatasetError(path, "image file not found") from exc
    except Exception as exc:  # PIL raises several unrelated types for bad files
        raise DatasetError(path, f"unreadable image ({type(exc).__name__}: {exc})") from exc


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image to an ``(H, W, 3) uint8`` array.

    Palette, greyscale and alpha images are converted to RGB; an alpha channel is composited
    on white first, so transparent pixels do not turn black.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                img.load()
                if img.mode == "P":
                    img = img.convert("RGBA")
                if img.mode in ("RGBA", "LA"):
                    background = Image.new("RGBA", img.size, (255, 255, 255, 255))
                    img = Image.alpha_composite(background, img.convert("RGBA"))
                rgb = img.convert("RGB")
                return np.asarray(rgb, dtype=np.uint8)
    except FileNotFoundError as exc:
        raise DatasetError(path, "image file not found") from exc
    except Exception as exc:
        raise DatasetError(path, f"unreadable image ({type(exc).__name__}: {exc})") from exc
