"""Per-seed cell results -> leaderboard rows with mean ± std over seeds."""
from __future__ import annotations

import numpy as np


def leaderboard_rows(cells: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
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
        names = list(dict.fromkeys(m for c in done for m in c["metrics"]))  # the suite's metric order
        for name in names:
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


def validity_rows(cells: list[dict]) -> list[dict]:
    """The metric-validity table per oracle world: every finished model cell and each of its earlier
    checkpoints is a point. Calibration rows are left out: they sit at the extremes of every metric
    and would make any proxy look valid on their own."""
    from ..validity import TRUE_RATES, validity_table

    points: dict[str, list[dict]] = {}
    for cell in cells:
        if cell["status"] != "done" or cell["calibration"]:
            continue
        final = dict(cell["metrics"])  # entries carry higher_is_better, which sets the expected sign
        steps = cell.get("curves", {}).get("step") or [0]
        earlier = [{k: v for k, v in c.items() if k != "step"} for c in cell.get("checkpoint_metrics", [])
                   if c["step"] < steps[-1]]  # the last checkpoint is the final model, already a point
        for point in [final] + earlier:
            if any(t in point for t in TRUE_RATES):
                points.setdefault(cell["dataset"], []).append(point)
    rows = []
    for dataset, pts in points.items():
        rows += [{"dataset": dataset, **row} for row in validity_table(pts) if row["n"] >= 3]
    return rows
