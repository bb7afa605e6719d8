"""Judge a run against a baseline: tolerances and verdicts, the one regression rule of aigc-eval.
`aigc-eval gate`, `compare`, the pytest plugin and the report's diff view (`run --baseline`) all
take their verdicts from here; the intervals come from aigc_eval.stats, and rows whose signatures
differ apart from `seed:` are "not comparable".

A row fails only when the metric is worse (by `higher_is_better`) beyond noise *and* beyond its
tolerance: the better end of the interval of "how much worse" exceeds `abs + rel * |baseline
mean|`. The confidence is family-wise (Bonferroni over the rows that have an interval), so that a
re-run with other seeds does not fail one row in twenty by chance. A row with 1 seed on both sides
has no interval and is never passed unjudged: its configured tolerance judges it, else the stated
default of its metric family (DEFAULT_TOLERANCES; `unjudged="tolerance"`), or it fails
(`unjudged="fail"`). Every row's `rule` names what judged it.
"""
from __future__ import annotations

import fnmatch
from collections import Counter
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from .errors import UserError
from .comparison import NOT_COMPARABLE, Row, incomparable, newly_failed, paired_rows
from .results import metric_entries
from .stats import bonferroni, mean_std

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Values equal up to float64 rounding (a re-ordered sum) are not regressions, even with a zero
# tolerance and a zero-width interval (identical per-seed values on both sides).
FLOAT_SLACK = 1e-9

# Gate verdicts. The first three fail the gate.
REGRESSION, MISSING, FAILED = "REGRESSION", "MISSING", "FAILED"
OK, BETTER, NEW = "ok", "better", "new"
UNJUDGED = "UNJUDGED"  # fails: no interval (1 seed a side) and, with unjudged="fail", no tolerance either
FAILING = (REGRESSION, MISSING, FAILED, UNJUDGED)
UNJUDGED_MODES = ("tolerance", "fail")
# Compare verdicts: the same judgement with no tolerance and no pass/fail wording.
WORSE, WITHIN_NOISE, NO_CI = "worse", "within noise", "no CI (1 seed)"


def compare(run_a: Mapping, run_b: Mapping, confidence: float = 0.95) -> list[Row]:
    """Rows for every (model, dataset, metric) in both runs: delta of means (b - a) with a CI.

    Verdicts: "worse"/"better" when the per-row `confidence` interval lies wholly on one side of
    zero, "within noise" otherwise, "no CI (1 seed)", or "not comparable" (signatures differ).
    """
    rows = paired_rows(metric_entries(run_a), metric_entries(run_b), confidence)
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

    def __str__(self) -> str:
        parts = ([f"abs {self.abs:g}"] if self.abs else []) + ([f"rel {self.rel:g}"] if self.rel else [])
        return " + ".join(parts) or "0"


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
        return dict(Counter(row.verdict for row in self.rows))


def _select(keys: Iterable, metrics, models) -> set:
    def keep(value, patterns):
        return patterns is None or any(fnmatch.fnmatchcase(value, p) for p in patterns)
    return {k for k in keys if keep(k[0], models) and keep(k[2], metrics)}


def _judge(row: Row, tolerance: Tolerance | None, unjudged: str = "tolerance") -> None:
    worse, lo, hi = row.worse_by()
    base_mean = mean_std(row.baseline)[0]
    if lo is None and tolerance is None and unjudged == "tolerance":
        family, tolerance = default_tolerance(row.metric)
        row.rule = f"default tolerance {family}: {tolerance}"
    elif lo is None:
        row.rule = f"tolerance: {tolerance}" if tolerance is not None else "nothing"
    else:
        row.rule = f"{row.method} interval" + (f" + tolerance {tolerance}" if tolerance else "")
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
    Fails on a regression beyond noise and tolerance, a baseline metric missing now, and a model
    done in the baseline that failed or diverged now; "not comparable" and "new" rows do not fail.
    """
    if unjudged not in UNJUDGED_MODES:
        raise UserError(f"--unjudged: expected one of {', '.join(UNJUDGED_MODES)}, got {unjudged!r}")
    if not 0 < confidence < 1:
        raise UserError(f"gate confidence must be in (0, 1), got {confidence}")
    tols = tolerances if isinstance(tolerances, Tolerances) else Tolerances.parse(tolerances)
    base, cur = metric_entries(baseline), metric_entries(current)
    selected = _select(base, metrics, models)
    base = {k: v for k, v in base.items() if k in selected}
    cur = {k: v for k, v in cur.items() if k in _select(cur, metrics, models)}

    n_intervals = sum(not incomparable(base[k], cur[k]) and max(len(base[k].values), len(cur[k].values)) > 1
                      for k in base.keys() & cur.keys())
    per_row = bonferroni(confidence, n_intervals)
    rows = paired_rows(base, cur, per_row)
    for row in rows:
        if row.verdict != NOT_COMPARABLE:
            _judge(row, tols.for_metric(row.metric), unjudged)
    for key in sorted(base.keys() - cur.keys()):
        rows.append(Row(*key, higher_is_better=base[key].higher_is_better, baseline=base[key].values,
                        verdict=MISSING, note="in the baseline, not in the current run"))
    for key in sorted(cur.keys() - base.keys()):
        rows.append(Row(*key, higher_is_better=cur[key].higher_is_better, current=cur[key].values, verdict=NEW))
    rows += [Row(c["model"], c["dataset"], "status", verdict=FAILED,
                 note=f"seed {c.get('seed')}: {c['status']}: {c.get('error') or 'no error message'}")
             for c in newly_failed(current, baseline, {k[:2] for k in selected})]
    rows.sort(key=lambda r: (r.verdict not in FAILING, r.model, r.dataset, r.metric))
    return GateResult(passed=not any(r.verdict in FAILING for r in rows), rows=rows, confidence=confidence,
                      per_row_confidence=per_row, n_intervals=n_intervals,
                      current_id=str(current.get("run_id", "?")), baseline_id=str(baseline.get("run_id", "?")))
