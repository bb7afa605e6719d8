"""The report's performance section, from the newest `make bench` JSON.

`make bench` writes pytest-benchmark JSON to reports/bench/. Two kinds of record are read:
- peer comparisons: benches that compare us with a peer library record extra_info["peer"]
  (bench/test_bench_peers.py);
- time to quality: bench/test_bench_time_to_quality.py records each reference model's quality
  curve (steps, CPU-seconds, metric) in extra_info["time_to_quality"]. It is a large bench, so
  when no local run has one, the committed measurement in reports/baseline/ is used.
A run's report shows them labelled with the file, its machine and its date, since they were
measured there and not in this run.
"""
from __future__ import annotations

import json
from pathlib import Path

# The committed time-to-quality measurement (bench JSON format), shown until a local bench replaces it.
BASELINE_TIME_TO_QUALITY = Path(__file__).resolve().parent.parent / "reports" / "baseline" / "time_to_quality.json"


def _read_docs(paths):
    """(path, document) of every readable JSON file of `paths`, in order."""
    for path in paths:
        try:
            yield path, json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a half-copied or foreign file is not a reason to fail a run's report


def _records(path: Path, doc: dict, key: str) -> list[dict]:
    return [{**b["extra_info"][key], "threads": b["extra_info"].get("threads"),
             "bench_file": path.name, "measured": doc.get("datetime", "")[:19],
             "cpu": doc.get("machine_info", {}).get("cpu", {}).get("brand_raw", "")}
            for b in doc.get("benchmarks", []) if isinstance(b.get("extra_info", {}).get(key), dict)]


def _newest(bench_dir, key: str, fallback: Path | None = None) -> list[dict]:
    paths = sorted(Path(bench_dir).glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    if fallback is not None and fallback.is_file():
        paths.append(fallback)
    for path, doc in _read_docs(paths):
        rows = _records(path, doc, key)
        if rows:
            return rows
    return []


def performance_rows(bench_dir) -> list[dict]:
    """Peer comparisons of the newest bench file that has any."""
    return _newest(bench_dir, "peer")


def time_to_quality_rows(bench_dir, fallback: Path | None = BASELINE_TIME_TO_QUALITY) -> list[dict]:
    """Time-to-quality curves of the newest bench file that has any, else of `fallback`."""
    return _newest(bench_dir, "time_to_quality", fallback)
