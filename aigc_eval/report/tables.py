"""Results -> tables: the leaderboard as a pandas DataFrame/CSV and a Markdown excerpt.

Pure functions of the results dict; the HTML page and the CLI both read them.
"""
from __future__ import annotations

import math

import pandas as pd

def fmt_number(x) -> str:
    """Four significant digits, no exponent for ordinary magnitudes."""
    if x is None:
        return ""
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1000:
        return f"{x:.0f}"
    if a >= 1e-4:
        return f"{x:.4g}"
    return f"{x:.3e}"


def fmt_mean_std(stat: dict) -> str:
    """'mean ± std' over seeds, at the precision the spread supports.

    The std keeps two significant digits and the mean is rounded to the same decimal place, but
    never finer than the mean's fourth significant digit: a std below that (seeds that agree to
    float noise, such as 3e-13) shows as "± 0". A single seed has no spread: the mean alone.
    """
    mean, std = stat["mean"], stat["std"]
    if len(stat["values"]) < 2:
        return fmt_number(mean)
    if not (math.isfinite(std) and math.isfinite(mean)):
        return f"{fmt_number(mean)} ± {fmt_number(std)}"
    finest = 3 - math.floor(math.log10(abs(mean))) if mean else 4  # the mean's 4th significant digit
    std2 = float(f"{std:.2g}")  # 0.009996 -> 0.01: its second digit, not the float's, sets the place
    decimals = finest if std2 <= 0 else min(finest, 1 - math.floor(math.log10(std2)))
    decimals = max(0, decimals)
    if round(std, decimals) == 0:
        return f"{fmt_number(round(mean, decimals))} ± 0"
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def metric_names(rows) -> list[str]:
    """Metric names of leaderboard rows, in first-seen order."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row["metrics"]))
    return list(names)


def metric_info(results) -> dict[str, dict]:
    """{metric: {higher_is_better, description}} from cells, falling back to leaderboard rows."""
    info: dict[str, dict] = {}
    for cell in results["cells"]:
        for name, score in cell["metrics"].items():
            entry = info.setdefault(name, {"higher_is_better": score["higher_is_better"],
                                           "description": ""})
            entry["description"] = entry["description"] or score.get("description", "")
    for row in results["leaderboard"]:
        for name, stat in row["metrics"].items():
            entry = info.setdefault(name, {"higher_is_better": stat["higher_is_better"],
                                           "description": ""})
            entry["description"] = entry["description"] or stat.get("description", "")
    return info


def leaderboard_frame(results) -> pd.DataFrame:
    """One row per (model, dataset): identity columns, then `<metric>.mean` and `<metric>.std`."""
    rows = results["leaderboard"]
    names = metric_names(rows)
    records = []
    for row in rows:
        record = {"model": row["model"], "dataset": row["dataset"], "kind": row["kind"],
                  "calibration": row["calibration"], "n_seeds": row["n_seeds"],
                  "seeds": " ".join(str(s) for s in row["seeds"])}
        for name in names:
            stat = row["metrics"].get(name)
            record[f"{name}.mean"] = stat["mean"] if stat else math.nan
            record[f"{name}.std"] = stat["std"] if stat else math.nan
        records.append(record)
    columns = (["model", "dataset", "kind", "calibration", "n_seeds", "seeds"]
               + [f"{n}.{s}" for n in names for s in ("mean", "std")])
    return pd.DataFrame.from_records(records, columns=columns)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """A text cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a
    leading apostrophe (OWASP's CSV-injection advice); numbers are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def leaderboard_csv(results) -> str:
    frame = leaderboard_frame(results)
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(csv_safe)
    return frame.to_csv(index=False, lineterminator="\n")


def _md(text) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def leaderboard_excerpt(results) -> str:
    """A Markdown table per dataset (mean ± std; ↑/↓ = better direction), for README and CLI."""
    info = metric_info(results)
    groups: dict[str, list] = {}
    for row in results["leaderboard"]:
        groups.setdefault(row["dataset"], []).append(row)
    parts = []
    for dataset, rows in groups.items():
        names = metric_names(rows)
        header = ["model"] + [f"{n} {'↑' if info[n]['higher_is_better'] else '↓'}" for n in names]
        lines = [f"{_md(dataset)} ({rows[0]['kind']}):", "",
                 "| " + " | ".join(_md(h) for h in header) + " |",
                 "|" + "---|" * len(header)]
        for row in rows:
            model = row["model"] + (" (calibration)" if row["calibration"] else "")
            values = [fmt_mean_std(row["metrics"][n]) if n in row["metrics"] else "" for n in names]
            lines.append("| " + " | ".join(_md(v) for v in [model] + values) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
