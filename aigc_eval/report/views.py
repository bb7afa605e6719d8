"""Per-dataset views of a leaderboard: a few headline columns, the rest grouped by family.

The headline columns of each dataset are declared in the suite (`headline = [...]` under its
[[datasets]] entry) and travel in results.json under `suite.headline`; a run without them (an
older results.json, `aigc-eval score`) gets DEFAULT_HEADLINE, filtered to what the run has. A
headline name is a metric name, or `fd`: the Fréchet distance on the dataset's own extractor
(`fd_digits-cnn` on digits, FID where Inception is the extractor). A name the run does not carry
(say `human_preference` before anyone rated) is left out, so a suite can name columns that
other parts of the code add later.

Every other column sits in a family (FAMILIES, extended by a suite's [report.families] table:
family -> metric names, or prefixes ending in "*"). A metric no family claims goes to "other".

Best is marked only among models (never a calibration row), only where more than one model has
a value and they do not all tie, and only where the direction means something: never for a spread (`role: uncertainty`,
e.g. kid_std), and never for a lower-is-better distance estimate when some row of the column
reads below zero (an unbiased estimator such as KID goes negative when the estimate is noise, so
"lower" no longer ranks anything).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .tables import fmt_mean_std, fmt_number

DEFAULT_HEADLINE = ("fd", "precision", "recall", "hallucination_rate", "factual_hallucination_rate",
                    "controllability", "factor_match", "cond_accuracy", "bleu5", "self_bleu5",
                    "feature_diversity", "psnr", "ssim", "human_preference")

# family -> metric names; a trailing "*" matches a prefix. First match wins, in this order.
FAMILIES = {
    "ground truth": ["hallucination_rate*", "ambiguous_rate", "oracle_*", "novelty", "factor_coverage*",
                     "controllability*", "factor_match*", "cond_accuracy*", "cond_factor_accuracy*",
                     "true_rate", "factual_hallucination_rate", "ungrammatical_rate"],
    "fidelity": ["fd*", "fid*", "kid*", "precision*", "density*", "cmmd*"],
    "diversity": ["recall*", "coverage*", "mode_coverage", "class_kl", "feature_diversity", "vendi*",
                  "self_bleu*"],
    "memorization": ["memorization*"],
    "reconstruction": ["psnr", "ssim", "nll", "perplexity"],
    "text overlap": ["bleu*", "rouge*", "chrf*"],
    "human": ["human_*"],
    "disentanglement": ["mig*", "dci*", "sap*"],
    "guidance": ["guidance*"],
    "cost": ["train_images_per_s", "peak_memory_mb"],
}
OTHER = "other"
# Row-level cost numbers (means over seeds, no spread), shown as columns of the cost family.
COST_COLUMNS = {"train_images_per_s": (True, "training throughput (items/s, mean over seeds)"),
                "peak_memory_mb": (False, "peak memory of the cell (MB, mean over seeds)")}


@dataclass
class Value:
    text: str  # as displayed: mean ± std at the precision the spread supports
    mean: float | None
    title: str = ""  # per-seed values
    best: bool = False


@dataclass
class Column:
    name: str
    higher_is_better: bool
    description: str = ""
    family: str = ""
    ranked: bool = False  # best is marked in this column
    tied: bool = False  # every model has the same value: nothing to mark

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


@dataclass
class Row:
    model: str
    calibration: bool
    n_seeds: int
    values: dict[str, Value] = field(default_factory=dict)


@dataclass
class DatasetView:
    dataset: str
    kind: str
    rows: list[Row]
    columns: dict[str, Column]  # every column, by name
    headline: list[str]
    families: dict[str, list[str]]  # family -> the other columns, in the run's order

    def best(self, name: str) -> list[str]:
        """Models marked best in a column."""
        return [r.model for r in self.rows if name in r.values and r.values[name].best]


def _matches(name: str, pattern: str) -> bool:
    return name.startswith(pattern[:-1]) if pattern.endswith("*") else name == pattern


def family_of(name: str, families: dict[str, list[str]]) -> str:
    for family, patterns in families.items():
        if any(_matches(name, p) for p in patterns):
            return family
    return OTHER


def _roles(results) -> dict[str, str]:
    roles = {}
    for cell in results.get("cells", []):
        for name, score in cell["metrics"].items():
            if score.get("role"):
                roles.setdefault(name, score["role"])
    return roles


def _uncertainty(name: str, roles: dict[str, str]) -> bool:
    # Results written before scores carried roles: the spreads are named *_std.
    return roles.get(name) == "uncertainty" or (name not in roles and name.endswith("_std"))


def resolve_headline(names, dataset: str, results, available) -> list[str]:
    """Headline names -> column names of this dataset: `fd` is the dataset's extractor's FD."""
    extractor = (results.get("extractors") or {}).get(dataset) or {}
    out = []
    for name in names:
        if name == "fd":
            fds = [a for a in available if a.startswith(("fd_", "fid"))]
            name = extractor.get("metric_name") if extractor.get("metric_name") in available else \
                (fds[0] if fds else name)
        if name in available and name not in out:
            out.append(name)
    return out


def _value(stat: dict, seeds) -> Value:
    if stat.get("mean") is None:  # a score that does not apply to this row
        return Value("n/a", None)
    per_seed = ", ".join(f"seed {s}: {fmt_number(v)}" for s, v in zip(stat.get("seeds", seeds), stat["values"]))
    # a score with a confidence interval (human preference: a bootstrap over votes) shows it too
    interval = f" [{fmt_number(stat['ci'][0])}, {fmt_number(stat['ci'][1])}]" if "ci" in stat else ""
    return Value(fmt_mean_std(stat) + interval, float(stat["mean"]), per_seed)


def _mark_best(rows: list[Row], column: Column, uncertainty: bool) -> None:
    ranked = [r.values[column.name] for r in rows if not r.calibration and column.name in r.values
              and r.values[column.name].mean is not None and math.isfinite(r.values[column.name].mean)]
    if uncertainty or len(ranked) < 2:
        return
    if not column.higher_is_better and any(r.values[column.name].mean < 0 for r in rows
                                           if column.name in r.values and r.values[column.name].mean is not None):
        return
    best = (max if column.higher_is_better else min)(v.mean for v in ranked)
    if all(v.mean == best for v in ranked):  # every model ties: the column ranks nothing
        column.tied = True
        return
    column.ranked = True
    for v in ranked:
        v.best = v.mean == best


def dataset_views(results) -> list[DatasetView]:
    """One view per dataset, in the leaderboard's order; models first, then calibration rows."""
    suite = results.get("suite") or {}
    declared = suite.get("headline") or {}
    families = {**{k: list(v) for k, v in (suite.get("families") or {}).items()},
                **{k: v for k, v in FAMILIES.items() if k not in (suite.get("families") or {})}}
    roles = _roles(results)
    groups: dict[str, list[dict]] = {}
    for row in results["leaderboard"]:
        groups.setdefault(row["dataset"], []).append(row)
    views = []
    for dataset, lb_rows in groups.items():
        lb_rows = [r for r in lb_rows if not r["calibration"]] + [r for r in lb_rows if r["calibration"]]
        columns: dict[str, Column] = {}
        rows = []
        for lb in lb_rows:
            row = Row(lb["model"], lb["calibration"], lb["n_seeds"])
            for name, stat in lb["metrics"].items():
                columns.setdefault(name, Column(name, bool(stat["higher_is_better"]), stat.get("description", "")))
                row.values[name] = _value(stat, lb["seeds"])
            for name, (higher, description) in COST_COLUMNS.items():
                if lb.get(name) is not None:
                    columns.setdefault(name, Column(name, higher, description))
                    row.values[name] = Value(fmt_number(lb[name]), float(lb[name]))
            rows.append(row)
        for column in columns.values():
            column.family = family_of(column.name, families)
            _mark_best(rows, column, _uncertainty(column.name, roles))
        headline = resolve_headline(declared.get(dataset, DEFAULT_HEADLINE), dataset, results, columns)
        grouped: dict[str, list[str]] = {f: [] for f in [*families, OTHER]}
        for name, column in columns.items():
            if name not in headline:
                grouped[column.family].append(name)
        views.append(DatasetView(dataset, lb_rows[0]["kind"], rows, columns, headline,
                                 {f: names for f, names in grouped.items() if names}))
    return views
