"""The deterministic part of a smoke run's results.json: every number that must stay bit-identical
across refactorings (metric values and signatures, training curves, checkpoint metrics, the
quality-diversity curves, the leaderboard and the validity table). Timings, paths and library
versions are left out: they change from machine to machine, not with the code's numbers.

Regenerate the committed copy only when a change is *meant* to move numbers:
    .venv/bin/python tests/smoke_values.py reports/latest/results.json > tests/data/smoke_values.json
"""
from __future__ import annotations

import json
import sys

VERSION_FIELDS = ("tf", "torch", "sb", "rs", "ae")  # library versions: the environment's, not the code's


def _signature(sig: str) -> str:
    return "|".join(p for p in sig.split("|") if p.split(":", 1)[0] not in VERSION_FIELDS)


def _metrics(metrics: dict, value_key: str) -> dict:
    return {name: {"value": m[value_key], "signature": _signature(m["signature"]),
                   "higher_is_better": m["higher_is_better"],
                   **({"values": m["values"]} if "values" in m else {})}
            for name, m in metrics.items()}


def deterministic_values(results: dict) -> dict:
    cells = {}
    for c in results["cells"]:
        curves = {k: v for k, v in c.get("curves", {}).items()}
        cells[f"{c['model']}/{c['dataset']}/s{c['seed']}"] = {
            "status": c["status"], "metrics": _metrics(c["metrics"], "value"), "curves": curves,
            "checkpoint_metrics": c.get("checkpoint_metrics", []), "qd_curve": c.get("qd_curve"),
            "guidance_curve": c.get("guidance_curve"), "traversals": c.get("traversals"),
            "sample_text": c.get("sample_text")}
    board = {f"{r['model']}/{r['dataset']}": {"seeds": r["seeds"], "metrics": _metrics(r["metrics"], "mean")}
             for r in results["leaderboard"]}
    ttq = [{k: v for k, v in row.items() if k not in ("seconds_to_target", "curve")}
           | {"curve": [{"step": p["step"], "value": p["value"]} for p in row["curve"]]}
           for row in results.get("time_to_quality", [])]
    return {"cells": cells, "leaderboard": board, "validity": results.get("validity", []),
            "time_to_quality": ttq}


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        print(json.dumps(deterministic_values(json.load(f)), indent=1, sort_keys=True))
