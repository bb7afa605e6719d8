"""The report's performance section: peer comparisons from the newest `make bench` JSON.

`make bench` writes pytest-benchmark JSON to reports/bench/; benches that compare us with a peer
library record extra_info["peer"] (bench/test_bench_peers.py). A run's report shows the newest
file's comparisons, labelled with the file, its machine and its date, since they were measured
there and not in this run.
"""
from __future__ import annotations

import json
from pathlib import Path


def performance_rows(bench_dir) -> list[dict]:
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
