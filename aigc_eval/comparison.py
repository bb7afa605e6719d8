"""Two runs side by side: one Row per (model, dataset, metric) in both, with the interval of the
difference of their means. aigc_eval.gate gives each row its verdict."""
from __future__ import annotations

from dataclasses import dataclass

from .results import MetricEntry
from .stats import difference_interval, mean_std

NOT_COMPARABLE = "not comparable"


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
        return mean_std(self.current)[0] - mean_std(self.baseline)[0]

    def worse_by(self) -> tuple[float, float | None, float | None]:
        """How much worse the current run is (negative: better): point, CI low, CI high."""
        sign = -1.0 if self.higher_is_better else 1.0
        if self.interval is None:
            return sign * self.delta, None, None
        lo, hi = sorted((sign * self.interval[0], sign * self.interval[1]))
        return sign * self.delta, lo, hi


def incomparable(a: MetricEntry, b: MetricEntry) -> str:
    """Why two entries cannot be compared, or ''."""
    reasons = [a.signature.difference(b.signature),
               "higher_is_better differs" if a.higher_is_better != b.higher_is_better else ""]
    return ", ".join(filter(None, reasons))


def paired_rows(base: dict, cur: dict, confidence: float) -> list[Row]:
    rows = []
    for key in sorted(base.keys() & cur.keys()):
        a, b = base[key], cur[key]
        row = Row(*key, higher_is_better=a.higher_is_better, baseline=a.values, current=b.values)
        diff = incomparable(a, b)
        if diff:
            row.verdict, row.note = NOT_COMPARABLE, diff
        else:
            paired = a.seeds is not None and a.seeds == b.seeds
            found = difference_interval(a.values, b.values, confidence, paired)
            if found is not None:
                row.interval, row.method = (found[0], found[1]), found[2]
        rows.append(row)
    return rows


def newly_failed(current, baseline, pairs: set) -> list[dict]:
    """Cells of (model, dataset) `pairs` that failed or diverged in `current` where the baseline was done.

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
    return [c for c in current.get("cells", [])
            if c.get("status", "done") != "done" and (c["model"], c["dataset"]) in pairs
            and ((c["model"], c["dataset"], c.get("seed")) in done_before
                 or ((c["model"], c["dataset"]) in pairs_done and (c["model"], c["dataset"]) not in pairs_failed))]
