"""Markdown for the terminal and CI logs: the gate's summary, `compare`'s table, both from gate rows."""
from __future__ import annotations

from typing import Sequence

from ..comparison import NOT_COMPARABLE, Row
from ..gate import BETTER, FAILED, FAILING, MISSING, NEW, OK, REGRESSION, UNJUDGED, GateResult
from ..stats import mean_std


def _cell(values: Sequence[float]) -> str:
    if not values:
        return "—"
    mean, std = mean_std(values)
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


def gate_markdown(result: GateResult) -> str:
    """The gate's verdict, counts and rule in a heading and a paragraph, then every row."""
    counts = result.counts()
    failing = (f"{counts.get(REGRESSION, 0)} regressed, {counts.get(MISSING, 0)} missing, "
               f"{counts.get(FAILED, 0)} failed seeds"
               + (f", {counts[UNJUDGED]} unjudged" if counts.get(UNJUDGED) else ""))
    rest = ", ".join(f"{counts[v]} {v}" for v in (OK, BETTER, NOT_COMPARABLE, NEW) if counts.get(v))
    by_default = sum(r.rule.startswith("default tolerance") for r in result.rows)
    n = result.n_intervals
    head = (f"## aigc-eval gate: {'PASS' if result.passed else 'FAIL'} ({failing}; {rest or 'nothing else'})\n\n"
            f"Current `{result.current_id}` against baseline `{result.baseline_id}`. A row fails only when it "
            f"is worse beyond noise and beyond its tolerance, at {result.confidence:.0%} family-wise "
            f"confidence: t intervals from per-seed values, Bonferroni over {n} "
            f"interval{'s' * (n != 1)}, each at {100 * result.per_row_confidence:.6g}%.\n")
    if by_default:
        head += (f"\n{by_default} row{'s' * (by_default != 1)} with 1 seed on each side and no configured "
                 f"tolerance {'were' if by_default != 1 else 'was'} judged by the default tolerance of "
                 f"{'their' if by_default != 1 else 'its'} metric family (column \"judged by\"); give "
                 "tolerances or more seeds to judge them by noise.\n")
    if not any(r.verdict in (OK, BETTER, REGRESSION) for r in result.rows):
        head += "\n**Nothing was compared**: no metric of the baseline has a comparable current value.\n"
    return head + "\n" + format_markdown(result.rows)


def compare_markdown(run_a: dict, run_b: dict, rows: Sequence[Row]) -> str:
    """`aigc-eval compare A B`: B − A per (model, dataset, metric) with per-row 95% intervals."""
    return (f"## aigc-eval compare: `{run_b.get('run_id')}` − `{run_a.get('run_id')}`\n\n"
            f"{len(rows)} (model, dataset, metric) rows in both runs; per-row 95% confidence intervals.\n\n"
            + format_markdown(rows))
