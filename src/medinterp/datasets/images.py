"""Opening dataset images: RGB always, and a clear error naming the file when it cannot be read.

:func:`check_image` is what the dataset readers call on every image: the header plus a check of the
whole file that is cheap enough for the ~67,000 images of the real archives, so an image that
cannot be decoded is skipped (and reported) when the split stage reads the dataset, instead of
reaching a split table and stopping a later stage.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from medinterp.errors import DatasetError, ImageError, MedinterpError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
SIGNATURES = {b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}
JPEG_EOI = b"\xff\xd9"
# Pillow modes of more than 8 bits per sample (greyscale; Pillow has no 16-bit colour mode).
HIGH_DEPTH_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I;16S", "I", "F"}

# What the readers record for a skipped image (ImageError.reason): fixed words, so metrics count them.
EMPTY, NOT_AN_IMAGE, TRUNCATED, CORRUPT, UNSUPPORTED = (
    "empty image file",
    "not an image file",
    "truncated image",
    "corrupt image",
    "unsupported image",
)


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


def check_image(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image that decodes; :class:`ImageError` (with a ``reason``) if it does not.

    The checks are per format, each as sound as a decode for a file cut short, and far cheaper:

    * PNG: every chunk read and its CRC checked up to IEND (Pillow's ``verify``, no inflating);
      a cut file has no IEND, a flipped bit fails its chunk's CRC.
    * JPEG: the file ends with the end-of-image marker FF D9. The entropy-coded data escapes every
      FF byte, so FF D9 can only be the final marker: a cut file lacks it. A file that does not end
      with it (legal trailing bytes after the marker) gets a full decode, which decides.
    * anything else (BreCaHAD's TIFF, few and decoded anyway): a full decode, as :func:`read_rgb`.

    A missing file is a :class:`DatasetError` (not an image problem); the readers stop on it.
    """
    path = Path(path)
    try:
        size = os.stat(path).st_size
    except FileNotFoundError as exc:
        raise DatasetError(path, "image file not found") from exc
    if size == 0:
        raise ImageError(path, EMPTY, "0 bytes")
    fmt = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                fmt, dims = img.format, img.size
                if fmt == "PNG":
                    img.verify()
                    return dims
                if fmt == "JPEG" and _ends_with(path, size, JPEG_EOI):
                    return dims
                img.load()
                _to_rgb(img, path)
                return dims
    except MedinterpError:
        raise
    except UnidentifiedImageError as exc:
        signature = _signature(path)
        if signature is None:
            raise ImageError(path, NOT_AN_IMAGE, "no PNG, JPEG or TIFF signature") from exc
        raise ImageError(path, CORRUPT, f"starts like a {signature} file but its header cannot be read") from exc
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, EOFError, zlib.error...
        raise _decode_error(path, fmt, exc) from exc


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image to an ``(H, W, 3) uint8`` array.

    Palette, greyscale and alpha images are converted to RGB; an alpha channel is composited
    on white first, so transparent pixels do not turn black. Images of more than 8 bits per
    sample are scaled to 8 bits first (:func:`_to_8bit`).
    """
    return read_rgb_reduced(path)[0]


def read_rgb_reduced(
    path: str | Path, at_least: int | None = None
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """:func:`read_rgb`, a JPEG decoded at 1/2, 1/4 or 1/8 scale where both sides stay ``>= at_least``.

    libjpeg scales in its inverse DCT (Pillow's ``draft``), so a 6000x4000 photo wanted at 448 px
    never exists at full size. Also returns the box, in the returned pixels' coordinates, that the
    whole image covers: ``(0, 0, W / scale, H / scale)``, short of the last row or column where a
    side does not divide by the scale (resize with it, so that partial pixel is not stretched).
    Other formats, and JPEGs with a side under ``2 * at_least``, come back as :func:`read_rgb` gives them.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                drafted = img.draft("RGB", (at_least, at_least)) if at_least else None  # None for other formats
                img.load()
                box = drafted[1] if drafted else (0.0, 0.0, float(img.width), float(img.height))
                return _to_rgb(img, path), box
    except MedinterpError:
        raise
    except FileNotFoundError as exc:
        raise DatasetError(path, "image file not found") from exc
    except Exception as exc:
        raise ImageError(path, "unreadable image", f"{type(exc).__name__}: {exc}") from exc


def _to_rgb(img: Image.Image, path: Path) -> np.ndarray:
    if img.mode in HIGH_DEPTH_MODES or _tiff_bits(img) > 8:
        img = _to_8bit(img, path)
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    rgb = img.convert("RGB")
    return np.asarray(rgb, dtype=np.uint8)


def scale_to_8bit(values: np.ndarray, bits: int, signed: bool = False) -> np.ndarray:
    """Integer samples of ``bits`` bits to uint8: ``round(v * 255 / (2**bits - 1))``, negatives to 0."""
    top = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    v = np.clip(values.astype(np.float64), 0, top)
    return np.floor(v * (255.0 / top) + 0.5).astype(np.uint8)


def _to_8bit(img: Image.Image, path: Path) -> Image.Image:
    """An 8-bit L, LA, RGB or RGBA image from one of more bits per sample."""
    # Samples are scaled by the bit depth the file declares (PNG: 16; TIFF: its BitsPerSample, so a
    # 12-bit TIFF divides by 4095; otherwise the width of Pillow's mode), v * 255 / (2**bits - 1)
    # rounded, never by each image's own range: the same raw value then gives the same 8-bit value
    # in every image of a dataset, and a dark image stays dark. Pillow itself keeps only the high
    # byte of 16-bit colour PNGs (floor(v / 256), at most 1 below the rounded value); those arrive
    # here as 8-bit RGB(A) and pass unchanged, as they did before. TIFFs of more than 8 bits are read
    # at their own depth with tifffile (with Pillow where tifffile lacks the codec, e.g. LZW).
    bits = _tiff_bits(img)
    signed = _tiff_signed(img)
    if bits > 8:  # TIFF: tifffile reads every integer or float layout at its own depth (Pillow's "I" wraps uint32)
        try:
            values = _tiff_samples(path)
        except Exception:  # a codec tifffile lacks (LZW without imagecodecs): Pillow's own reading below
            values = None
        if values is not None:
            values = _float_to_8bit(values, path) if values.dtype.kind == "f" else scale_to_8bit(values, bits, signed)
            if values.ndim == 3 and values.shape[2] == 1:
                values = values[..., 0]
            if values.ndim not in (2, 3) or (values.ndim == 3 and values.shape[2] not in (2, 3, 4)):
                raise ImageError(path, UNSUPPORTED, f"samples of shape {values.shape}")
            return Image.fromarray(np.ascontiguousarray(values))  # uint8: L, LA, RGB or RGBA by shape
        if img.mode not in HIGH_DEPTH_MODES:
            return img
    values = np.asarray(img)
    if img.mode == "F":
        return Image.fromarray(_float_to_8bit(values, path))
    if not bits:
        bits = 16 if img.mode.startswith("I;16") or img.format == "PNG" else 32
    return Image.fromarray(scale_to_8bit(values, bits, signed or img.mode == "I;16S"))


def _float_to_8bit(values: np.ndarray, path: Path) -> np.ndarray:
    """Floating-point samples are taken to span [0, 1]; other values have no known scale."""
    finite = np.isfinite(values)
    if not finite.all() or values.min() < 0 or values.max() > 1:
        low, high = (float(np.nanmin(values)), float(np.nanmax(values))) if finite.any() else (float("nan"),) * 2
        raise ImageError(
            path,
            UNSUPPORTED,
            f"floating-point samples in [{low:g}, {high:g}], not [0, 1]; save it as 8- or 16-bit integers",
        )
    return np.floor(values.astype(np.float64) * 255.0 + 0.5).astype(np.uint8)


def _tiff_bits(img: Image.Image) -> int:
    """The largest BitsPerSample of a TIFF, 0 for other formats."""
    tags = getattr(img, "tag_v2", None)
    if img.format != "TIFF" or tags is None:
        return 0
    bits = tags.get(258, 1)
    return int(max(bits) if isinstance(bits, tuple) else bits)


def _tiff_signed(img: Image.Image) -> bool:
    tags = getattr(img, "tag_v2", None)
    if img.format != "TIFF" or tags is None:
        return False
    fmt = tags.get(339, 1)
    return 2 in (fmt if isinstance(fmt, tuple) else (fmt,))


def _tiff_samples(path: Path) -> np.ndarray:
    """The first page of a TIFF as ``(H, W)`` or ``(H, W, samples)``, at its own depth."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        values, axes = page.asarray(), page.axes
    if "S" in axes and values.ndim == 3:
        values = np.moveaxis(values, axes.index("S"), -1)
    return values


def _ends_with(path: Path, size: int, marker: bytes) -> bool:
    if size < len(marker):
        return False
    with open(path, "rb") as handle:
        handle.seek(size - len(marker))
        return handle.read(len(marker)) == marker


def _signature(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(8)
    return next((fmt for sig, fmt in SIGNATURES.items() if head.startswith(sig)), None)


def _decode_error(path: Path, fmt: str | None, exc: Exception) -> ImageError:
    text = str(exc)
    what = f"{fmt or 'image'} data"
    if isinstance(exc, EOFError) or "truncat" in text.lower() or "incomplete" in text.lower():
        return ImageError(path, TRUNCATED, f"{what} ends early")
    if "checksum" in text.lower() or "crc" in text.lower():
        return ImageError(path, CORRUPT, f"{what} fails its checksum")
    return ImageError(path, CORRUPT, f"{type(exc).__name__}: {text}")
