"""A Table 2 row from a scripted adapter: accuracy over all images, IRA over the correctly classified ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medinterp.paper.evaluate import evaluate


class ScriptedAdapter:
    """Grad-CAM parts chosen per image: one channel, hot in the left column (image 0, 2) or everywhere
    zero (image 3)."""

    def __init__(self, logits):
        self.logits = np.asarray(logits, dtype=np.float32)
        self.calls = []

    def gradcam_parts(self, images, layer, class_index):
        self.calls.append((len(images), layer, class_index))
        acts = np.zeros((len(images), 1, 2, 2), np.float32)
        acts[:, 0, :, 0] = 1.0  # left half of a 2 x 2 map
        acts[3] = 0.0  # image 3: nothing anywhere
        grads = np.ones_like(acts)
        return acts, grads, self.logits[: len(images)]


def test_row_counts_and_ira_follow_the_conventions():
    table = pd.DataFrame(
        {
            "image": [f"i{k}.tif" for k in range(4)],
            "label": [1, 1, 1, 1],
            "width": [40, 40, 40, 40],
            "height": [20, 20, 20, 20],
        }
    )
    left, right = [0.1, 0.5], [0.9, 0.5]
    points = [np.array([left, left, right]), np.array([left]), np.array([right, right]), np.array([left, right])]
    adapter = ScriptedAdapter([2.0, -1.0, 0.5, 3.0])  # image 1 is called benign: misclassified
    result = evaluate(adapter, np.zeros((4, 8, 8, 3), np.float32), table, points, "last", "zero", keep_heatmaps={0, 1})
    assert adapter.calls == [(4, "last", 1)]
    assert (
        result.summary["accuracy"] == 0.75 and result.summary["images_correct"] == 3 and result.summary["images"] == 4
    )
    np.testing.assert_allclose(result.probabilities, 1 / (1 + np.exp(-np.array([2.0, -1.0, 0.5, 3.0]))))
    frame = result.per_image
    np.testing.assert_allclose(frame["logit"], [2.0, -1.0, 0.5, 3.0])
    assert frame["correct"].tolist() == [True, False, True, True]
    assert pd.isna(frame.loc[1, "ira"]) and pd.isna(frame.loc[1, "points_inside"])
    # the heatmap is hot on the left half, so left points are inside, right ones outside
    assert frame.loc[0, "ira"] == pytest.approx(2 / 3) and frame.loc[2, "ira"] == 0.0
    assert frame.loc[3, "constant_heatmap"] and frame.loc[3, "ira"] == 0.0  # constant map: IRA 0, counted
    assert result.summary["images_constant_heatmap"] == 1 and result.summary["images_evaluated"] == 3
    assert result.summary["ira"] == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert set(result.heatmaps) == {0}  # image 1 was kept for drawing but has no heatmap
    assert result.heatmaps[0].shape == (20, 40)
    assert 0.3 < frame.loc[0, "mask_area"] < 0.7
