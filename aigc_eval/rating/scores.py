"""Votes -> human preference scores of a run: Bradley–Terry strengths per cell, their per-model
means with bootstrap intervals, inter-rater agreement, and the rebuilt report.

The items of the fit are cells, (model, seed) of a dataset: each seed's samples earn their own
strength, so the leaderboard's `human_preference` column is, like every other, a mean ± std over
seeds, and the metric-validity table gets one point per rated cell, where a per-model fit would give
two or three. The column's interval is the percentile bootstrap (votes resampled, the fit redone)
of that per-model mean, joined with the parametric bootstrap's (votes redrawn from the fit): when
every vote on a pair went one way (a clean sweep), every resample is that same sweep and the
plain bootstrap's interval collapses to the point, claiming a certainty that a handful of votes
cannot give; redrawn votes include the upsets the fit expects. A strength is a log-odds: a model 1.1 above
another is preferred 3 to 1.

Agreement (two or more raters): over every two votes by different raters on the same pair of
models, both decisive, the share in which they chose the same model (chance 0.5).
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ..atomic import write_json
from ..errors import UserError
from ..results import leaderboard_rows, load_results, validate_results
from ..signature import TRUTH, Score, Signature
from ..validity import validity_rows
from . import bradley_terry as bt
from .pairs import WIN_SHARE
from .store import Vote, VoteStore

METRIC = "human_preference"
VOTES_FILE = "votes.sqlite"


def dataset_preference(dataset: str, votes: list[Vote], cells: set[tuple[str, int]], n_boot: int = bt.DEFAULT_BOOT,
                       alpha: float = bt.DEFAULT_ALPHA, seed: int = 0) -> dict | None:
    """The fit of one dataset's votes among `cells` ((model, seed) pairs of the run); None without votes."""
    votes = [v for v in votes if (v.model_a, v.seed_a) in cells and (v.model_b, v.seed_b) in cells
             and v.model_a != v.model_b]
    if not votes:
        return None
    items = sorted({(v.model_a, v.seed_a) for v in votes} | {(v.model_b, v.seed_b) for v in votes})
    index = {c: k for k, c in enumerate(items)}
    comparisons = bt.Comparisons.from_list(len(items), [
        (index[(v.model_a, v.seed_a)], index[(v.model_b, v.seed_b)], WIN_SHARE[v.answer]) for v in votes])
    models = sorted({m for m, _ in items})
    members = [np.array([index[c] for c in items if c[0] == m]) for m in models]

    def model_means(theta):
        return np.array([theta[k].mean() for k in members])

    theta = bt.fit(comparisons, alpha)
    means = model_means(theta)
    low, high = bt.percentile_interval(bt.bootstrap(comparisons, model_means, n_boot, alpha, seed))
    redrawn = bt.percentile_interval(bt.bootstrap(comparisons, model_means, n_boot, alpha, seed, parametric=True))
    low, high = np.minimum(low, redrawn[0]), np.maximum(high, redrawn[1])
    raters = sorted({v.rater for v in votes})
    questions = sorted({(v.question_id, v.question) for v in votes})
    return {
        "dataset": dataset, "question_id": "+".join(q for q, _ in questions),
        "question": " / ".join(t for _, t in questions), "n_votes": len(votes),
        "n_ties": sum(WIN_SHARE[v.answer] == 0.5 for v in votes), "n_raters": len(raters),
        "agreement": agreement(votes) if len(raters) >= 2 else None,
        "fit": {"method": "bradley-terry MAP", "alpha": alpha, "n_boot": n_boot, "confidence": 0.95, "seed": seed,
                "interval": "percentile, nonparametric and parametric bootstrap joined"},
        "models": [{"model": m, "strength": _rounded(means[k]), "ci": [_rounded(low[k]), _rounded(high[k])],
                    **_record(m, votes)} for k, m in enumerate(models)],
        "cells": [{"model": m, "seed": s, "strength": _rounded(theta[index[(m, s)]])} for m, s in items],
    }


def _rounded(x) -> float:
    """To 1e-10, far below any difference votes can show: equal strengths then stay equal in the
    means and intervals made of them (a tie's std over seeds is 0, not 1e-16)."""
    return round(float(x), 10)


def _record(model: str, votes: list[Vote]) -> dict:
    mine = [(WIN_SHARE[v.answer] if v.model_a == model else 1 - WIN_SHARE[v.answer])
            for v in votes if model in (v.model_a, v.model_b)]
    return {"n_votes": len(mine), "wins": sum(w == 1 for w in mine), "losses": sum(w == 0 for w in mine),
            "ties": sum(w == 0.5 for w in mine)}


def agreement(votes: list[Vote]) -> dict:
    """Cross-rater agreement on decisive votes about the same model pair (see the module docstring)."""
    by_pair: dict[frozenset, list[tuple[str, str]]] = {}
    for v in votes:
        if v.answer in ("a", "b"):
            winner = v.model_a if v.answer == "a" else v.model_b
            by_pair.setdefault(frozenset((v.model_a, v.model_b)), []).append((v.rater, winner))
    same = total = 0
    for decided in by_pair.values():
        for (r1, w1), (r2, w2) in itertools.combinations(decided, 2):
            if r1 != r2:
                total += 1
                same += w1 == w2
    return {"share": same / total if total else None, "n_vote_pairs": total, "chance": 0.5}


def cell_score(section: dict, strength: float, seed: int) -> Score:
    fields = {"question": section["question_id"], "votes": section["n_votes"], "raters": section["n_raters"],
              "fit": "bt-map", "alpha": section["fit"]["alpha"], "seed": seed}
    return Score(METRIC, strength, Signature.build(METRIC, libs=(), **fields), True,
                 f"Bradley-Terry strength (log-odds of being preferred) in {section['n_votes']} votes by "
                 f"{section['n_raters']} rater(s): {section['question']}", TRUTH)


def apply_votes(results: dict, votes: list[Vote], n_boot: int = bt.DEFAULT_BOOT) -> dict:
    """`results` with human preference: cell scores, the leaderboard re-aggregated (the column's
    bootstrap interval as `ci`), a `human_preference` section per dataset, and the validity table
    recomputed with it. Earlier human preference scores are replaced."""
    results = dict(results)
    cells = [dict(c, metrics={k: v for k, v in c["metrics"].items() if k != METRIC}) for c in results["cells"]]
    rated = {}
    for c in cells:
        if c["status"] == "done" and not c["calibration"]:
            rated.setdefault(c["dataset"], set()).add((c["model"], int(c["seed"])))
    sections = []
    for dataset, members in rated.items():
        section = dataset_preference(dataset, [v for v in votes if v.dataset == dataset], members, n_boot)
        if section:
            sections.append(section)
            strengths = {(c["model"], c["seed"]): c["strength"] for c in section["cells"]}
            for c in cells:
                key = (c["model"], int(c["seed"]))
                if c["dataset"] == dataset and key in strengths and key in members:
                    c["metrics"][METRIC] = cell_score(section, strengths[key], key[1]).to_json()
    results["cells"] = cells
    results["leaderboard"] = leaderboard_rows(cells)
    intervals = {(s["dataset"], m["model"]): m["ci"] for s in sections for m in s["models"]}
    for row in results["leaderboard"]:
        if METRIC in row["metrics"]:
            row["metrics"][METRIC]["ci"] = intervals[(row["dataset"], row["model"])]
    results.pop("human_preference", None)
    if sections:
        results["human_preference"] = sections
    results["validity"] = validity_rows(cells) or None
    if results["validity"] is None:
        results.pop("validity")
    return results


def rebuild_report(run_dir, baseline=None, log=print) -> dict:
    """Recompute a run's human preference from RUN_DIR/votes.sqlite (when there is one), then
    rewrite its results.json, leaderboard.csv and leaderboard.html."""
    from ..history import history_series_with
    from ..report import write_report

    run_dir = Path(run_dir)
    if not (run_dir / "results.json").is_file():
        raise UserError(f"{run_dir}: expected a run folder holding results.json (e.g. reports/latest)")
    results = load_results(run_dir, what="run")
    if baseline is not None:
        baseline = load_results(baseline, what="--baseline")
    votes_path = run_dir / VOTES_FILE
    votes = VoteStore(votes_path).votes() if votes_path.is_file() else []
    results = apply_votes(results, votes)
    validate_results(results)
    history = run_dir.parent / "history.sqlite"
    series = history_series_with(history, results) if history.is_file() else None
    write_report(run_dir, results, history_series=series, baseline=baseline)
    write_json(run_dir / "results.json", results)
    log(f"{len(votes)} votes; report rebuilt: {run_dir / 'leaderboard.html'}")
    return results
