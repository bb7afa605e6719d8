"""Compare two runs, and gate a run against a baseline, judging every difference against seed noise.

The statistics, in one place:

- Every (model, dataset, metric) carries its per-seed values (`values` in a results.json
  leaderboard row). A difference is the mean of the current values minus the mean of the
  baseline values, with a confidence interval (CI) computed from those per-seed values.
- Both runs used the same >= 2 seeds: a paired t interval on the per-seed differences. The same
  seed gives the same data order and initialisation, so pairing cancels most of the seed noise
  (common random numbers) and finds smaller regressions; it stays exact if a change decorrelates
  the seeds, only with less power.
- Otherwise, both sides with >= 2 seeds: Welch's t interval (unequal variances,
  Welch-Satterthwaite df).
  We do not bootstrap: with the 2-5 seeds a benchmark affords, a percentile bootstrap of each
  side's mean has only a handful of distinct values. For two samples of N(0, 1), its nominal 95%
  interval covered the true difference in 69% of 2,000 simulated pairs at 2 seeds per side, 80%
  at 3, 87% at 5 and 92% at 10; Welch's covered 98%, 96%, 95% and 96% (measured 2026-11-28;
  tests/test_gate.py checks Welch's coverage).
- One side with 1 seed, the other with >= 2: the single seed borrows the other side's
  seed-to-seed variance (equal-variance t, df = n - 1 of the side that has several seeds).
- Both sides with 1 seed: there is no noise estimate and no CI; rows say so ("no CI (1 seed)").
- Signatures must agree apart from their `seed:` field, or the row is "not comparable" and no
  difference is computed.

The gate fails a row only when the metric is worse (direction from `higher_is_better`) beyond
noise *and* beyond its tolerance: the better end of the CI of "how much worse" exceeds the
allowance `abs + rel * |baseline mean|`. Because a suite gates dozens of rows, the confidence is
family-wise: each row's interval is at 1 - (1 - confidence) / m over the m rows that have a CI
(Bonferroni), so that a re-run with other seeds does not fail one row in twenty by chance.

With 1 seed on both sides there is no interval. Such a row is never passed unjudged: it is judged
by its configured tolerance, else (`unjudged="tolerance"`, the default) by the stated default
tolerance of its metric family (DEFAULT_TOLERANCES), or (`unjudged="fail"`) it fails with
"unjudged: give tolerances or more seeds". The Markdown's "judged by" column names the rule of
every row.
"""
from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy import stats

from .errors import UserError

# Values equal up to float64 rounding (a re-ordered sum) are not regressions, even with a zero
# tolerance and a zero-width interval (identical per-seed values on both sides).
FLOAT_SLACK = 1e-9

# Gate verdicts. The first three fail the gate.
REGRESSION, MISSING, FAILED = "REGRESSION", "MISSING", "FAILED"
OK, BETTER, NEW, NOT_COMPARABLE = "ok", "better", "new", "not comparable"
UNJUDGED = "UNJUDGED"  # fails: no interval (1 seed a side) and, with unjudged="fail", no tolerance either
FAILING = (REGRESSION, MISSING, FAILED, UNJUDGED)
UNJUDGED_MODES = ("tolerance", "fail")
# Compare verdicts: the same judgement with no tolerance and no pass/fail wording.
WORSE, WITHIN_NOISE, NO_CI = "worse", "within noise", "no CI (1 seed)"


# -- reading results ----------------------------------------------------------------------------

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
    if not isinstance(results, dict) or not isinstance(results.get("leaderboard"), list):
        raise UserError(f"{what} {path}: not an aigc-eval results.json (no 'leaderboard' list)")
    if results.get("schema_version", 1) != 1:
        raise UserError(f"{what} {path}: results schema_version {results['schema_version']!r}; "
                        "this aigc-eval reads version 1")
    results.setdefault("run_id", str(path.parent.name))
    return results


@dataclass(frozen=True)
class _Entry:
    values: tuple[float, ...]
    higher_is_better: bool
    signature: str
    seeds: tuple | None  # the seed of each value, when known


def _entries(results: Mapping, label: str) -> dict[tuple[str, str, str], _Entry]:
    """(model, dataset, metric) -> per-seed values, direction and signature of a leaderboard."""
    out = {}
    try:
        for row in results["leaderboard"]:
            for metric, m in row["metrics"].items():
                values = tuple(float(v) for v in m["values"])
                seeds = m.get("seeds", row.get("seeds"))
                seeds = tuple(seeds) if seeds is not None and len(seeds) == len(values) else None
                out[(row["model"], row["dataset"], metric)] = _Entry(
                    values, bool(m["higher_is_better"]), str(m["signature"]), seeds)
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{label}: malformed leaderboard row ({type(e).__name__}: {e}); "
                        "see reports/SCHEMA.md") from None
    return out


def _label(results: Mapping) -> str:
    return f"run {results.get('run_id', '?')}"


def _without_seed(signature: str) -> list[str]:
    return [part for part in signature.split("|") if not part.startswith("seed:")]


def signature_difference(a: str, b: str) -> str:
    """'' when two signatures agree apart from `seed:`, else the fields that differ, one-line."""
    pa, pb = _without_seed(a), _without_seed(b)
    if pa == pb:
        return ""
    fa = dict(p.split(":", 1) if ":" in p else ("metric", p) for p in pa)
    fb = dict(p.split(":", 1) if ":" in p else ("metric", p) for p in pb)
    return ", ".join(f"{k}: {fa.get(k, '-')} → {fb.get(k, '-')}"
                     for k in dict.fromkeys([*fa, *fb]) if fa.get(k) != fb.get(k))


# -- statistics ---------------------------------------------------------------------------------

def difference_interval(baseline: Sequence[float], current: Sequence[float], confidence: float = 0.95,
                        paired: bool = False) -> tuple[float, float, str] | None:
    """Two-sided `confidence` interval of mean(current) - mean(baseline), and its method.

    paired: the i-th values of both sides come from the same seed.
    None when there is no noise estimate (1 seed on both sides) or a value is not finite.
    """
    a, b = np.asarray(baseline, dtype=np.float64), np.asarray(current, dtype=np.float64)
    na, nb = len(a), len(b)
    if min(na, nb) == 0 or max(na, nb) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    delta = b.mean() - a.mean()
    if paired and na == nb:
        se2 = (b - a).var(ddof=1) / na
        df = na - 1
        method = "paired t"
    elif na >= 2 and nb >= 2:
        va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
        se2 = va + vb
        df = se2 ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1)) if se2 > 0 else math.inf
        method = "welch"
    else:
        several = a if na >= 2 else b
        se2 = several.var(ddof=1) * (1 / na + 1 / nb)
        df = len(several) - 1
        method = "borrowed variance"
    half = float(stats.t.ppf(0.5 + confidence / 2, df) * math.sqrt(se2)) if se2 > 0 else 0.0
    return float(delta - half), float(delta + half), method


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


@dataclass
class Row:
    """One line of a comparison: a (model, dataset, metric) in a baseline and a current run."""

    model: str
    dataset: str
    metric: str
    higher_is_better: bool | None = None
    baseline: tuple[float, ...] = ()
    current: tuple[float, ...] = ()
    interval: tuple[float, float] | None = None  # of current - baseline
    method: str = ""  # "paired t", "welch", "borrowed variance", or "" when there is no interval
    verdict: str = ""
    note: str = ""
    rule: str = ""  # the gate's: what judged the row (an interval, a configured or default tolerance)

    @property
    def delta(self) -> float | None:
        if not (self.baseline and self.current):
            return None
        return _mean_std(self.current)[0] - _mean_std(self.baseline)[0]

    def worse_by(self) -> tuple[float, float | None, float | None]:
        """How much worse the current run is (negative: better): point, CI low, CI high."""
        sign = -1.0 if self.higher_is_better else 1.0
        if self.interval is None:
            return sign * self.delta, None, None
        lo, hi = sorted((sign * self.interval[0], sign * self.interval[1]))
        return sign * self.delta, lo, hi


def _incomparable(a: _Entry, b: _Entry) -> str:
    """Why two entries cannot be compared, or ''."""
    reasons = [signature_difference(a.signature, b.signature),
               "higher_is_better differs" if a.higher_is_better != b.higher_is_better else ""]
    return ", ".join(filter(None, reasons))


def _compare_entries(base: dict, cur: dict, confidence: float) -> list[Row]:
    rows = []
    for key in sorted(base.keys() & cur.keys()):
        a, b = base[key], cur[key]
        row = Row(*key, higher_is_better=a.higher_is_better, baseline=a.values, current=b.values)
        diff = _incomparable(a, b)
        if diff:
            row.verdict, row.note = NOT_COMPARABLE, diff
        else:
            paired = a.seeds is not None and a.seeds == b.seeds
            found = difference_interval(a.values, b.values, confidence, paired)
            if found is not None:
                row.interval, row.method = (found[0], found[1]), found[2]
        rows.append(row)
    return rows


def compare(run_a: Mapping, run_b: Mapping, confidence: float = 0.95) -> list[Row]:
    """Rows for every (model, dataset, metric) in both runs: delta of means (b - a) with a CI.

    Verdicts: "worse"/"better" when the per-row `confidence` interval lies wholly on one side of
    zero, "within noise" otherwise, "no CI (1 seed)", or "not comparable" (signatures differ).
    """
    rows = _compare_entries(_entries(run_a, _label(run_a)), _entries(run_b, _label(run_b)), confidence)
    for row in rows:
        if row.verdict:
            continue
        _, lo, hi = row.worse_by()
        row.verdict = NO_CI if lo is None else WORSE if lo > 0 else BETTER if hi < 0 else WITHIN_NOISE
    return rows


# -- tolerances ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tolerance:
    """How much worse a metric may get without failing: abs + rel * |baseline mean| (numpy's isclose rule)."""

    abs: float = 0.0
    rel: float = 0.0

    def allowance(self, baseline_mean: float) -> float:
        return self.abs + self.rel * abs(baseline_mean)


@dataclass(frozen=True)
class Tolerances:
    """Per-metric tolerances: an exact metric name, else the longest matching glob ("fd_*"), else "default".

    Built from a dict like {"default": {"rel": 0.01}, "fd_*": {"abs": 0.5}} or a TOML file's
    [gate.tolerances] table of the same shape.
    """

    by_pattern: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, table: Mapping | None, where: str = "tolerances") -> "Tolerances":
        if table is None:
            return cls()
        if not isinstance(table, Mapping):
            raise UserError(f"{where}: expected a table of metric name -> {{abs = ..., rel = ...}}")
        parsed = {}
        for name, spec in table.items():
            if (not isinstance(spec, Mapping) or not spec or set(spec) - {"abs", "rel"}
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                               for v in spec.values())):
                raise UserError(f"{where}: tolerance for {name!r} must be a table like "
                                f"{{abs = 0.5, rel = 0.02}} with non-negative numbers, got {spec!r}")
            parsed[str(name)] = Tolerance(float(spec.get("abs", 0.0)), float(spec.get("rel", 0.0)))
        return cls(parsed)

    def for_metric(self, metric: str) -> Tolerance | None:
        """The tolerance that applies to `metric`, or None when none is configured."""
        if metric in self.by_pattern:
            return self.by_pattern[metric]
        globs = [p for p in self.by_pattern if p != "default" and fnmatch.fnmatchcase(metric, p)]
        if globs:
            return self.by_pattern[max(globs, key=len)]
        return self.by_pattern.get("default")


def load_tolerances(path) -> Tolerances:
    """Read the [gate.tolerances] table of a TOML file (a suite file may carry it)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--tolerances {path}: no such file (expected a TOML file with a [gate.tolerances] table)")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"--tolerances {path}: not valid TOML ({e})") from None
    table = doc.get("gate", {}).get("tolerances") if isinstance(doc.get("gate"), dict) else None
    if table is None:
        raise UserError(f"--tolerances {path}: no [gate.tolerances] table")
    return Tolerances.parse(table, where=f"--tolerances {path}")


# Tolerances for rows that no interval can judge (1 seed on each side) and that have no configured
# tolerance: the first family whose glob matches the metric. FD and KID swing by 5-25% between seeds
# of the same model (README's default suite), so 25%; rates and shares in [0, 1] by 0.05 absolute;
# BLEU, ROUGE, chrF and likelihoods by 5%; anything else by 10%.
DEFAULT_TOLERANCES = (
    ("fd*", Tolerance(rel=0.25)), ("fid*", Tolerance(rel=0.25)), ("kid*", Tolerance(rel=0.25)),
    ("precision", Tolerance(abs=0.05)), ("recall", Tolerance(abs=0.05)), ("density", Tolerance(abs=0.05)),
    ("coverage", Tolerance(abs=0.05)), ("*accuracy*", Tolerance(abs=0.05)), ("*rate*", Tolerance(abs=0.05)),
    ("*hallucination*", Tolerance(abs=0.05)), ("*controllability*", Tolerance(abs=0.05)),
    ("*match*", Tolerance(abs=0.05)), ("memorization", Tolerance(abs=0.05)), ("novelty", Tolerance(abs=0.05)),
    ("*bleu*", Tolerance(rel=0.05)), ("rouge*", Tolerance(rel=0.05)), ("chrf*", Tolerance(rel=0.05)),
    ("nll*", Tolerance(rel=0.05)), ("perplexity*", Tolerance(rel=0.05)),
    ("*", Tolerance(rel=0.10)),
)


def default_tolerance(metric: str) -> tuple[str, Tolerance]:
    """(family glob, tolerance) of DEFAULT_TOLERANCES that applies to `metric`."""
    for pattern, tol in DEFAULT_TOLERANCES:
        if fnmatch.fnmatchcase(metric, pattern):
            return pattern, tol
    raise AssertionError("the last family matches everything")


def _describe(tol: Tolerance) -> str:
    parts = ([f"abs {tol.abs:g}"] if tol.abs else []) + ([f"rel {tol.rel:g}"] if tol.rel else [])
    return " + ".join(parts) or "0"


# -- the gate -----------------------------------------------------------------------------------

@dataclass
class GateResult:
    passed: bool
    rows: list[Row]
    confidence: float
    per_row_confidence: float
    n_intervals: int
    current_id: str = ""
    baseline_id: str = ""

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.rows:
            out[row.verdict] = out.get(row.verdict, 0) + 1
        return out

    def markdown(self) -> str:
        counts = self.counts()
        failing = (f"{counts.get(REGRESSION, 0)} regressed, {counts.get(MISSING, 0)} missing, "
                   f"{counts.get(FAILED, 0)} failed seeds"
                   + (f", {counts[UNJUDGED]} unjudged" if counts.get(UNJUDGED) else ""))
        rest = ", ".join(f"{counts[v]} {v}" for v in (OK, BETTER, NOT_COMPARABLE, NEW) if counts.get(v))
        by_default = sum(r.rule.startswith("default tolerance") for r in self.rows)
        head = (f"## aigc-eval gate: {'PASS' if self.passed else 'FAIL'} ({failing}; {rest or 'nothing else'})\n\n"
                f"Current `{self.current_id}` against baseline `{self.baseline_id}`. A row fails only when it "
                f"is worse beyond noise and beyond its tolerance, at {self.confidence:.0%} family-wise "
                f"confidence: t intervals from per-seed values, Bonferroni over {self.n_intervals} "
                f"interval{'s' * (self.n_intervals != 1)}, each at {100 * self.per_row_confidence:.6g}%.\n")
        if by_default:
            head += (f"\n{by_default} row{'s' * (by_default != 1)} with 1 seed on each side and no configured "
                     f"tolerance {'were' if by_default != 1 else 'was'} judged by the default tolerance of "
                     f"{'their' if by_default != 1 else 'its'} metric family (column \"judged by\"); give "
                     "tolerances or more seeds to judge them by noise.\n")
        if not any(r.verdict in (OK, BETTER, REGRESSION) for r in self.rows):
            head += "\n**Nothing was compared**: no metric of the baseline has a comparable current value.\n"
        return head + "\n" + format_markdown(self.rows)


def _select(keys: Iterable, metrics, models) -> set:
    def keep(value, patterns):
        return patterns is None or any(fnmatch.fnmatchcase(value, p) for p in patterns)
    return {k for k in keys if keep(k[0], models) and keep(k[2], metrics)}


def _status_rows(current: Mapping, baseline: Mapping, selected_pairs: set) -> list[Row]:
    """A model done in the baseline that failed or diverged now fails the gate, one row per seed.

    A seed counts when it was done in the baseline, or when no seed of that model failed there
    (a model that already failed on some seeds is judged seed by seed).
    """
    done_before, pairs_done, pairs_failed = set(), set(), set()
    for c in baseline.get("cells", []):
        pair = (c["model"], c["dataset"])
        if c.get("status", "done") == "done":
            done_before.add((*pair, c.get("seed")))
            pairs_done.add(pair)
        else:
            pairs_failed.add(pair)
    rows = []
    for c in current.get("cells", []):
        pair = (c["model"], c["dataset"])
        if c.get("status", "done") == "done" or pair not in selected_pairs:
            continue
        if (*pair, c.get("seed")) in done_before or (pair in pairs_done and pair not in pairs_failed):
            rows.append(Row(*pair, "status", verdict=FAILED,
                            note=f"seed {c.get('seed')}: {c['status']}: {c.get('error') or 'no error message'}"))
    return rows


def _judge(row: Row, tolerance: Tolerance | None, unjudged: str = "tolerance") -> None:
    worse, lo, hi = row.worse_by()
    base_mean = _mean_std(row.baseline)[0]
    if lo is None and tolerance is None and unjudged == "tolerance":
        family, tolerance = default_tolerance(row.metric)
        row.rule = f"default tolerance {family}: {_describe(tolerance)}"
    elif lo is None:
        row.rule = f"tolerance: {_describe(tolerance)}" if tolerance is not None else "nothing"
    else:
        row.rule = f"{row.method} interval" + (f" + tolerance {_describe(tolerance)}" if tolerance else "")
    allowance = (tolerance or Tolerance()).allowance(base_mean) + FLOAT_SLACK * max(1.0, abs(base_mean))
    if not all(math.isfinite(v) for v in row.current) and all(math.isfinite(v) for v in row.baseline):
        row.verdict, row.note = REGRESSION, "current value is not finite"
    elif lo is None:
        if tolerance is None:
            row.verdict, row.note = UNJUDGED, "unjudged: give tolerances or more seeds (1 seed on each side)"
        else:
            row.verdict = REGRESSION if worse > allowance else OK
            row.note = f"1 seed a side: worse by {worse:.4g}, allowed {allowance:.4g}"
    elif lo > allowance:
        row.verdict = REGRESSION
        row.note = f"worse beyond noise by at least {lo:.4g}" + (f" (tolerance {allowance:.4g})" if tolerance else "")
    elif hi < 0:
        row.verdict = BETTER
    else:
        row.verdict = OK
        if lo > 0:
            row.note = f"worse beyond noise, within tolerance {allowance:.4g}"


def gate(current: Mapping, baseline: Mapping, tolerances=None, confidence: float = 0.95,
         metrics: Sequence[str] | None = None, models: Sequence[str] | None = None,
         unjudged: str = "tolerance") -> GateResult:
    """Judge `current` against `baseline` (both results.json dicts); see the module docstring.

    tolerances: None, a dict like {"default": {"rel": 0.01}, "fd_*": {"abs": 0.5}}, or Tolerances.
    metrics, models: glob patterns restricting which baseline rows are gated (default: all).
    Fails on: a regression beyond noise and tolerance; a baseline metric missing now; a model
    done in the baseline that failed or diverged now. Signature mismatches are reported as
    "not comparable" and new metrics as "new"; neither fails.
    unjudged: what judges a row with 1 seed on each side and no configured tolerance: "tolerance"
    (DEFAULT_TOLERANCES, the default) or "fail" (the row fails: "give tolerances or more seeds").
    """
    if unjudged not in UNJUDGED_MODES:
        raise UserError(f"--unjudged: expected one of {', '.join(UNJUDGED_MODES)}, got {unjudged!r}")
    if not 0 < confidence < 1:
        raise UserError(f"gate confidence must be in (0, 1), got {confidence}")
    tols = tolerances if isinstance(tolerances, Tolerances) else Tolerances.parse(tolerances)
    base, cur = _entries(baseline, _label(baseline)), _entries(current, _label(current))
    selected = _select(base, metrics, models)
    base = {k: v for k, v in base.items() if k in selected}
    cur = {k: v for k, v in cur.items() if k in _select(cur, metrics, models)}

    n_intervals = sum(not _incomparable(base[k], cur[k]) and max(len(base[k].values), len(cur[k].values)) > 1
                      for k in base.keys() & cur.keys())
    per_row = 1 - (1 - confidence) / max(1, n_intervals)
    rows = _compare_entries(base, cur, per_row)
    for row in rows:
        if row.verdict != NOT_COMPARABLE:
            _judge(row, tols.for_metric(row.metric), unjudged)
    for key in sorted(base.keys() - cur.keys()):
        rows.append(Row(*key, higher_is_better=base[key].higher_is_better, baseline=base[key].values,
                        verdict=MISSING, note="in the baseline, not in the current run"))
    for key in sorted(cur.keys() - base.keys()):
        rows.append(Row(*key, higher_is_better=cur[key].higher_is_better, current=cur[key].values, verdict=NEW))
    rows += _status_rows(current, baseline, {k[:2] for k in selected})
    rows.sort(key=lambda r: (r.verdict not in FAILING, r.model, r.dataset, r.metric))
    return GateResult(passed=not any(r.verdict in FAILING for r in rows), rows=rows, confidence=confidence,
                      per_row_confidence=per_row, n_intervals=n_intervals,
                      current_id=str(current.get("run_id", "?")), baseline_id=str(baseline.get("run_id", "?")))


# -- Markdown -----------------------------------------------------------------------------------

def _cell(values: Sequence[float]) -> str:
    if not values:
        return "—"
    mean, std = _mean_std(values)
    return f"{mean:.4g} ± {std:.2g} ({len(values)})"


def format_markdown(rows: Sequence[Row]) -> str:
    """A Markdown table (model, dataset, metric, baseline/current mean ± std (seeds), Δ, CI, verdict),
    with a "judged by" column when the rows come from the gate (it says which rule judged each)."""
    ruled = any(r.rule for r in rows)
    lines = ["| model | dataset | metric | baseline mean ± std (n) | current mean ± std (n) | Δ | CI of Δ "
             "| verdict |" + (" judged by |" if ruled else ""), "|---|---|---|---|---|---|---|---|" + ("---|" * ruled)]
    for r in rows:
        arrow = "" if r.higher_is_better is None else (" ↑" if r.higher_is_better else " ↓")
        delta = "—" if r.delta is None or r.verdict == NOT_COMPARABLE else f"{r.delta:+.4g}"
        ci = "—" if r.interval is None else f"[{r.interval[0]:+.4g}, {r.interval[1]:+.4g}]"
        if r.method and r.method != "welch":
            ci += f" {r.method}"
        verdict = f"**{r.verdict}**" if r.verdict in FAILING else r.verdict
        if r.note:
            verdict += f": {r.note}"
        cells = [r.model, r.dataset, r.metric + arrow, _cell(r.baseline), _cell(r.current), delta, ci, verdict]
        if ruled:
            cells.append(r.rule or "—")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines.append("")
    lines.append("↑ higher is better, ↓ lower is better; n = seeds; Δ = current − baseline; "
                 "CI from per-seed values (Welch t, or paired t where both runs used the same seeds; "
                 "no CI with 1 seed on both sides).")
    return "\n".join(lines) + "\n"


# -- building results from scores ---------------------------------------------------------------

def results_from_scores(scores: Mapping[tuple[str, str, int], Sequence], run_id: str = "local",
                        kind: str = "image") -> dict:
    """A minimal results dict (cells + leaderboard) from {(model, dataset, seed): [Score, ...]}.

    For scoring your own model outside the harness, e.g. in a test with the `aigc_gate` fixture.
    """
    from .harness.aggregate import leaderboard_rows

    cells = [{"model": model, "dataset": dataset, "seed": seed, "kind": kind, "calibration": False,
              "status": "done", "metrics": {s.name: s.to_json() for s in seed_scores}}
             for (model, dataset, seed), seed_scores in scores.items()]
    return {"schema_version": 1, "run_id": run_id, "cells": cells, "leaderboard": leaderboard_rows(cells)}


# -- CLI entry points (wired by aigc_eval/cli.py) -----------------------------------------------

def gate_command(results_path, baseline_path, tolerances_path=None, unjudged: str = "tolerance") -> tuple[int, str]:
    """`aigc-eval gate RESULTS BASELINE [--tolerances FILE]`: (exit code, Markdown summary).

    Exit code 1 only when the gate fails (a regression beyond noise and tolerance, a missing
    baseline metric, or a model that failed/diverged where the baseline was done), 0 otherwise.
    Bad paths, JSON or TOML raise UserError (exit 2 in the CLI) with one line naming the file.
    """
    current = load_results(results_path, what="results")
    baseline = load_results(baseline_path, what="baseline")
    tolerances = load_tolerances(tolerances_path) if tolerances_path else None
    result = gate(current, baseline, tolerances, unjudged=unjudged)
    return (0 if result.passed else 1), result.markdown()
