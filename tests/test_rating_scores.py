"""Votes -> human preference in results.json, the leaderboard, the validity table and the rebuilt report."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from aigc_eval.cli import main
from aigc_eval.rating.catalog import load_catalog, question_for
from aigc_eval.rating.scores import agreement, apply_votes
from aigc_eval.rating.store import VoteStore, new_vote
from aigc_eval.validity import validity_table
from rating_fixtures import rated_run

ORDER = ["cgan", "dcgan", "vae", "wgan_gp"]  # the raters' true preference on digits, best first


def _votes(results, store, raters, per_pair=3, flip=()):
    """Every rater votes `per_pair` times on every model pair of digits, always for the model earlier
    in ORDER, except raters in `flip`, who always choose the later one."""
    catalog = load_catalog(results, store.salt, ["digits"])
    rng = np.random.default_rng(0)
    question = question_for("digits", "image")
    votes = []
    for rater, (m1, m2), _ in itertools.product(raters, itertools.combinations(ORDER, 2), range(per_pair)):
        a, b = (_pick(catalog, m, rng) for m in (m1, m2))
        if rng.random() < 0.5:
            a, b = b, a
        a_better = ORDER.index(a.model) < ORDER.index(b.model)
        answer = "a" if a_better != (rater in flip) else "b"
        votes.append(new_vote(results["run_id"], rater, "digits", question.id, question.text, a, b, answer))
    return votes


def _pick(catalog, model, rng):
    cells = catalog.cells("digits", model)
    ids = catalog.by_cell[cells[rng.integers(len(cells))]]
    return catalog.samples[ids[rng.integers(len(ids))]]


@pytest.fixture
def run(tmp_path):
    run_dir, results = rated_run(tmp_path / "run")
    return run_dir, results, VoteStore(run_dir / "votes.sqlite")


def test_strengths_follow_the_votes_and_carry_signature_and_interval(run):
    _, results, store = run
    votes = _votes(results, store, ["ann", "bob"])
    out = apply_votes(results, votes, n_boot=200)
    rows = {r["model"]: r["metrics"]["human_preference"] for r in out["leaderboard"]
            if r["dataset"] == "digits" and not r["calibration"]}
    assert sorted(rows, key=lambda m: -rows[m]["mean"]) == ORDER
    for model, stat in rows.items():
        low, high = stat["ci"]
        assert low - 1e-9 <= stat["mean"] <= high + 1e-9
        sig = stat["signature"]
        assert f"votes:{len(votes)}" in sig and "raters:2" in sig and "question:digit-real" in sig
    section = next(s for s in out["human_preference"] if s["dataset"] == "digits")
    assert section["n_votes"] == len(votes) == 36 and section["n_raters"] == 2
    assert section["agreement"]["share"] == 1.0  # two raters with the same taste
    scored = {(c["model"], c["seed"]) for c in out["cells"] if "human_preference" in c["metrics"]}
    assert scored == {(c["model"], c["seed"]) for c in results["cells"]
                      if c["dataset"] == "digits" and c["status"] == "done" and not c["calibration"]}
    assert not any("human_preference" in c["metrics"] for c in out["cells"] if c["calibration"])


def test_raters_who_disagree_have_low_agreement():
    votes = [_vote("ann", "x", "y", "a"), _vote("bob", "x", "y", "b"), _vote("bob", "y", "x", "b"),
             _vote("cat", "x", "y", "cant_tell")]
    # decisive cross-rater vote pairs on {x, y}: ann-x vs bob-y (differ), ann-x vs bob-x (agree) -> 1 of 2
    assert agreement(votes) == {"share": 0.5, "n_vote_pairs": 2, "chance": 0.5}


def _vote(rater, model_a, model_b, answer):
    from aigc_eval.rating.catalog import Sample

    a, b = Sample("0" * 16, "d", model_a, 0, 0), Sample("1" * 16, "d", model_b, 0, 1)
    return new_vote("run", rater, "d", "q", "Q?", a, b, answer)


def test_votes_replace_earlier_scores_and_no_votes_leave_the_run_as_it_was(run):
    _, results, store = run
    once = apply_votes(results, _votes(results, store, ["ann"]), n_boot=50)
    again = apply_votes(once, _votes(results, store, ["ann"]), n_boot=50)
    assert again["leaderboard"] == once["leaderboard"] and again["human_preference"] == once["human_preference"]
    cleared = apply_votes(once, [], n_boot=50)
    assert "human_preference" not in cleared
    assert not any("human_preference" in r["metrics"] for r in cleared["leaderboard"])


def test_human_preference_is_a_second_truth_for_proxies_and_oracles():
    # Five points: FD rises and the oracle's hallucination rate rises as people like a model less.
    points = [{"fd": {"value": fd, "higher_is_better": False, "role": "proxy"},
               "hallucination_rate": {"value": h, "higher_is_better": False, "role": "truth"},
               "human_preference": {"value": p, "higher_is_better": True, "role": "truth"}}
              for fd, h, p in [(10, 0.1, 1.5), (20, 0.3, 0.7), (30, 0.2, 0.1), (40, 0.6, -0.9), (50, 0.8, -1.4)]]
    rows = {(r["proxy"], r["true_rate"]): r for r in validity_table(points, n_boot=200)}
    assert set(rows) == {("fd", "hallucination_rate"), ("fd", "human_preference"),
                         ("hallucination_rate", "human_preference")}
    oracle_vs_people = rows[("hallucination_rate", "human_preference")]
    assert oracle_vs_people["expected_sign"] == -1 and oracle_vs_people["spearman"] == pytest.approx(-0.9)
    assert oracle_vs_people["direction"] == "expected" and oracle_vs_people["ci"] is not None
    assert rows[("fd", "human_preference")]["spearman"] == pytest.approx(-1.0)


def test_aigc_eval_report_rebuilds_the_run_with_its_votes(run, capsys):
    run_dir, results, store = run
    assert main(["report", str(run_dir)]) == 0  # no votes yet: the report as it was
    assert "human_preference" not in json.loads((run_dir / "results.json").read_text())
    store.add(_votes(results, store, ["ann", "bob"]))
    assert main(["report", str(run_dir)]) == 0
    rebuilt = json.loads((run_dir / "results.json").read_text())
    assert {s["dataset"] for s in rebuilt["human_preference"]} == {"digits"}
    html = (run_dir / "leaderboard.html").read_text()
    assert 'id="human-preference"' in html and 'data-metric="human_preference"' in html
    assert "human_preference.mean" in (run_dir / "leaderboard.csv").read_text().splitlines()[0]
    capsys.readouterr()
    assert main(["report", str(run_dir / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "results.json" in err
