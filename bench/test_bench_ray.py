"""Speed-up of `--executor ray` over `--executor local` for a 4-cell suite, as a user runs it.

Both runs go through the CLI in a fresh process with `--threads 1` and fresh cell folders, and
share a warm extractor cache, so the timings are cells plus (for Ray) cluster start-up and worker
imports. extra_info gets both wall times, the `cells` phase of each results.json, the cells' own
seconds summed, the load average (other processes on the machine change the answer) and the ratios.

    .venv/bin/pytest bench/test_bench_ray.py --benchmark-only -s
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("ray")

SUITE = """
name = "ray-bench"
seeds = [0, 1]
[train]
steps = {steps}
batch_size = 64
checkpoint_every = 100
[eval]
n_samples = 180
checkpoint_samples = 180
checkpoint_metrics = ["fd"]
image_metrics = ["fd", "kid", "prc"]
[[datasets]]
name = "digits"
models = ["dcgan", "vae"]
"""
STEPS = int(os.environ.get("AIGC_BENCH_RAY_STEPS", 300))


def _run_cli(executor: str, suite_path, out, env) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "aigc_eval", "run", "--suite", str(suite_path), "--executor", executor,
           "--threads", "1", "--device", "cpu", "--out", str(out), "--no-progress", "--no-history"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    return wall, json.loads((out / "latest" / "results.json").read_text())


def _cell_work_s(results: dict) -> float:
    return round(sum(sum(c["wall"].values()) for c in results["cells"]), 2)


@pytest.mark.ray
def test_ray_speedup_over_local(benchmark, tmp_path):
    suite_path = tmp_path / "ray-bench.toml"
    suite_path.write_text(SUITE.format(steps=STEPS))
    env = {**os.environ, "AIGC_EVAL_CACHE": str(tmp_path / "cache")}
    # Warm the extractor cache so that neither timed run trains the domain classifier.
    subprocess.run([sys.executable, "-c", "from aigc_eval.harness.tracks import get_context; "
                    "get_context('digits', {}, None, 'cpu')"], check=True, env=env, stdout=subprocess.DEVNULL)
    local_s, local = _run_cli("local", suite_path, tmp_path / "local", env)
    ray_s, remote = _run_cli("ray", suite_path, tmp_path / "ray", env)
    assert [c["status"] for c in remote["cells"]] == ["done"] * 4
    assert [c["curves"] for c in remote["cells"]] == [c["curves"] for c in local["cells"]]
    info = {"cells": 4, "steps": STEPS, "threads": 1, "cpu_count": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 2),
            "local_wall_s": round(local_s, 2), "ray_wall_s": round(ray_s, 2),
            "local_cells_phase_s": local["phases"]["cells"], "ray_cells_phase_s": remote["phases"]["cells"],
            # Train + sample + eval seconds summed over cells: how much each cell slowed down in parallel.
            "local_cell_work_s": _cell_work_s(local), "ray_cell_work_s": _cell_work_s(remote),
            "speedup_wall": round(local_s / ray_s, 3),
            "speedup_cells_phase": round(local["phases"]["cells"] / remote["phases"]["cells"], 3)}
    benchmark.extra_info.update(info)
    benchmark.pedantic(lambda: None, rounds=1)
    print("\n" + json.dumps(info, indent=1))
