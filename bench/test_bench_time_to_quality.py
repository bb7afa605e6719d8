"""Time to quality of every reference model: steps and seconds until it first reaches a stated quality.

Run (about 25 minutes on 2 cores; large, so opt-in):
    AIGC_BENCH_LARGE=1 .venv/bin/python -m pytest bench/test_bench_time_to_quality.py \
        --benchmark-only -s --benchmark-json=reports/bench/ttq-$(date -u +%Y%m%d).json

It runs seed 0 of the `converged` suite (every reference model on digits, shapes and facts, with the
suite's steps and checkpoints) through the normal harness, so each curve is exactly the one that a
converged run's cells record, and reads the curves with aigc_eval.performance.time_to_quality:
- shapes: the oracle's hallucination rate at each checkpoint; target <= 0.5;
- digits: FD on the digits CNN at each checkpoint; target <= 2 x copy-train's FD in the same run.
Each (model, dataset) lands in extra_info["time_to_quality"] (steps and training seconds to the
target, or None when no checkpoint reached it, and the whole curve). Every run's report plots the
same curves from its own cells (performance section), so `aigc-eval run --suite converged` shows
them too; the README's table comes from that run.
"""
from __future__ import annotations

import pytest

from aigc_eval.harness.runner import run_suite
from aigc_eval.harness.suite import load_suite


@pytest.mark.large
def test_time_to_quality_of_every_reference_model(pinned_benchmark, tmp_path):
    suite = load_suite("converged", seeds=[0])
    run_dir, results = pinned_benchmark.pedantic(
        run_suite, args=(suite,), kwargs={"out_root": tmp_path, "threads": 1, "progress": False,
                                          "history": False, "workers": "auto", "log": lambda *_: None},
        rounds=1, iterations=1)
    rows = results["time_to_quality"]
    pinned_benchmark.extra_info["time_to_quality"] = rows
    pinned_benchmark.extra_info["workers"] = results["runtime"].get("workers")
    trained = {(c["model"], c["dataset"]) for c in results["cells"]
               if not c["calibration"] and c["dataset"] in ("digits", "shapes")}
    assert {(r["model"], r["dataset"]) for r in rows} == trained
    for row in rows:
        print(f"{row['dataset']:7s} {row['model']:9s} target {row['metric']} <= {row['target']:g}: "
              f"steps {row['steps_to_target']}, seconds {row['seconds_to_target']}, "
              f"last {row['curve'][-1]['value']:.3g}")
