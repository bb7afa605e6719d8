"""The report's "Controllability knobs" section: what a model's knobs and codes do, read by the oracle.

- disentanglement: MIG, DCI and SAP per latent-variable model (leaderboard means ± std over seeds);
- guidance curves: the plots of report/plots.py;
- code traversals: per code of a code model (InfoGAN), the factor it captures with its follow and
  constant shares (mean over seeds), and the lowest seed's traversal figure.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..stats import mean_std
from .tables import fmt_mean_std

DISENTANGLEMENT = ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap")


def _mean_std(values) -> str:
    """The leaderboard's 'mean ± std' rounding, for numbers the leaderboard does not hold."""
    mean, std = mean_std(values)
    return fmt_mean_std({"mean": mean, "std": std, "values": values})


def disentanglement_rows(results) -> list[dict]:
    rows = []
    for row in results["leaderboard"]:
        found = {m: row["metrics"][m] for m in DISENTANGLEMENT if m in row["metrics"]}
        if found:
            rows.append({"model": row["model"], "dataset": row["dataset"], "n_seeds": row["n_seeds"],
                         "values": [fmt_mean_std(found[m]) if m in found else "" for m in DISENTANGLEMENT]})
    return rows


def traversal_rows(results) -> list[dict]:
    """One row per (model, dataset, code): the factor most seeds' codes capture, and the shares."""
    by_code = defaultdict(list)
    for cell in results["cells"]:
        for t in cell.get("traversals") or []:
            by_code[(cell["model"], cell["dataset"], t["code"])].append(t)
    rows = []
    for (model, dataset, code), found in by_code.items():
        factors = [t["factor"] for t in found]
        common = max(sorted(set(factors)), key=factors.count)
        agreed = f" ({factors.count(common)}/{len(found)} seeds)" if len(found) > 1 else ""
        rows.append({"model": model, "dataset": dataset, "code": code, "n_seeds": len(found),
                     "factor": common + agreed,
                     "follow": _mean_std([t["follow_share"] for t in found]),
                     "constant": _mean_std([t["constant_share"] for t in found])})
    return rows


def traversal_figures(run_dir: Path, results, png_data_uri) -> list[dict]:
    """The lowest seed's traversal figure per (model, dataset)."""
    first = {}
    for i, cell in enumerate(results["cells"]):
        if cell.get("traversal_png"):
            key = (cell["model"], cell["dataset"])
            if key not in first or cell["seed"] < first[key][1]["seed"]:
                first[key] = (i, cell)
    return [{"model": model, "dataset": dataset, "seed": cell["seed"],
             "src": png_data_uri(run_dir, cell["traversal_png"], f"cells[{i}].traversal_png")}
            for (model, dataset), (i, cell) in first.items()]


def knobs_context(run_dir: Path, results, png_data_uri) -> dict:
    return {"disentanglement_metrics": DISENTANGLEMENT, "disentanglement": disentanglement_rows(results),
            "traversals": traversal_rows(results), "traversal_figures": traversal_figures(run_dir, results, png_data_uri)}
