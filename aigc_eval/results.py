"""The results of a run, typed: the only place a results.json (or cell.json) dict is built or validated.

    CellResult   one (model, dataset, seed) cell: status, scores, curves, timings (cell.json)
    RunResults   a run: provenance, its cells and the leaderboard aggregated from them (results.json)

Both have `to_json()` (the dict written to disk, reports/SCHEMA.md) and `from_json(doc)` (which
checks it). The harness, `score`, the history database and the pytest plugin build results
through them; the gate, the report and `compare` read them through `load_results` and
`metric_entries`. RESULTS_SCHEMA_VERSION is the one version number of the format.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .errors import UserError
from .results_schema import RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, validate_json
from .signature import Signature

__all__ = ["RESULTS_SCHEMA_VERSION", "CellResult", "MetricEntry", "RunResults", "leaderboard_rows",
           "load_results", "metric_entries", "validate_results"]

STATUSES = ("done", "diverged", "failed")


@dataclass
class CellResult:
    """One (model, dataset, seed) cell. `metrics` maps a score's name to Score.to_json().

    The optional fields are None when a cell has none (a calibration row trains no curve, a cell
    that failed has no metrics) and are then left out of the JSON.
    """

    model: str
    dataset: str
    seed: int
    kind: str
    calibration: bool = False
    conditional: bool = False
    config_hash: str | None = None
    status: str = "done"
    error: str | None = None
    wall: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    throughput_unit: str | None = None
    config: dict | None = None
    curves: dict | None = None
    checkpoint_metrics: list | None = None
    checkpoint_seconds: list | None = None
    train_images_per_s: float | None = None
    sample_text: list | None = None
    sample_text_readings: list | None = None  # the oracle's verdict on each sample_text line
    sample_grid: dict | None = None  # the oracle's reading of each tile of the sample grid
    qd_curve: list | None = None
    guidance_curve: list | None = None
    traversals: list | None = None
    peak_memory_mb: float | None = None
    cell_dir: str | None = None
    samples_png: str | None = None
    traversal_png: str | None = None
    offenders: dict | None = None  # the worst samples by the oracle and by memorization (per_sample.py)
    offenders_png: str | None = None
    per_sample_csv: str | None = None
    not_applicable: dict | None = None  # {metric: why it cannot apply to these samples}

    _REQUIRED = ("model", "dataset", "seed", "kind", "calibration", "conditional", "config_hash", "status",
                 "error", "wall", "metrics", "throughput_unit")

    def set_scores(self, scores: Sequence) -> None:
        """Record Score objects as the cell's metrics, in order."""
        self.metrics = {s.name: s.to_json() for s in scores}

    def to_json(self) -> dict:
        doc = dataclasses.asdict(self)
        return {k: v for k, v in doc.items() if k in self._REQUIRED or v is not None}

    @classmethod
    def from_json(cls, doc: Mapping, where: str = "cell") -> "CellResult":
        """A cell from its JSON; a missing key, an unknown status or a malformed score is a UserError."""
        if not isinstance(doc, Mapping):
            raise UserError(f"{where}: not a cell result (expected an object)")
        missing = [k for k in ("model", "dataset", "seed", "metrics") if k not in doc]
        if missing:
            raise UserError(f"{where}: no {', '.join(missing)}")
        if doc.get("status", "done") not in STATUSES:
            raise UserError(f"{where}: status {doc.get('status')!r}; expected one of {', '.join(STATUSES)}")
        if not isinstance(doc["metrics"], Mapping) or not all(
                isinstance(m, Mapping) and {"value", "higher_is_better", "signature"} <= m.keys()
                for m in doc["metrics"].values()):
            raise UserError(f"{where}: metrics must map names to {{value, higher_is_better, signature}}")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})


def leaderboard_rows(cells: Sequence[Mapping]) -> list[dict]:
    """Cells (JSON) -> one leaderboard row per (model, dataset): mean ± sample std and the per-seed
    values of every metric over the seeds that finished, in the suite's metric order."""
    groups: dict[tuple, list] = {}
    for cell in cells:
        groups.setdefault((cell["dataset"], cell["model"]), []).append(cell)
    rows = []
    for (dataset, model), group in groups.items():
        group = sorted(group, key=lambda c: c["seed"])
        done = [c for c in group if c["status"] == "done"]
        row = {"model": model, "dataset": dataset, "kind": group[0]["kind"],
               "calibration": group[0]["calibration"], "conditional": group[0].get("conditional", False),
               "n_seeds": len(done), "seeds": [c["seed"] for c in done],
               "failed_seeds": [c["seed"] for c in group if c["status"] != "done"], "metrics": {}}
        for name in dict.fromkeys(m for c in done for m in c["metrics"]):
            have = [c for c in done if name in c["metrics"]]
            values = [c["metrics"][name]["value"] for c in have]
            first = have[0]["metrics"][name]
            row["metrics"][name] = {
                "mean": float(np.mean(values)),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                "values": values, "seeds": [c["seed"] for c in have],
                "higher_is_better": first["higher_is_better"], "signature": first["signature"],
                "description": first.get("description", "")}
        for key in ("train_images_per_s", "peak_memory_mb"):
            vals = [c[key] for c in done if c.get(key) is not None]
            if vals:
                row[key] = float(np.mean(vals))
        rows.append(row)
    return rows


@dataclass
class RunResults:
    """A run. `leaderboard` defaults to the aggregate of `cells`; a run read back from the history
    database passes the leaderboard it stored. Optional sections (None) are left out of the JSON."""

    run_id: str
    cells: list[CellResult]
    leaderboard: list[dict] | None = None
    created: str | None = None
    suite: dict | None = None
    git_commit: str | None = None
    versions: dict | None = None
    machine: dict | None = None
    executor: str | None = None
    runtime: dict | None = None
    extractors: dict | None = None
    validity: list | None = None
    human_preference: list | None = None  # per dataset, from votes (aigc_eval.rating.scores)
    performance: list | None = None
    time_to_quality: list | None = None
    phases: dict | None = None

    def to_json(self) -> dict:
        cells = [c.to_json() for c in self.cells]
        doc = {"schema_version": RESULTS_SCHEMA_VERSION, "run_id": self.run_id}
        for f in dataclasses.fields(self):
            if f.name in ("run_id", "cells", "leaderboard"):
                continue
            value = getattr(self, f.name)
            if value is not None:
                doc[f.name] = value
        doc["cells"] = cells
        doc["leaderboard"] = self.leaderboard if self.leaderboard is not None else leaderboard_rows(cells)
        return doc

    @classmethod
    def from_json(cls, doc: Mapping, where: str = "results") -> "RunResults":
        check_results(doc, where)
        known = {f.name for f in dataclasses.fields(cls)} - {"cells", "run_id"}
        cells = [CellResult.from_json(c, f"{where}: cells[{i}]") for i, c in enumerate(doc.get("cells", []))]
        return cls(run_id=str(doc.get("run_id", "?")), cells=cells,
                   **{k: v for k, v in doc.items() if k in known})

    @classmethod
    def from_scores(cls, scores: Mapping[tuple[str, str, int], Sequence], run_id: str = "local",
                    kind: str = "image") -> "RunResults":
        """A minimal run from {(model, dataset, seed): [Score, ...]}: for scoring your own model outside
        the harness, e.g. in a test with the pytest plugin's `aigc_gate` fixture."""
        cells = []
        for (model, dataset, seed), seed_scores in scores.items():
            cell = CellResult(model, dataset, seed, kind)
            cell.set_scores(seed_scores)
            cells.append(cell)
        return cls(run_id=run_id, cells=cells)


# -- reading ------------------------------------------------------------------------------------

def check_results(doc, where: str) -> None:
    """What every reader needs: a leaderboard list and a schema version this code reads."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("leaderboard"), list):
        raise UserError(f"{where}: not an aigc-eval results.json (no 'leaderboard' list)")
    if doc.get("schema_version", RESULTS_SCHEMA_VERSION) != RESULTS_SCHEMA_VERSION:
        raise UserError(f"{where}: results schema_version {doc['schema_version']!r}; "
                        f"this aigc-eval reads version {RESULTS_SCHEMA_VERSION}")


def load_results(path, what: str = "results") -> dict:
    """Read a results.json (or a run folder holding one); bad input is a one-line UserError."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise UserError(f"{what} {path}: no such file (expected a results.json or a run folder)")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{what} {path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{what} {path}: cannot read it ({e})") from None
    check_results(results, f"{what} {path}")
    results.setdefault("run_id", str(path.parent.name))
    return results


def validate_results(results, what: str = "results.json") -> None:
    """The full check the report runs first: the JSON Schema, then what a schema cannot say (per-seed
    lists line up with their seeds). Raises a UserError naming the first bad field."""
    validate_json(results, RESULTS_SCHEMA, what)
    for i, row in enumerate(results["leaderboard"]):
        if row["n_seeds"] != len(row["seeds"]):
            raise UserError(f"{what}: leaderboard[{i}].n_seeds is {row['n_seeds']} "
                            f"but seeds has {len(row['seeds'])} entries")
        for name, stat in row["metrics"].items():
            seeds = stat.get("seeds", row["seeds"])  # a metric only some seeds have lists its own
            if len(stat["values"]) != len(seeds):
                raise UserError(f"{what}: leaderboard[{i}].metrics.{name}.values has "
                                f"{len(stat['values'])} entries, expected one per seed "
                                f"({len(seeds)})")


@dataclass(frozen=True)
class MetricEntry:
    """One (model, dataset, metric) of a leaderboard, as the gate and `compare` read it."""

    values: tuple[float, ...]
    higher_is_better: bool
    signature: Signature
    seeds: tuple | None  # the seed of each value, when known


def metric_entries(results: Mapping) -> dict[tuple[str, str, str], MetricEntry]:
    """(model, dataset, metric) -> per-seed values, direction and signature of a leaderboard."""
    out = {}
    try:
        for row in results["leaderboard"]:
            for metric, m in row["metrics"].items():
                values = tuple(float(v) for v in m["values"])
                seeds = m.get("seeds", row.get("seeds"))
                seeds = tuple(seeds) if seeds is not None and len(seeds) == len(values) else None
                out[(row["model"], row["dataset"], metric)] = MetricEntry(
                    values, bool(m["higher_is_better"]), Signature.parse(m["signature"]), seeds)
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"run {results.get('run_id', '?')}: malformed leaderboard row "
                        f"({type(e).__name__}: {e}); see reports/SCHEMA.md") from None
    return out
