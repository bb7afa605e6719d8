"""Speed-up of `--workers 2` over `--workers 1` (the local executor's worker processes) on a small
real suite, as a user runs it: the digits part of the default suite's protocol, DCGAN and VAE, 2 seeds.

Both runs go through the CLI in a fresh process with `--threads 1`, fresh cell folders and a warm
extractor cache, back to back, so the timings are cells plus (for 2 workers) worker start-up.
extra_info gets both wall times, the `cells` phase of each results.json, the cells' own seconds
summed (how much each cell slowed down next to the other), the 1-minute load average before each
run, and the ratios. There is no timed assertion: the answer depends on what else the machine runs.

    .venv/bin/pytest bench/test_bench_executor.py --benchmark-only -s
    AIGC_BENCH_EXECUTOR_STEPS=60 ...     # a quicker look
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

SUITE = """
name = "executor-bench"
seeds = [0, 1]
train = {{ steps = {steps}, batch_size = 64, checkpoint_every = 50 }}
eval = {{ n_samples = 180, checkpoint_samples = 180, checkpoint_metrics = ["fd", "prc"] }}
datasets = [{{ name = "digits", models = ["dcgan", "vae"] }}]
"""
STEPS = int(os.environ.get("AIGC_BENCH_EXECUTOR_STEPS", 200))


def _timed_run(workers: int, suite_path, out) -> dict:
    """Wall time, load before, and results.json of one `aigc-eval run --workers N`."""
    load = os.getloadavg()[0]
    cmd = [sys.executable, "-m", "aigc_eval", "run", "--suite", str(suite_path), "--workers", str(workers),
           "--threads", "1", "--device", "cpu", "--out", str(out), "--no-progress", "--no-history"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    results = json.loads((out / "latest" / "results.json").read_text())
    return {"wall_s": round(wall, 2), "load_avg_1min_before": round(load, 2), "results": results,
            "workers_recorded": results["runtime"]["workers"], "cells_phase_s": results["phases"]["cells"],
            "cell_work_s": round(sum(sum(c["wall"].values()) for c in results["cells"]), 2)}


def test_two_workers_speedup_over_one(benchmark, tmp_path, monkeypatch):
    from aigc_eval.data import load_dataset
    from aigc_eval.features.classifier import classifier_extractor

    monkeypatch.setenv("AIGC_EVAL_CACHE", str(tmp_path / "cache"))  # the CLI runs inherit it
    classifier_extractor(load_dataset("digits"), log=lambda m: None)  # so that neither timed run trains it
    (tmp_path / "suite.toml").write_text(SUITE.format(steps=STEPS))
    one = _timed_run(1, tmp_path / "suite.toml", tmp_path / "w1")
    two = _timed_run(2, tmp_path / "suite.toml", tmp_path / "w2")
    cells_one, cells_two = one.pop("results")["cells"], two.pop("results")["cells"]
    assert [c["status"] for c in cells_two] == ["done"] * len(cells_one)
    assert [c["metrics"] for c in cells_two] == [c["metrics"] for c in cells_one]  # bit-identical
    assert (one["workers_recorded"], two["workers_recorded"]) == (1, 2)
    info = {"cells": len(cells_one), "steps": STEPS, "threads": 1, "cpu_count": os.cpu_count(),
            "workers_1": one, "workers_2": two,
            "speedup_wall": round(one["wall_s"] / two["wall_s"], 3),
            "speedup_cells_phase": round(one["cells_phase_s"] / two["cells_phase_s"], 3)}
    benchmark.extra_info.update(info)
    benchmark.pedantic(lambda: None, rounds=1)
    print("\n" + json.dumps(info, indent=1))
