"""The run report: `leaderboard.csv` and one self-contained, offline `leaderboard.html`.

Every string from results reaches the page through Jinja2 autoescaping, and the page's only
script is the template's own, pinned by its hash in a Content-Security-Policy: data travels in
escaped attributes, never as code.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
from pathlib import Path

import jinja2
from markupsafe import Markup

from .. import atomic
from ..errors import UserError
from ..comparison import NOT_COMPARABLE
from ..gate import BETTER, FAILING, gate
from ..results import validate_results
from ..results_schema import HISTORY_SCHEMA, validate_json
from ..signature import Signature
from ..stats import mean_std
from .knobs import knobs_context
from .plots import build_plots
from .summary import summary_sentence
from .tables import fmt_mean_std, fmt_number, leaderboard_csv, metric_info
from .views import dataset_views

_TEMPLATES = Path(__file__).with_name("templates")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_DIFF_CLASS = {**dict.fromkeys(FAILING, "failing"), BETTER: "better", NOT_COMPARABLE: "incomparable"}


def validate_history(history, what: str = "history_series") -> None:
    """Raise UserError naming the first bad field of the report's history input."""
    validate_json(history, HISTORY_SCHEMA, what)


def _csp_source(script) -> Markup:
    """The CSP source that allows exactly this inline script and no other."""
    digest = hashlib.sha256(str(script).encode("utf-8")).digest()
    return Markup("'sha256-" + base64.b64encode(digest).decode("ascii") + "'")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["csp_source"] = _csp_source
    return env


def _sort_key(value) -> str:
    """A number as JavaScript's parseFloat reads it; blank (sorted last) for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _cell(value) -> dict:
    if value is None:
        return {"text": "", "sort": "", "best": False, "title": ""}
    return {"text": value.text, "sort": _sort_key(value.mean), "best": value.best, "title": value.title}


def _table(view, names) -> dict:
    return {"columns": [view.columns[n] for n in names],
            "rows": [{"model": r.model, "calibration": r.calibration, "n_seeds": r.n_seeds,
                      "values": [_cell(r.values.get(n)) for n in names]} for r in view.rows]}


def _leaderboards(results) -> list[dict]:
    """Per dataset: its summary sentence, its headline table, and the other columns by family."""
    boards = []
    for view in dataset_views(results):
        boards.append({"dataset": view.dataset, "kind": view.kind, "summary": summary_sentence(view),
                       "headline": _table(view, view.headline),
                       "families": [{"name": f, **_table(view, names)} for f, names in view.families.items()],
                       "n_details": sum(len(names) for names in view.families.values())})
    return boards


def _png_data_uri(run_dir: Path, rel: str, where: str) -> str | None:
    """The PNG at `rel` (relative to the run folder) as a data URI; None when it is missing."""
    path = (run_dir / rel).resolve()
    if not path.is_relative_to(run_dir.resolve()):
        raise UserError(f"results.json: {where} {rel!r} points outside the run folder {run_dir}")
    if not path.is_file():
        return None
    data = path.read_bytes()
    if not data.startswith(_PNG_MAGIC):
        raise UserError(f"results.json: {where} {rel!r} is not a PNG file")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _tile_title(tile: dict) -> str:
    """A tile's tooltip: the oracle's verdict and reason, the factors it read, the RMS, the request."""
    parts = [tile["verdict"] + (f": {tile['reason']}" if tile.get("reason") else "")]
    if tile.get("read"):
        parts.append(f"read: {tile['read']}")
    if tile.get("requested"):
        parts.append(f"requested: {tile['requested']}")
    if tile.get("rms") is not None:
        parts.append(f"RMS {tile['rms']:g}")
    return " · ".join(parts)


def _tiles(grid: dict) -> list[dict]:
    """Each tile's box over the grid image, in % of the image (make_grid_png: 1 px gaps after
    each tile), so the frames follow the image at any displayed size."""
    h, w = grid["tile"]
    width, height = grid["cols"] * (w + 1), grid["rows"] * (h + 1)
    return [{"verdict": t["verdict"], "title": t.get("title") or _tile_title(t),
             "style": f"left:{100 * t['col'] * (w + 1) / width:.4f}%;top:{100 * t['row'] * (h + 1) / height:.4f}%;"
                      f"width:{100 * w / width:.4f}%;height:{100 * h / height:.4f}%"}
            for t in grid["tiles"]]


def _offenders(run_dir: Path, cell: dict, i: int) -> dict | None:
    """The cell's worst offenders (per_sample.py) as an image with a tooltip per thumbnail and a
    caption per row; None when the cell has none to show."""
    found = cell.get("offenders")
    if not found or not cell.get("offenders_png"):
        return None
    tiles, captions = [], []
    for r, row in enumerate(found["rows"]):
        if row == "oracle":
            o = found["oracle"]
            reasons = _verdict_counts(s["reason"] or s["verdict"] for s in o["samples"])
            captions.append(f"rejected by the oracle: {o['n_rejected']} of {o['n']} samples; shown: "
                            + ", ".join(f"{n} {why}" for why, n in reasons.items()))
            tiles += [{"row": r, "col": c, "verdict": s["verdict"], "reason": s["reason"], "read": s.get("read")}
                      for c, s in enumerate(o["samples"])]
        else:
            m = found["memorization"]
            if row == "nearest":
                captions.append(f"the samples nearest a training image (pixel distance; {m['n_memorized']} of "
                                f"{m['n_scored']} scored are memorized) ...")
            else:
                captions.append("... above those training images")
            tiles += [{"row": r, "col": c, "verdict": "memorized" if s["memorized"] else "",
                       "title": (f"sample {s['sample']}" if row == "nearest" else f"training image {s['train_index']}")
                       + f" · distance {s['distance']:g}" + (" · memorized" if s["memorized"] else "")}
                      for c, s in enumerate(m["samples"])]
    grid = {"rows": len(found["rows"]), "cols": found["cols"], "tile": found["tile"], "tiles": tiles}
    return {"src": _png_data_uri(run_dir, cell["offenders_png"], f"cells[{i}].offenders_png"), "tiles": _tiles(grid),
            "captions": captions, "csv": cell.get("per_sample_csv")}


def _verdict_counts(verdicts) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v] = counts.get(v, 0) + 1
    return counts


def _sample_grids(run_dir: Path, results) -> list[dict]:
    """Per dataset, one grid per model: the lowest seed's sample PNG with the oracle's reading of
    each tile, or its first sentences with the oracle's verdict on each; models before calibration rows."""
    first: dict[tuple, tuple[int, dict]] = {}
    for i, cell in enumerate(results["cells"]):
        if not cell.get("samples_png") and not cell.get("sample_text"):
            continue
        key = (cell["model"], cell["dataset"])
        if key not in first or cell["seed"] < first[key][1]["seed"]:
            first[key] = (i, cell)
    datasets: dict[str, list] = {}
    for (model, dataset), (i, cell) in sorted(first.items(), key=lambda kv: kv[1][1]["calibration"]):
        notes = [f"seed {cell['seed']}"]
        if cell.get("conditional"):
            asked = any(t.get("requested") for t in (cell.get("sample_grid") or {}).get("tiles", []))
            notes.append("each line's request in its note" if cell["kind"] == "text" else
                         "requests in label order, hover a sample for its request" if asked else
                         "one row per requested class")
        grid = {"model": model, "dataset": dataset, "calibration": cell["calibration"], "notes": ", ".join(notes)}
        if cell.get("sample_text"):
            readings = cell.get("sample_text_readings") or [{}] * len(cell["sample_text"])
            grid["text"] = [{"line": line, "verdict": r.get("verdict", ""),
                             "why": "; ".join(x for x in (r.get("reason"), r.get("requested") and
                                                          f"requested: {r['requested']}") if x)}
                            for line, r in zip(cell["sample_text"], readings)]
            grid["counts"] = _verdict_counts(r["verdict"] for r in grid["text"] if r["verdict"])
        else:
            grid.update(path=cell["samples_png"],
                        src=_png_data_uri(run_dir, cell["samples_png"], f"cells[{i}].samples_png"),
                        tiles=_tiles(cell["sample_grid"]) if cell.get("sample_grid") else [],
                        offenders=_offenders(run_dir, cell, i))
            grid["counts"] = _verdict_counts(t["verdict"] for t in grid["tiles"])
        datasets.setdefault(dataset, []).append(grid)
    return [{"dataset": d, "grids": g} for d, g in datasets.items()]


def _signatures(results, info) -> list[dict]:
    """Per metric: direction, description, and each distinct signature (seed left out)."""
    seen: dict[str, dict[str, dict]] = {}
    for cell in results["cells"]:
        for name, score in cell["metrics"].items():
            sig = str(Signature.parse(score["signature"]).without_seed())
            entry = seen.setdefault(name, {}).setdefault(sig, {"datasets": {}, "cells": 0})
            entry["datasets"][cell["dataset"]] = None
            entry["cells"] += 1
    for row in results["leaderboard"]:  # a leaderboard may name metrics no cell carries
        for name, stat in row["metrics"].items():
            if name not in seen:
                sig = str(Signature.parse(stat["signature"]).without_seed())
                seen[name] = {sig: {"datasets": {row["dataset"]: None}, "cells": 0}}
    return [{"name": name, **info[name],
             "signatures": [{"fields": sig.split("|"), "datasets": ", ".join(e["datasets"]),
                             "cells": e["cells"]} for sig, e in sigs.items()]}
            for name, sigs in seen.items()]


def _fmt_value(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return fmt_number(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _record_table(records) -> dict | None:
    """A list of dicts as a table: columns are the union of keys in first-seen order."""
    if not records:
        return None
    columns = list(dict.fromkeys(k for r in records for k in r))
    return {"columns": [{"name": c, "numeric": all(_is_number(r[c]) for r in records
                                                   if r.get(c) is not None)} for c in columns],
            "rows": [[{"text": _fmt_value(r.get(c)),
                       "sort": _sort_key(r.get(c)) if _is_number(r.get(c)) else _fmt_value(r.get(c))}
                      for c in columns] for r in records]}


def _diff(results, baseline) -> dict | None:
    """The gate's verdict on every row against the baseline: the same rule, defaults and rows as
    `aigc-eval gate --baseline` (failing rows first)."""
    if baseline is None:
        return None
    judged = gate(results, baseline)
    rows = []
    for r in judged.rows:
        delta = r.delta
        ci = "" if r.interval is None else f"[{fmt_number(r.interval[0])}, {fmt_number(r.interval[1])}]"
        rows.append({"model": r.model, "dataset": r.dataset, "metric": r.metric,
                     "baseline": fmt_mean_std(_stat(r.baseline)) if r.baseline else "",
                     "current": fmt_mean_std(_stat(r.current)) if r.current else "",
                     "change": "" if delta is None else fmt_number(delta), "change_sort": _sort_key(delta),
                     "interval": ci, "verdict": r.verdict, "css": _DIFF_CLASS.get(r.verdict, ""),
                     "note": r.note, "rule": r.rule})
    return {"baseline_run": baseline["run_id"], "passed": judged.passed, "counts": judged.counts(),
            "confidence": f"{judged.confidence:.0%}", "rows": rows}


def _stat(values) -> dict:
    """mean, std and values of per-seed values, as fmt_mean_std reads them."""
    mean, std = mean_std(values)
    return {"mean": mean, "std": std, "values": list(values)}


def _metadata(results) -> dict:
    suite = results["suite"]
    return {
        "run": {"run id": results["run_id"], "created": results["created"],
                "suite": suite["name"], "suite file": suite.get("path"),
                "suite config hash": suite.get("config_hash"),
                "git commit": results.get("git_commit")},
        "versions": results["versions"],
        "machine": results["machine"],
        "runtime": results["runtime"],
        "phases": results["phases"],
        "phases_total": sum(results["phases"].values()),
        "extractors": results["extractors"],
    }


def _time_to_quality_table(rows: list[dict]) -> list[dict]:
    """One row per (dataset, model): steps and seconds to the target, per seed."""
    table: dict[tuple, dict] = {}
    for row in rows:
        entry = table.setdefault((row["dataset"], row["model"]), {
            "dataset": row["dataset"], "model": row["model"], "target": f"{row['metric']} <= {row['target']:g}",
            "steps to target": [], "seconds to target": [], "last value": []})
        reached = row["steps_to_target"] is not None
        entry["steps to target"].append(str(row["steps_to_target"]) if reached else "not reached")
        entry["seconds to target"].append(f"{row['seconds_to_target']:.0f}" if reached else "-")
        entry["last value"].append(f"{row['curve'][-1]['value']:.3g}")
    return [{k: ", ".join(v) if isinstance(v, list) else v for k, v in e.items()} for e in table.values()]


def _human_preference_table(sections: list[dict]) -> list[dict]:
    """One row per (dataset, model) of the people's votes, strongest first."""
    rows = []
    for s in sections:
        agreement = (s.get("agreement") or {}).get("share")
        for m in sorted(s["models"], key=lambda m: -m["strength"]):
            rows.append({"dataset": s["dataset"], "question": s["question"], "model": m["model"],
                         "strength": m["strength"], "95% interval": m["ci"],
                         "wins / losses / ties": f"{m['wins']} / {m['losses']} / {m['ties']}",
                         "votes": s["n_votes"], "raters": s["n_raters"], "rater agreement": agreement})
    return rows


def render_html(run_dir, results, history_series=None, baseline=None) -> str:
    """The report page as a string; reads only the sample PNGs under `run_dir`."""
    run_dir = Path(run_dir)
    info = metric_info(results)
    failed = [c for c in results["cells"] if c["status"] != "done"]
    context = {
        "run_id": results["run_id"],
        "boards": _leaderboards(results),
        "failed": failed,
        "not_applicable": [{"model": c["model"], "dataset": c["dataset"], "seed": c["seed"], "metric": m, "reason": why}
                           for c in results["cells"] for m, why in (c.get("not_applicable") or {}).items()],
        "samples": _sample_grids(run_dir, results),
        "plots": build_plots(results, history_series),
        "knobs": knobs_context(run_dir, results, _png_data_uri),
        "diff": _diff(results, baseline),
        "validity": _record_table(results.get("validity")),
        "human_preference": _record_table(_human_preference_table(results.get("human_preference", []))),
        "performance": _record_table(results.get("performance")),
        "time_to_quality": _record_table(_time_to_quality_table(results.get("time_to_quality", []))),
        "signatures": _signatures(results, info),
        "meta": _metadata(results),
        "fmt": _fmt_value,
    }
    return _environment().get_template("report.html.j2").render(**context)


def write_report(run_dir, results, history_series=None, baseline=None) -> dict[str, Path]:
    """Validate, render, then write `leaderboard.csv` and `leaderboard.html` into `run_dir`.

    Both files are rendered in memory first and each is written atomically, so an error leaves
    the previous files (or none) in place, never a partial one.
    """
    run_dir = Path(run_dir)
    validate_results(results)
    if baseline is not None:
        validate_results(baseline, "baseline results")
    if history_series is not None:
        validate_history(history_series)
    csv_text = leaderboard_csv(results)
    html_text = render_html(run_dir, results, history_series, baseline)
    paths = {"csv": run_dir / "leaderboard.csv", "html": run_dir / "leaderboard.html"}
    atomic.write_text(paths["csv"], csv_text)
    atomic.write_text(paths["html"], html_text)
    return paths
