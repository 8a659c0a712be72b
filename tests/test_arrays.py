"""Decode-once image arrays: order, size, and the checks that catch stale or mismatched arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medinterp.errors import ConfigError, DatasetError
from medinterp.preprocessing import arrays


@pytest.fixture
def table(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = []
    for i in range(5):
        pixels = np.full((30 + i, 50, 3), 40 * i, dtype=np.uint8)
        Image.fromarray(pixels).save(data / f"img{i}.png")
        rows.append({"image": f"img{i}.png", "label": i % 2})
    splits = tmp_path / "splits"
    splits.mkdir()
    pd.DataFrame(rows).to_csv(splits / "demo.csv", index=False)
    return tmp_path


def test_build_and_load_keep_row_order_and_size(table):
    entry = arrays.build("demo", 16, table / "data", jobs=2, splits=table / "splits", out=table / "arrays")
    arrays.write_index({"demo": entry}, out=table / "arrays")
    loaded = arrays.load("demo", 16, arrays=table / "arrays", splits=table / "splits")
    assert loaded.images.shape == (5, 16, 16, 3) and loaded.images.dtype == np.uint8
    assert [int(img[8, 8, 0]) for img in loaded.images] == [0, 40, 80, 120, 160]
    assert list(loaded.labels) == [0, 1, 0, 1, 0]
    part = loaded.subset(loaded.labels == 1)
    assert len(part) == 2 and int(part.images[1, 0, 0, 0]) == 120


def test_load_refuses_other_size_and_changed_split(table):
    entry = arrays.build("demo", 16, table / "data", jobs=1, splits=table / "splits", out=table / "arrays")
    arrays.write_index({"demo": entry}, out=table / "arrays")
    with pytest.raises(ConfigError, match="holds 16px images but this stage wants 32px"):
        arrays.load("demo", 32, arrays=table / "arrays", splits=table / "splits")
    (table / "splits" / "demo.csv").write_text("image,label\nimg0.png,0\n")
    with pytest.raises(DatasetError, match="changed since"):
        arrays.load("demo", 16, arrays=table / "arrays", splits=table / "splits")


def test_unreadable_image_names_the_file(table):
    (table / "data" / "img3.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="img3.png: unreadable image"):
        arrays.build("demo", 16, table / "data", jobs=1, splits=table / "splits", out=table / "arrays")
