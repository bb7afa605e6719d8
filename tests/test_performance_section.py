"""The report's performance inputs: peer rows and time-to-quality curves from bench JSON files."""
from __future__ import annotations

import io
import json
import os

import numpy as np
from PIL import Image

from aigc_eval.harness.tracks import grid_layout, make_grid_png
from aigc_eval.performance import performance_rows, time_to_quality


def _bench_file(path, extra_infos, when="2026-12-02T10:00:00"):
    doc = {"datetime": when, "machine_info": {"cpu": {"brand_raw": "test cpu"}},
           "benchmarks": [{"name": f"b{i}", "extra_info": info} for i, info in enumerate(extra_infos)]}
    path.write_text(json.dumps(doc))
    return path


def _cell(model, dataset, seed=0, metrics=None, checkpoints=(), seconds=(), calibration=False, status="done"):
    return {"model": model, "dataset": dataset, "seed": seed, "status": status, "calibration": calibration,
            "metrics": {k: {"value": v} for k, v in (metrics or {}).items()},
            "checkpoint_metrics": list(checkpoints), "checkpoint_seconds": [list(s) for s in seconds]}


def test_peer_rows_come_from_the_newest_bench_file_that_has_them(tmp_path):
    older = _bench_file(tmp_path / "a.json", [{"peer": {"comparison": "old"}}])
    newer = _bench_file(tmp_path / "b.json", [{"peer": {"comparison": "fd", "speedup": 2.0}, "threads": 1}])
    unrelated = _bench_file(tmp_path / "c.json", [{"threads": 1}])
    for age, path in enumerate((older, newer, unrelated)):
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    (tmp_path / "broken.json").write_text("{not json")
    rows = performance_rows(tmp_path)
    assert [r["comparison"] for r in rows] == ["fd"]
    assert rows[0]["bench_file"] == "b.json" and rows[0]["cpu"] == "test cpu" and rows[0]["threads"] == 1


def test_time_to_quality_on_an_oracle_world_is_the_first_checkpoint_at_half_valid():
    checkpoints = [{"step": 500, "hallucination_rate": 0.9}, {"step": 1000, "hallucination_rate": 0.45},
                   {"step": 1500, "hallucination_rate": 0.6}]
    cells = [_cell("cvae", "shapes", 0, {"hallucination_rate": 0.6}, checkpoints,
                   [(500, 10.0), (1000, 20.5), (1500, 31.0)]),
             _cell("dcgan", "shapes", 1, {"hallucination_rate": 0.9}, [{"step": 500, "hallucination_rate": 0.9}],
                   [(500, 12.0)]),
             _cell("real-test", "shapes", 0, {"hallucination_rate": 0.0}, calibration=True)]
    rows = time_to_quality(cells)
    assert [(r["model"], r["seed"]) for r in rows] == [("cvae", 0), ("dcgan", 1)]  # calibration rows never train
    cvae, dcgan = rows
    assert (cvae["metric"], cvae["target"]) == ("hallucination_rate", 0.5)
    assert (cvae["steps_to_target"], cvae["seconds_to_target"]) == (1000, 20.5)
    assert [p["seconds"] for p in cvae["curve"]] == [10.0, 20.5, 31.0]
    assert dcgan["steps_to_target"] is None and dcgan["seconds_to_target"] is None


def test_time_to_quality_without_an_oracle_targets_twice_copy_trains_fd():
    fd = "fd_digits-cnn"
    cells = [_cell("copy-train", "digits", 0, {fd: 30.0}, calibration=True),
             _cell("copy-train", "digits", 1, {fd: 34.0}, calibration=True),
             _cell("dcgan", "digits", 0, {fd: 50.0}, [{"step": 250, fd: 80.0}, {"step": 500, fd: 63.0}],
                   [(250, 5.0), (500, 10.0)]),
             _cell("lm", "facts", 0, {"bleu5": 80.0}, [{"step": 100, "bleu5": 80.0}], [(100, 1.0)])]
    rows = time_to_quality(cells)
    assert [r["model"] for r in rows] == ["dcgan"]  # facts has neither an oracle rate nor an FD target
    assert rows[0]["target"] == 64.0 and rows[0]["steps_to_target"] == 500


def test_conditional_grid_with_unique_requests_fills_rows_in_label_order():
    samples = np.zeros((20, 1, 4, 4), np.uint8)
    samples[:, 0] = np.arange(20)[:, None, None] * 10  # each sample's value tells which it is
    labels = np.arange(20)[::-1].copy()  # every label requested once, in reverse
    grid = np.asarray(Image.open(io.BytesIO(make_grid_png(samples, grid_layout(labels, len(samples), 8, 8), 8, scale=1))))
    assert grid.shape == (3 * 5, 8 * 5)  # 20 samples fill 3 rows of 8, not one column of 8
    first_row = [grid[0, k * 5] for k in range(8)]
    assert first_row == [190, 180, 170, 160, 150, 140, 130, 120]  # label 0 was asked of the last sample


def test_conditional_grid_with_repeated_requests_has_one_row_per_label():
    samples = np.zeros((12, 1, 4, 4), np.uint8)
    labels = np.repeat(np.arange(3), 4)
    grid = np.asarray(Image.open(io.BytesIO(make_grid_png(samples, grid_layout(labels, len(samples), 8, 8), 8, scale=1))))
    assert grid.shape == (3 * 5, 8 * 5)


def test_conditional_grid_shows_every_requested_label_up_to_twice_the_rows():
    labels = np.repeat(np.arange(10), 18)  # digits: 180 requests over 10 classes
    layout = grid_layout(labels, len(labels), 8, 8)
    assert [sorted(set(labels[row].tolist())) for row in layout] == [[k] for k in range(10)]
    assert all(len(row) == 8 for row in layout)
    assert len(grid_layout(np.repeat(np.arange(30), 2), 60, 8, 8)) == 16


def test_conditional_grid_with_more_unique_requests_than_cells_spans_the_label_range():
    samples = np.zeros((200, 1, 4, 4), np.uint8)
    samples[:, 0] = (np.arange(200) // 2)[:, None, None]  # a sample's value is half its label
    labels = np.arange(200)
    grid = np.asarray(Image.open(io.BytesIO(make_grid_png(samples, grid_layout(labels, len(samples), 2, 4), 4, scale=1))))
    shown = [int(grid[r * 5, k * 5]) for r in range(2) for k in range(4)]
    assert shown[0] == 0 and shown[-1] == 99  # first and last label, not the first eight
    assert shown == sorted(shown) and len(set(shown)) == 8
