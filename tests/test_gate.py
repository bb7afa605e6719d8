"""The noise-aware gate and compare, on real per-seed scores and on the statistics alone.

Real scores: Fréchet distance (lower is better) and mean classifier confidence (higher is better)
of noise-corrupted real digits against the real test split, on the suite's digits classifier.
A "model" is a noise level; its seeds draw other digits and other noise.
"""
from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
import scipy.linalg
from scipy import stats

from aigc_eval.cli import main
from aigc_eval.comparison import NOT_COMPARABLE
from aigc_eval.errors import UserError
from aigc_eval.gate import (BETTER, FAILED, MISSING, NEW, NO_CI, OK, REGRESSION, UNJUDGED, WITHIN_NOISE, WORSE,
                            Tolerances, compare, gate, load_tolerances)
from aigc_eval.report.markdown import format_markdown, gate_markdown
from aigc_eval.results import RunResults, load_results
from aigc_eval.signature import Score, Signature
from aigc_eval.stats import difference_interval

N_GEN = 720
FD = "fd_digits-cnn"


# -- real per-seed scores ---------------------------------------------------------------------

def frechet(x: np.ndarray, y: np.ndarray) -> float:
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    with warnings.catch_warnings():  # dead ReLU units make the covariances singular; sqrtm still converges
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


@pytest.fixture(scope="module")
def score_noisy_digits():
    """noise, seeds -> results dict of a "model" that emits real digits plus pixel noise."""
    from aigc_eval.data import load_dataset
    from aigc_eval.features.classifier import classifier_extractor

    data = load_dataset("digits")
    extractor = classifier_extractor(data, log=lambda msg: None)
    reference = extractor.extract(data.test_x)["features"].astype(np.float64)
    memo = {}

    def seed_scores(noise, seed):
        if (noise, seed) not in memo:
            rng = np.random.default_rng(seed)
            picked = data.train_x[rng.choice(len(data.train_x), N_GEN, replace=False)].astype(np.float64)
            images = np.clip(picked + rng.normal(0, noise, picked.shape), 0, 255).round().astype(np.uint8)
            out = extractor.extract(images)
            logits = out["logits"].astype(np.float64)
            probs = np.exp(logits - logits.max(1, keepdims=True))
            confidence = float((probs.max(1) / probs.sum(1)).mean())

            def sig(metric):
                return Signature.build(metric, ext=extractor.tag, n_gen=N_GEN, n_ref=len(reference), seed=seed)
            memo[(noise, seed)] = [
                Score(FD, frechet(reference, out["features"].astype(np.float64)), sig("fd"), False),
                Score("confidence", confidence, sig("confidence"), True)]
        return memo[(noise, seed)]

    def run(noise, seeds, run_id=None):
        return RunResults.from_scores({("noisy", "digits", s): seed_scores(noise, s) for s in seeds},
                                      run_id=run_id or f"noise{noise}-seeds{'-'.join(map(str, seeds))}").to_json()
    return run


def by_metric(result):
    return {r.metric: r for r in result.rows}


def test_gate_fails_on_a_degraded_model(score_noisy_digits):
    baseline = score_noisy_digits(40, (0, 1, 2))
    degraded = score_noisy_digits(60, (3, 4, 5))
    result = gate(degraded, baseline)
    assert not result.passed
    rows = by_metric(result)
    assert rows[FD].verdict == REGRESSION and rows["confidence"].verdict == REGRESSION
    # FD went up, confidence went down, each beyond the Bonferroni-adjusted Welch interval.
    assert rows[FD].interval[0] > 0 and rows["confidence"].interval[1] < 0
    assert result.per_row_confidence == pytest.approx(1 - 0.05 / 2)
    text = gate_markdown(result)
    assert text.startswith("## aigc-eval gate: FAIL (2 regressed, 0 missing, 0 failed seeds")
    assert "| noisy | digits | fd_digits-cnn ↓ |" in text and "**REGRESSION**" in text


def test_gate_passes_a_rerun_of_the_same_model_with_other_seeds(score_noisy_digits):
    baseline = score_noisy_digits(40, (0, 1, 2))
    rerun = score_noisy_digits(40, (3, 4, 5))
    result = gate(rerun, baseline)
    assert result.passed, gate_markdown(result)
    rows = by_metric(result)
    assert {r.verdict for r in rows.values()} <= {OK, BETTER}
    # The seeds changed the numbers, so a single-number comparison would have flagged something.
    assert any(r.worse_by()[0] > 0 for r in rows.values())
    assert all(r.delta != 0 for r in rows.values())


def test_a_tolerance_passes_a_real_regression_only_when_it_covers_it(score_noisy_digits):
    baseline = score_noisy_digits(40, (0, 1, 2))
    degraded = score_noisy_digits(60, (3, 4, 5))
    rows = by_metric(gate(degraded, baseline))
    fd_lo = rows[FD].worse_by()[1]
    conf_lo = rows["confidence"].worse_by()[1]
    conf_rel = conf_lo / np.mean(rows["confidence"].baseline)
    generous = {"fd_*": {"abs": fd_lo * 1.01}, "confidence": {"rel": conf_rel * 1.01}}
    assert gate(degraded, baseline, generous).passed
    tight = {"fd_*": {"abs": fd_lo * 0.99}, "confidence": {"rel": conf_rel * 1.01}}
    result = gate(degraded, baseline, tight)
    assert [r.metric for r in result.rows if r.verdict == REGRESSION] == [FD]


def test_compare_real_runs_reports_deltas_with_intervals(score_noisy_digits):
    a = score_noisy_digits(40, (0, 1, 2))
    b = score_noisy_digits(60, (3, 4, 5))
    rows = {r.metric: r for r in compare(a, b)}
    assert set(rows) == {FD, "confidence"}
    fd = rows[FD]
    assert fd.delta == pytest.approx(np.mean(fd.current) - np.mean(fd.baseline))
    assert fd.interval[0] < fd.delta < fd.interval[1]
    assert fd.method == "welch" and fd.verdict == WORSE and rows["confidence"].verdict == WORSE
    assert {r.verdict for r in compare(a, score_noisy_digits(40, (3, 4, 5)))} <= {WITHIN_NOISE, BETTER}


def gate_cli(capsys, results, baseline, tolerances=None) -> tuple[int, str]:
    """`aigc-eval gate`: (exit code, what it printed)."""
    code = main(["gate", "--results", str(results), "--baseline", str(baseline)]
                + (["--tolerances", str(tolerances)] if tolerances else []))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_gate_command_exit_codes_and_file_errors(score_noisy_digits, tmp_path, capsys):
    paths = {}
    for name, results in (("baseline", score_noisy_digits(40, (0, 1, 2))),
                          ("rerun", score_noisy_digits(40, (3, 4, 5))),
                          ("degraded", score_noisy_digits(60, (3, 4, 5)))):
        paths[name] = tmp_path / name / "results.json"
        paths[name].parent.mkdir()
        paths[name].write_text(json.dumps(results))
    code, text = gate_cli(capsys, paths["degraded"], paths["baseline"])
    assert code == 1 and "gate: FAIL" in text
    code, text = gate_cli(capsys, paths["rerun"].parent, paths["baseline"])  # a run folder works too
    assert code == 0 and "gate: PASS" in text
    tol = tmp_path / "tol.toml"
    tol.write_text('[gate.tolerances]\n"fd_*" = {abs = 1000.0}\nconfidence = {rel = 1.0}\n')
    assert gate_cli(capsys, paths["degraded"], paths["baseline"], tol)[0] == 0

    code, text = gate_cli(capsys, paths["rerun"], tmp_path / "nope.json")
    assert code == 2 and re.fullmatch(r"aigc-eval: error: baseline .*nope\.json: no such file.*\n", text)
    bad = tmp_path / "bad.json"
    bad.write_text('{"leaderboard": [')
    code, text = gate_cli(capsys, bad, paths["baseline"])
    assert code == 2 and re.fullmatch(r"aigc-eval: error: results .*bad\.json: not valid JSON.*\n", text)


# -- statistics ---------------------------------------------------------------------------------

def make_results(entries: dict, run_id="run", cells=()) -> dict:
    """{(model, dataset, metric): (values, higher_is_better[, signature])} -> a results dict."""
    board = {}
    for (model, dataset, metric), spec in entries.items():
        values, hib = spec[0], spec[1]
        signature = spec[2] if len(spec) > 2 else f"{metric}|ext:digits-cnn@abc|n_gen:720|seed:0|torch:2.14.1"
        row = board.setdefault((model, dataset), {"model": model, "dataset": dataset, "metrics": {}})
        row["metrics"][metric] = {"mean": float(np.mean(values)),
                                  "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                                  "values": list(values), "higher_is_better": hib, "signature": signature}
    return {"schema_version": 1, "run_id": run_id, "leaderboard": list(board.values()), "cells": list(cells)}


@pytest.mark.parametrize("na,nb", [(2, 2), (3, 5), (6, 4)])
def test_interval_is_welchs(na, nb):
    rng = np.random.default_rng(na * 10 + nb)
    base, cur = rng.normal(10, 1, na), rng.normal(11, 3, nb)
    lo, hi, method = difference_interval(base, cur, 0.9)
    expected = stats.ttest_ind(cur, base, equal_var=False).confidence_interval(0.9)
    assert method == "welch"
    assert (lo, hi) == pytest.approx((expected.low, expected.high), rel=1e-10)


def test_same_seeds_give_the_paired_t_interval():
    rng = np.random.default_rng(2)
    base = rng.normal(10, 2, 4)
    cur = base + rng.normal(0.5, 0.1, 4)
    lo, hi, method = difference_interval(base, cur, 0.95, paired=True)
    expected = stats.ttest_rel(cur, base).confidence_interval(0.95)
    assert method == "paired t"
    assert (lo, hi) == pytest.approx((expected.low, expected.high), rel=1e-10)
    welch_lo, welch_hi, _ = difference_interval(base, cur, 0.95)
    assert hi - lo < (welch_hi - welch_lo) / 10


def test_a_single_seed_borrows_the_other_sides_variance():
    rng = np.random.default_rng(1)
    base, cur = rng.normal(5, 2, 4), [7.5]
    lo, hi, method = difference_interval(base, cur, 0.95)
    # With one value on a side, the pooled equal-variance t interval uses only the other side's variance.
    expected = stats.ttest_ind(cur, base, equal_var=True).confidence_interval(0.95)
    assert method == "borrowed variance"
    assert (lo, hi) == pytest.approx((expected.low, expected.high), rel=1e-10)
    assert difference_interval(cur, base, 0.95)[:2] == pytest.approx((-hi, -lo))


def test_welch_interval_covers_its_confidence():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(1000):
        lo, hi, _ = difference_interval(rng.normal(0, 1, 3), rng.normal(0, 2, 3), 0.95)
        covered += lo <= 0 <= hi
    assert 0.93 <= covered / 1000 <= 0.99


def test_one_seed_on_both_sides_is_judged_by_a_tolerance_never_passed_unjudged():
    assert difference_interval([10.0], [12.0]) is None
    base = make_results({("m", "d", FD): ([10.0], False)})
    cur = make_results({("m", "d", FD): ([12.0], False)})
    assert compare(base, cur)[0].verdict == NO_CI
    result = gate(cur, base)  # 20% worse: within FD's stated default tolerance of 25%
    assert result.passed and result.rows[0].verdict == OK
    assert result.rows[0].rule == "default tolerance fd*: rel 0.25"
    assert "judged by the default tolerance" in gate_markdown(result)
    assert "| default tolerance fd*: rel 0.25 |" in format_markdown(result.rows)
    strict = gate(cur, base, unjudged="fail")
    assert not strict.passed and strict.rows[0].verdict == UNJUDGED
    assert "unjudged: give tolerances or more seeds" in gate_markdown(strict)
    assert not gate(cur, base, {"default": {"abs": 1.0}}).passed
    assert gate(cur, base, {"default": {"abs": 3.0}}, unjudged="fail").passed


def test_direction_comes_from_higher_is_better():
    base = make_results({("m", "d", "precision"): ([0.80, 0.81, 0.79], True),
                         ("m", "d", FD): ([20.0, 21.0, 19.0], False)})
    lower = make_results({("m", "d", "precision"): ([0.60, 0.61, 0.59], True),
                          ("m", "d", FD): ([10.0, 11.0, 9.0], False)})
    rows = by_metric(gate(lower, base))
    assert rows["precision"].verdict == REGRESSION and rows[FD].verdict == BETTER
    rows = by_metric(gate(base, lower))
    assert rows["precision"].verdict == BETTER and rows[FD].verdict == REGRESSION


def test_identical_seed_values_judge_any_real_change_but_not_float_noise():
    base = make_results({("m", "d", "nll"): ([2.5, 2.5], False)})
    assert gate(make_results({("m", "d", "nll"): ([2.5 + 1e-13, 2.5 + 1e-13], False)}), base).passed
    assert not gate(make_results({("m", "d", "nll"): ([2.51, 2.51], False)}), base).passed


def test_tolerances_pick_exact_then_longest_glob_then_default():
    tols = Tolerances.parse({"default": {"rel": 0.01}, "fd_*": {"abs": 2.0}, "fd_digits*": {"abs": 1.0, "rel": 0.1},
                             "fd_digits-cnn": {"abs": 0.5}})
    assert tols.for_metric("fd_digits-cnn").allowance(10.0) == 0.5
    assert tols.for_metric("fd_digits-other").allowance(10.0) == pytest.approx(1.0 + 0.1 * 10)
    assert tols.for_metric("fd_shapes-cnn").allowance(-10.0) == 2.0
    assert tols.for_metric("bleu").allowance(-50.0) == pytest.approx(0.5)
    assert Tolerances.parse({"bleu": {"abs": 1}}).for_metric("rouge") is None


@pytest.mark.parametrize("table", [{"fd": 0.5}, {"fd": {"absolute": 0.5}}, {"fd": {"abs": -1}},
                                   {"fd": {"rel": "1%"}}, {"fd": {}}, ["fd"]])
def test_bad_tolerances_are_user_errors(table):
    with pytest.raises(UserError, match="tolerance"):
        Tolerances.parse(table)


def test_tolerances_from_toml(tmp_path):
    path = tmp_path / "suite.toml"
    path.write_text('[suite]\nname = "x"\n\n[gate.tolerances]\ndefault = {rel = 0.02}\n"fd_*" = {abs = 0.5}\n')
    tols = load_tolerances(path)
    assert tols.for_metric("fd_digits-cnn").allowance(100) == 0.5
    assert tols.for_metric("bleu").allowance(100) == pytest.approx(2.0)
    path.write_text('[gate]\nconfidence = 0.95\n')
    with pytest.raises(UserError, match=r"suite\.toml: no \[gate\.tolerances\] table"):
        load_tolerances(path)
    path.write_text('[gate.tolerances\n')
    with pytest.raises(UserError, match=r"suite\.toml: not valid TOML"):
        load_tolerances(path)
    path.write_text('[gate.tolerances]\nfd = {abs = -1.0}\n')
    with pytest.raises(UserError, match=r"^--tolerances .*suite\.toml: tolerance for 'fd'"):
        load_tolerances(path)
    with pytest.raises(UserError, match="no such file"):
        load_tolerances(tmp_path / "missing.toml")


def test_missing_metrics_and_models_fail_new_ones_do_not():
    base = make_results({("a", "d", FD): ([10.0, 11.0], False), ("a", "d", "recall"): ([0.5, 0.6], True),
                         ("b", "d", FD): ([12.0, 13.0], False)})
    cur = make_results({("a", "d", FD): ([10.0, 11.0], False), ("a", "d", "precision"): ([0.5, 0.6], True)})
    result = gate(cur, base)
    assert not result.passed
    verdicts = {(r.model, r.metric): r.verdict for r in result.rows}
    assert verdicts == {("a", FD): OK, ("a", "recall"): MISSING, ("b", FD): MISSING, ("a", "precision"): NEW}
    assert [r.verdict for r in result.rows[:2]] == [MISSING, MISSING]  # failures lead the table


def test_a_model_done_in_the_baseline_that_fails_now_fails_the_gate():
    entries = {("a", "d", FD): ([10.0, 11.0], False)}
    base = make_results(entries, cells=[{"model": "a", "dataset": "d", "seed": s, "status": "done"} for s in (0, 1)])
    cells = [{"model": "a", "dataset": "d", "seed": 0, "status": "done"},
             {"model": "a", "dataset": "d", "seed": 1, "status": "diverged", "error": "loss is nan at step 120"},
             {"model": "a", "dataset": "d", "seed": 2, "status": "failed", "error": None}]
    result = gate(make_results(entries, cells=cells), base)
    assert not result.passed
    failed = [r for r in result.rows if r.verdict == FAILED]
    assert [r.note for r in failed] == ["seed 1: diverged: loss is nan at step 120",
                                        "seed 2: failed: no error message"]
    # Where the baseline already failed on some seeds, only a seed that was done there counts.
    assert gate(make_results(entries, cells=cells), make_results(entries, cells=cells)).passed
    now = [dict(cells[0], status="failed", error="out of memory"), cells[1]]
    assert [r.note for r in gate(make_results(entries, cells=now), make_results(entries, cells=cells)).rows
            if r.verdict == FAILED] == ["seed 0: failed: out of memory"]


def test_signatures_must_match_apart_from_the_seed():
    sig = "fd|ext:digits-cnn@abc|n_gen:{n}|n_ref:360|seed:{seed}|torch:2.14.1"
    base = make_results({("m", "d", FD): ([10.0, 11.0], False, sig.format(n=720, seed=0))})
    other_seed = make_results({("m", "d", FD): ([30.0, 31.0], False, sig.format(n=720, seed=5))})
    other_n = make_results({("m", "d", FD): ([30.0, 31.0], False, sig.format(n=2000, seed=0))})
    assert gate(other_seed, base).rows[0].verdict == REGRESSION
    row = compare(base, other_n)[0]
    assert row.verdict == NOT_COMPARABLE and row.interval is None and row.note == "n_gen: 720 → 2000"
    result = gate(other_n, base)
    assert result.passed and result.rows[0].verdict == NOT_COMPARABLE
    assert "**Nothing was compared**" in gate_markdown(result)
    assert "| — | — | not comparable: n_gen: 720 → 2000 |" in format_markdown(result.rows)


def test_bonferroni_widens_each_interval_with_the_number_of_rows():
    rng = np.random.default_rng(3)
    entries = {("m", "d", f"metric{i}"): (list(rng.normal(1, 0.1, 3)), True) for i in range(10)}
    moved = {k: ([v + 0.05 for v in vals], hib) for k, (vals, hib) in entries.items()}
    result = gate(make_results(moved), make_results(entries))
    assert result.n_intervals == 10 and result.per_row_confidence == pytest.approx(0.995)
    row = result.rows[0]
    assert row.interval == pytest.approx(difference_interval(row.baseline, row.current, 0.995)[:2])
    assert "each at 99.5%" in gate_markdown(result)


def test_metrics_and_models_restrict_what_is_gated():
    base = make_results({("mine", "d", FD): ([10.0, 11.0], False), ("mine", "d", "recall"): ([0.5, 0.6], True),
                         ("theirs", "d", FD): ([10.0, 11.0], False)})
    cur = make_results({("mine", "d", FD): ([10.0, 11.0], False)})
    result = gate(cur, base, metrics=["fd_*"], models=["mine"])
    assert result.passed and [(r.model, r.metric, r.verdict) for r in result.rows] == [("mine", FD, OK)]


def test_a_non_finite_current_value_is_a_regression():
    base = make_results({("m", "d", FD): ([10.0, 11.0], False)})
    result = gate(make_results({("m", "d", FD): ([10.0, float("nan")], False)}), base)
    assert not result.passed and result.rows[0].note == "current value is not finite"


def test_load_results_names_the_file_in_every_error(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(make_results({("m", "d", FD): ([10.0], False)}, run_id="r1")))
    assert load_results(tmp_path)["run_id"] == "r1"
    for text, message in (("[1, 2]", "not an aigc-eval results.json"),
                          ('{"schema_version": 2, "leaderboard": []}', "results schema_version 2"),
                          ("{'single': 'quotes'}", "not valid JSON")):
        path.write_text(text)
        with pytest.raises(UserError, match=f"^baseline {path}: {message}"):
            load_results(path, what="baseline")
    path.write_text('{"leaderboard": [{"model": "m", "dataset": "d", "metrics": {"x": {"mean": 1}}}]}')
    with pytest.raises(UserError, match="malformed leaderboard row"):
        gate(load_results(path), load_results(path))


def test_markdown_escapes_pipes_and_marks_direction():
    base = make_results({("m|x", "d", "recall"): ([0.5, 0.6], True)})
    text = format_markdown(gate(base, base).rows)
    assert "| m\\|x | d | recall ↑ | 0.55 ± 0.071 (2) | 0.55 ± 0.071 (2) | +0 | [-0.3" in text


def test_runs_on_the_same_seeds_are_paired_and_catch_a_smaller_degradation(score_noisy_digits):
    baseline = score_noisy_digits(40, (0, 1, 2))
    paired = gate(score_noisy_digits(45, (0, 1, 2)), baseline)
    unpaired = gate(score_noisy_digits(45, (3, 4, 5)), baseline)
    assert {r.method for r in paired.rows} == {"paired t"} and {r.method for r in unpaired.rows} == {"welch"}
    # The same seeds draw the same digits and noise directions, so the seed noise cancels.
    assert not paired.passed and by_metric(paired)[FD].verdict == REGRESSION
    assert unpaired.passed, gate_markdown(unpaired)
