import numpy as np
import pytest
from PIL import Image

from medinterp.datasets.images import image_size, read_rgb
from medinterp.errors import DatasetError


def test_rgba_png_is_composited_on_white(tmp_path):
    rgba = np.zeros((4, 5, 4), dtype=np.uint8)
    rgba[..., :3] = (200, 10, 30)
    rgba[:2, ..., 3] = 255  # top half opaque, bottom half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    rgb = read_rgb(tmp_path / "a.png")
    assert rgb.shape == (4, 5, 3) and rgb.dtype == np.uint8
    assert (rgb[:2] == (200, 10, 30)).all()
    assert (rgb[2:] == 255).all()


def test_palette_png_keeps_its_colours(tmp_path):
    rgb = np.zeros((6, 6, 3), dtype=np.uint8)
    rgb[:3] = (10, 200, 90)
    rgb[3:] = (250, 240, 5)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    np.testing.assert_array_equal(read_rgb(tmp_path / "p.png"), rgb)


def test_greyscale_becomes_three_channels(tmp_path):
    Image.fromarray(np.full((3, 3), 77, dtype=np.uint8), "L").save(tmp_path / "g.png")
    assert (read_rgb(tmp_path / "g.png") == 77).all()


def test_700x456_reads_with_its_own_size(tmp_path):
    Image.fromarray(np.zeros((456, 700, 3), dtype=np.uint8)).save(tmp_path / "short.png")
    assert image_size(tmp_path / "short.png") == (700, 456)
    assert read_rgb(tmp_path / "short.png").shape == (456, 700, 3)


@pytest.mark.parametrize("reader", [image_size, read_rgb])
def test_unreadable_image_names_the_file(tmp_path, reader):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(DatasetError, match=r"broken\.png: unreadable image"):
        reader(bad)


def test_missing_image_names_the_file(tmp_path):
    with pytest.raises(DatasetError, match=r"gone\.jpg: image file not found"):
        read_rgb(tmp_path / "gone.jpg")
