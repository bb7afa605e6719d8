"""Code traversals read by the shapes oracle (aigc_eval/traversal.py)."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from aigc_eval.data import load_dataset
from aigc_eval.models import MODELS, default_config
from aigc_eval.traversal import code_list, code_traversals, follow_shares, reading_caption, traversal_png
from aigc_eval.worlds.shapes import ShapesWorld


def test_a_code_that_sets_a_factor_follows_it_fully_and_beats_a_constant():
    rows, values = 8, 9
    read = np.zeros((rows, values, 4), np.int64)
    read[:, :, 3] = np.arange(values)[None, :]            # position = code value, in every row
    read[:, :, 0] = np.arange(rows)[:, None] % 4          # shape set by the row (z), not the code
    follow, constant = follow_shares(read)
    assert follow[3] == 1.0 and constant[3] == pytest.approx(1 / values)
    assert follow[0] == constant[0]                       # the code does not move the shape
    assert follow[1] == constant[1] == 1.0                # a factor that never changes


def test_readings_unrelated_to_the_code_give_no_lead_on_average():
    rng = np.random.default_rng(0)
    leads = [np.subtract(*follow_shares(rng.integers(0, 4, (16, 10, 4)))).mean() for _ in range(50)]
    assert abs(np.mean(leads)) < 0.03  # held-out scoring: no bias towards the per-value mapping


def test_follow_shares_needs_two_rows():
    with pytest.raises(ValueError, match="at least 2 rows"):
        follow_shares(np.zeros((1, 3, 4), np.int64))


def test_reading_caption_names_the_factors_and_marks_invalid_readings():
    label = ShapesWorld.label_of([[1, 0, 1, 4]])[0]  # circle, red, large, middle-centre
    assert reading_caption(label, "valid") == ("circle red", "L middle-centre")
    assert reading_caption(label, "hallucinated")[1].endswith(" x")
    assert reading_caption(label, "ambiguous")[1].endswith(" ?")


def test_infogan_traversals_cover_every_code_and_draw_one_row_per_code():
    shapes = load_dataset("shapes")
    cls = MODELS.get("infogan")
    model = cls(default_config(cls, shapes.image_shape), shapes.image_shape, shapes.num_classes)
    codes = code_list(model)
    assert codes == [("categorical", 0), ("continuous", 0), ("continuous", 1)]
    found = code_traversals(model, shapes.meta, rows=4, steps=5, seed=1)
    assert [t["code"] for t in found] == ["categorical 0", "continuous 0", "continuous 1"]
    assert [len(t["values"]) for t in found] == [10, 5, 5]
    assert all(0 <= t["constant_share"] <= 1 and 0 <= t["follow_share"] <= 1 for t in found)
    again = code_traversals(model, shapes.meta, rows=4, steps=5, seed=1)  # seeded: the same draws
    for a, b in zip(found, again):
        np.testing.assert_array_equal(a["first_row"]["images"], b["first_row"]["images"])
    summary = [{k: v for k, v in t.items() if k != "first_row"} for t in found]
    assert summary == [{k: v for k, v in t.items() if k != "first_row"} for t in again]
    json.dumps(summary)  # what results.json stores
    png = Image.open(io.BytesIO(traversal_png(found)))
    row_h = 16 * 4 + 24 + 12
    assert png.size[1] == 3 * row_h and png.size[0] >= 150 + 10 * 64
