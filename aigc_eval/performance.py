"""The report's performance section: time to quality from the run's own cells, and peer comparisons
from the newest `make bench` JSON.

Time to quality: how many training steps and seconds each model needed to reach a stated quality,
read off its checkpoints (every cell evaluates its `checkpoint_metrics` at each checkpoint and records
the training seconds so far in `checkpoint_seconds`). Targets:
- a dataset with an oracle that rates hallucinations (`shapes`): hallucination_rate <= 0.5, i.e. at
  least half of the samples are valid renderings;
- otherwise, an FD column and a copy-train calibration row in the run: FD <= 2 x copy-train's mean
  FD, so "as good as half-way to a copy of the training set".
Seconds are wall-clock training seconds of the cell (checkpoint evaluation excluded), which with one
thread per worker and no more workers than cores is close to CPU time; the run's runtime record says
how many workers and threads shared the machine.

Peer comparisons: benches that compare us with a peer library record extra_info["peer"]
(bench/test_bench_peers.py); a run's report shows the newest file's comparisons, labelled with the
file, its machine and its date, since they were measured there and not in this run.
"""
from __future__ import annotations

import json
from pathlib import Path

HALLUCINATION_TARGET = 0.5
FD_TARGET_X_COPY_TRAIN = 2.0


def performance_rows(bench_dir) -> list[dict]:
    """Peer comparisons of the newest bench file that has any."""
    files = sorted(Path(bench_dir).glob("*.json"), key=lambda p: p.stat().st_mtime)
    for path in reversed(files):
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a half-copied or foreign file is not a reason to fail a run's report
        rows = [{**b["extra_info"]["peer"], "threads": b["extra_info"].get("threads"),
                 "bench_file": path.name, "measured": doc.get("datetime", "")[:19],
                 "cpu": doc.get("machine_info", {}).get("cpu", {}).get("brand_raw", "")}
                for b in doc.get("benchmarks", []) if isinstance(b.get("extra_info", {}).get("peer"), dict)]
        if rows:
            return rows
    return []


def quality_targets(cells: list[dict]) -> dict[str, tuple[str, float]]:
    """dataset -> (metric, target value) for every dataset of the run that has a stated target."""
    targets = {}
    for cell in cells:
        ds = cell["dataset"]
        if cell["status"] != "done" or ds in targets:
            continue
        if "hallucination_rate" in cell["metrics"]:
            targets[ds] = ("hallucination_rate", HALLUCINATION_TARGET)
    for ds in {c["dataset"] for c in cells} - set(targets):
        copies = [c for c in cells if c["dataset"] == ds and c["model"] == "copy-train" and c["status"] == "done"]
        fd_names = sorted(n for c in copies for n in c["metrics"] if n.startswith("fd_"))
        if fd_names:
            fd = [c["metrics"][fd_names[0]]["value"] for c in copies]
            targets[ds] = (fd_names[0], FD_TARGET_X_COPY_TRAIN * sum(fd) / len(fd))
    return targets


def time_to_quality(cells: list[dict]) -> list[dict]:
    """One row per trained (model, dataset, seed) cell whose checkpoints measured the target metric.

    Lower is better for both target metrics, so the target is reached at the first checkpoint whose
    value is <= the target; steps_to_target and seconds_to_target are None when no checkpoint got there.
    """
    targets = quality_targets(cells)
    rows = []
    for cell in cells:
        if cell["status"] != "done" or cell["calibration"] or cell["dataset"] not in targets:
            continue
        metric, target = targets[cell["dataset"]]
        seconds = dict(map(tuple, cell.get("checkpoint_seconds", [])))
        curve = [{"step": p["step"], "seconds": seconds[p["step"]], "value": p[metric]}
                 for p in cell.get("checkpoint_metrics", [])
                 if p.get(metric) is not None and p["step"] in seconds]
        if not curve:
            continue
        reached = next((p for p in curve if p["value"] <= target), None)
        rows.append({"model": cell["model"], "dataset": cell["dataset"], "seed": cell["seed"],
                     "metric": metric, "target": round(target, 4),
                     "steps_to_target": reached and reached["step"],
                     "seconds_to_target": reached and reached["seconds"], "curve": curve})
    return rows
