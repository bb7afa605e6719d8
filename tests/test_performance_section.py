"""The report's performance inputs: peer rows and time-to-quality curves from bench JSON files."""
from __future__ import annotations

import io
import json
import os

import numpy as np
from PIL import Image

from aigc_eval.harness.evaluate import make_grid_png
from aigc_eval.performance import performance_rows, time_to_quality_rows


def _bench_file(path, extra_infos, when="2026-12-02T10:00:00"):
    doc = {"datetime": when, "machine_info": {"cpu": {"brand_raw": "test cpu"}},
           "benchmarks": [{"name": f"b{i}", "extra_info": info} for i, info in enumerate(extra_infos)]}
    path.write_text(json.dumps(doc))
    return path


def _curve(model):
    return {"model": model, "dataset": "shapes", "metric": "hallucination_rate", "target": 0.5,
            "steps_to_target": 500, "cpu_s_to_target": 12.5,
            "curve": [{"step": 250, "cpu_s": 6.0, "hallucination_rate": 0.9},
                      {"step": 500, "cpu_s": 12.5, "hallucination_rate": 0.4}]}


def test_time_to_quality_comes_from_the_newest_bench_file_that_has_it(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    old = _bench_file(bench / "old.json", [{"time_to_quality": _curve("vae"), "threads": 1}])
    new = _bench_file(bench / "new.json", [{"time_to_quality": _curve("dcgan"), "threads": 1}])
    peers = _bench_file(bench / "peers.json", [{"peer": {"comparison": "fd", "speedup": 2.0}}])
    for age, path in enumerate((old, new, peers)):
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    (bench / "broken.json").write_text("{not json")
    rows = time_to_quality_rows(bench, fallback=None)
    assert [r["model"] for r in rows] == ["dcgan"]
    assert rows[0]["bench_file"] == "new.json" and rows[0]["cpu"] == "test cpu" and rows[0]["threads"] == 1
    assert rows[0]["curve"][1]["hallucination_rate"] == 0.4
    assert [r["comparison"] for r in performance_rows(bench)] == ["fd"]


def test_time_to_quality_falls_back_to_the_committed_measurement(tmp_path):
    fallback = _bench_file(tmp_path / "baseline.json", [{"time_to_quality": _curve("cvae")}])
    empty = tmp_path / "bench"
    empty.mkdir()
    assert [r["model"] for r in time_to_quality_rows(empty, fallback=fallback)] == ["cvae"]
    assert time_to_quality_rows(empty, fallback=tmp_path / "missing.json") == []


def test_conditional_grid_with_unique_requests_fills_rows_in_label_order():
    samples = np.zeros((20, 1, 4, 4), np.uint8)
    samples[:, 0] = np.arange(20)[:, None, None] * 10  # each sample's value tells which it is
    labels = np.arange(20)[::-1].copy()  # every label requested once, in reverse
    grid = np.asarray(Image.open(io.BytesIO(make_grid_png(samples, labels, rows=8, cols=8, scale=1))))
    assert grid.shape == (3 * 5, 8 * 5)  # 20 samples fill 3 rows of 8, not one column of 8
    first_row = [grid[0, k * 5] for k in range(8)]
    assert first_row == [190, 180, 170, 160, 150, 140, 130, 120]  # label 0 was asked of the last sample


def test_conditional_grid_with_repeated_requests_has_one_row_per_label():
    samples = np.zeros((12, 1, 4, 4), np.uint8)
    labels = np.repeat(np.arange(3), 4)
    grid = np.asarray(Image.open(io.BytesIO(make_grid_png(samples, labels, rows=8, cols=8, scale=1))))
    assert grid.shape == (3 * 5, 8 * 5)
