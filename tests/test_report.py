"""The report: CSV numbers, HTML sections, escaping, atomic writes, schema validation."""
from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from aigc_eval import atomic
from aigc_eval.errors import UserError
from aigc_eval.cli import main
from aigc_eval.gate import FAILING, OK, REGRESSION, gate
from aigc_eval.report import leaderboard_excerpt, render_html, validate_history, validate_results, write_report
from aigc_eval.report.plots import pareto_front
from aigc_eval.report.tables import fmt_mean_std
from aigc_eval.results import CellResult, RunResults, leaderboard_rows
from aigc_eval.results_schema import RESULTS_SCHEMA, schema_json
from aigc_eval.signature import Score, Signature
from report_fixtures import (HOSTILE_NAME, build_baseline, build_history, report_source,  # noqa: F401
                             with_hostile_model)

REPO = Path(__file__).resolve().parents[1]


class Page(HTMLParser):
    """Element ids, <img> sources, <script> bodies and the rows of every table, by table key."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.images, self.scripts, self.tables, self.meta = set(), [], [], {}, {}
        self._table = self._row = self._cell = self._script = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs)
        elif tag == "meta" and "http-equiv" in attrs:
            self.meta[attrs["http-equiv"]] = attrs["content"]
        elif tag == "script":
            self._script = []
        elif tag == "table":
            self._table = self.tables.setdefault(attrs.get("data-table") or attrs.get("data-kind"), [])
        elif tag == "tr" and self._table is not None:
            self._row = {"attrs": attrs, "cells": []}
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = {"tag": tag, "attrs": attrs, "text": ""}
            self._row["cells"].append(self._cell)

    def handle_endtag(self, tag):
        if tag == "script":
            self.scripts.append("".join(self._script))
            self._script = None
        elif tag == "table":
            self._table = None
        elif tag == "tr":
            self._row = None
        elif tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if self._script is not None:
            self._script.append(data)
        if self._cell is not None:
            self._cell["text"] += data


@pytest.fixture(scope="module")
def report(report_source, tmp_path_factory):
    """The full report (history, baseline, a hostile model name) written by write_report."""
    run_dir, results = report_source
    out_dir = tmp_path_factory.mktemp("report")
    for cell in results["cells"]:  # the report reads sample PNGs relative to its folder
        if cell.get("samples_png"):
            target = out_dir / cell["samples_png"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((run_dir / cell["samples_png"]).read_bytes())
    hostile = with_hostile_model(results)
    paths = write_report(out_dir, hostile, history_series=build_history(results),
                         baseline=build_baseline(results))
    html = paths["html"].read_text(encoding="utf-8")
    return {"dir": out_dir, "results": hostile, "paths": paths, "html": html, "page": Page(html)}


def _lite(results):
    """A copy without curves: tests that are not about training plots render faster."""
    lite = copy.deepcopy(results)
    for cell in lite["cells"]:
        for key in ("curves", "checkpoint_metrics", "qd_curve"):
            cell.pop(key, None)
    return lite


def _body_rows(table):
    return [r for r in table if r["cells"] and r["cells"][0]["tag"] == "td"]


def test_csv_has_one_row_per_model_and_dataset_with_mean_and_std_over_seeds(report):
    results = report["results"]
    frame = pd.read_csv(report["paths"]["csv"])
    done = {}
    for cell in results["cells"]:
        if cell["status"] == "done":
            done.setdefault((cell["model"], cell["dataset"]), []).append(cell)
    assert sorted(zip(frame["model"], frame["dataset"])) == sorted(done)
    checked = 0
    for _, row in frame.iterrows():
        cells = done[(row["model"], row["dataset"])]
        assert row["n_seeds"] == len(cells)
        for name in cells[0]["metrics"]:
            values = [c["metrics"][name]["value"] for c in cells]
            std = np.std(values, ddof=1) if len(values) > 1 else 0.0
            assert row[f"{name}.mean"] == pytest.approx(np.mean(values), rel=1e-12)
            assert row[f"{name}.std"] == pytest.approx(std, rel=1e-12, abs=1e-15)
            checked += 1
        # metrics of other datasets are empty, not zero
        other = [c for c in frame.columns if c.endswith(".mean")
                 and c[:-len(".mean")] not in cells[0]["metrics"]]
        assert row[other].isna().all()
    assert checked > 20


def test_html_has_every_section_whose_data_exists(report):
    page = report["page"]
    for section in ("leaderboard", "failed", "samples", "plots", "training", "quality-diversity",
                    "cost", "hallucination", "diff", "history", "validity", "performance",
                    "signatures", "metadata", "board-digits", "board-captions", "board-facts"):
        assert section in page.ids, section
    assert {"plot-curves-digits", "plot-curves-captions", "plot-checkpoints-digits",
            "plot-qd-captions", "plot-cost-digits-fd_digits-cnn",
            "plot-hallucination-facts-hallucination_rate", "plot-history"} <= page.ids
    # validity and performance: one row per record, one column per key
    for key in ("validity", "performance"):
        records = report["results"][key]
        rows = page.tables[key]
        assert [c["text"] for c in rows[0]["cells"]] == list(records[0])
        assert len(_body_rows(rows)) == len(records)
    extractor = report["results"]["extractors"]["digits"]
    assert [c["text"] for c in _body_rows(page.tables["extractors"])[0]["cells"]] == [
        "digits", extractor["tag"], extractor["metric_name"], f"{extractor['test_accuracy']:g}"]
    assert len(_body_rows(page.tables["failed"])) == sum(
        c["status"] != "done" for c in report["results"]["cells"])


def test_sample_grids_are_embedded_byte_for_byte(report):
    results, page = report["results"], report["page"]
    pngs = [img for img in page.images if img["alt"].startswith("samples of")]
    expected = {}
    for cell in sorted(results["cells"], key=lambda c: -c["seed"]):  # lowest seed wins
        if cell.get("samples_png"):
            expected[(cell["model"], cell["dataset"])] = cell["samples_png"]
    assert len(pngs) == len(expected)
    on_disk = {(report["dir"] / rel).read_bytes() for rel in expected.values()}
    embedded = {base64.b64decode(img["src"].split(",", 1)[1]) for img in pngs}
    assert embedded == on_disk
    assert "one row per requested class" in report["html"]  # the conditional model's caption


def test_plots_are_palette_pngs(report):
    plots = [img for img in report["page"].images if not img["alt"].startswith("samples of")]
    assert len(plots) == 7
    for img in plots:
        assert img["src"].startswith("data:image/png;base64,")
        png = Image.open(io.BytesIO(base64.b64decode(img["src"].split(",", 1)[1])))
        assert png.mode == "P" and png.width >= 400  # 8-bit palette, at a readable size


def test_sections_without_data_are_left_out(report_source):
    run_dir, results = report_source
    bare = _lite(results)
    del bare["validity"], bare["performance"]
    for cell in bare["cells"]:
        cell.pop("samples_png", None)
    bare["cells"] = [c for c in bare["cells"] if c["status"] == "done"]
    page = Page(render_html(run_dir, bare))
    assert {"leaderboard", "signatures", "metadata", "plots", "cost", "hallucination"} <= page.ids
    for absent in ("failed", "samples", "training", "quality-diversity", "diff", "history",
                   "validity", "performance"):
        assert absent not in page.ids, absent


def _boards(tables, dataset):
    """(header names, body rows) of each leaderboard table of a dataset: headline and families."""
    for key, table in tables.items():
        if key and (key == f"board-{dataset}" or key.startswith(f"board-{dataset}-")):
            yield [c["text"].rsplit(" ", 1)[0] for c in table[0]["cells"]], _body_rows(table)


def _expected_best(rows, name):
    """Models that should carry the best mark, recomputed from the leaderboard: models only, two or
    more of them not all tied, never a spread (*_std), never a lower-is-better column that reads
    below zero."""
    have = [r for r in rows if name in r["metrics"]]
    ranked = [r for r in have if not r["calibration"]]
    higher = have[0]["metrics"][name]["higher_is_better"]
    if len(ranked) < 2 or name.endswith("_std") or (
            not higher and any(r["metrics"][name]["mean"] < 0 for r in have)):
        return set()
    best = (max if higher else min)(r["metrics"][name]["mean"] for r in ranked)
    marked = {r["model"] for r in ranked if r["metrics"][name]["mean"] == best}
    return set() if len(marked) == len(ranked) else marked  # a tie of every model ranks nothing


def test_leaderboard_has_a_table_per_dataset_and_marks_best_only_among_models(report):
    results, tables = report["results"], report["page"].tables
    checked = 0
    for dataset in dict.fromkeys(r["dataset"] for r in results["leaderboard"]):
        lb = [r for r in results["leaderboard"] if r["dataset"] == dataset]
        seen = set()
        for header, rows in _boards(tables, dataset):
            assert {r["attrs"]["data-model"] for r in rows} == {r["model"] for r in lb}
            by_model = {r["attrs"]["data-model"]: r for r in rows}
            for row in lb:
                html_row = by_model[row["model"]]
                assert ("calibration" in html_row["attrs"].get("class", "")) == row["calibration"]
                assert ("calibration" in html_row["cells"][0]["text"]) == row["calibration"]
            for col, name in enumerate(header[2:], start=2):
                seen.add(name)
                marked = {m for m, r in by_model.items() if "best" in r["cells"][col]["attrs"].get("class", "")}
                if name in ("train_images_per_s", "peak_memory_mb"):
                    continue
                assert marked == _expected_best(lb, name), (dataset, name)
                checked += 1
        assert {n for r in lb for n in r["metrics"]} <= seen  # every metric is in some table
    assert checked >= 9


def test_kid_best_is_never_marked_where_a_row_reads_negative(report_source):
    run_dir, results = report_source
    odd = _lite(results)
    for row in odd["leaderboard"]:
        if row["dataset"] == "digits" and row["model"] == "real-test":
            row["metrics"]["kid_digits-cnn"]["mean"] = -0.002
    page = Page(render_html(run_dir, odd))
    header, rows = next((h, r) for h, r in _boards(page.tables, "digits") if "kid_digits-cnn" in h)
    col = header.index("kid_digits-cnn")
    assert not any("best" in r["cells"][col]["attrs"].get("class", "") for r in rows)


def test_values_show_mean_and_std_over_seeds():
    two_seeds = {"mean": 11.806016, "std": 0.3172, "values": [11.58, 12.03]}
    assert fmt_mean_std(two_seeds) == "11.81 ± 0.32"
    assert fmt_mean_std({"mean": 0.010965, "std": 0.001132, "values": [1, 2]}) == "0.0110 ± 0.0011"
    assert fmt_mean_std({"mean": 299.2, "std": 12.3, "values": [1, 2]}) == "299 ± 12"
    assert fmt_mean_std({"mean": 14.68, "std": 0.0, "values": [14.68]}) == "14.68"
    # a spread below the display precision of the mean shows as "± 0", never as a raw float
    assert fmt_mean_std({"mean": 19.78, "std": 3.216e-13, "values": [1, 2]}) == "19.78 ± 0"
    assert fmt_mean_std({"mean": 1.0, "std": 0.0, "values": [1, 1]}) == "1 ± 0"
    assert fmt_mean_std({"mean": 0.41428, "std": 0.04321, "values": [1, 2]}) == "0.414 ± 0.043"
    assert fmt_mean_std({"mean": 0.94, "std": 0.0099999, "values": [1, 2]}) == "0.940 ± 0.010"


def test_user_strings_are_escaped_and_only_the_report_script_exists(report):
    html, page = report["html"], report["page"]
    assert HOSTILE_NAME not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script") == 1 and len(page.scripts) == 1
    # The Content-Security-Policy allows exactly the inline script the page carries.
    digest = base64.b64encode(hashlib.sha256(page.scripts[0].encode()).digest()).decode()
    csp = page.meta["Content-Security-Policy"]
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp


def test_names_with_mathtext_and_pipes_render(report_source, tmp_path):
    run_dir, results = report_source
    odd = _lite(results)
    for cell in odd["cells"] + odd["leaderboard"]:
        if cell["model"] == "dcgan":
            cell["model"] = r"dc|gan $\frac{x"
    page = Page(render_html(run_dir, odd))
    assert r"dc|gan $\frac{x" in {r["attrs"].get("data-model") for r in page.tables["board-digits"]}
    excerpt = leaderboard_excerpt(odd)
    line = next(ln for ln in excerpt.splitlines() if "frac" in ln)
    assert line.count(" | ") == excerpt.splitlines()[2].count(" | ")  # pipe escaped: no extra column


def test_excerpt_has_a_table_per_dataset_and_marks_calibration(report_source):
    _, results = report_source
    excerpt = leaderboard_excerpt(results)
    for dataset in {r["dataset"] for r in results["leaderboard"]}:
        assert re.search(rf"^{dataset} \((image|text)\):$", excerpt, re.M)
    rows = [ln for ln in excerpt.splitlines() if ln.startswith("| ") and "---" not in ln
            and not ln.startswith("| model")]
    assert len(rows) == len(results["leaderboard"])
    dcgan = next(r for r in results["leaderboard"] if r["model"] == "dcgan")
    assert fmt_mean_std(dcgan["metrics"]["fd_digits-cnn"]) in excerpt
    assert "| real-test (calibration) |" in excerpt


def _diff_verdicts(page) -> dict:
    """{(model, dataset, metric): verdict} of the report's diff table, in its order."""
    return {(r["cells"][0]["text"], r["cells"][1]["text"], r["cells"][2]["text"]): r["attrs"]["data-status"]
            for r in _body_rows(page.tables["diff"])}


def test_html_diff_rows_carry_the_gates_verdicts(report, report_source):
    _, results = report_source
    verdicts = _diff_verdicts(report["page"])
    judged = gate(report["results"], build_baseline(results))
    assert verdicts == {(r.model, r.dataset, r.metric): r.verdict for r in judged.rows}
    assert verdicts[(HOSTILE_NAME, "digits", "fd_digits-cnn")] == "new"
    assert verdicts[("dcgan", "digits", "fd_digits-cnn")] == REGRESSION
    order = list(verdicts.values())
    assert order[0] in FAILING and sorted(order, key=lambda v: v not in FAILING) == order  # failing rows first
    rows = _body_rows(report["page"].tables["diff"])
    assert {r["attrs"]["class"] for r in rows if r["attrs"]["data-status"] in FAILING} == {"failing"}


def _run_of(run_id: str, values: dict) -> dict:
    """A complete results dict: {(model, metric): (per-seed values, higher_is_better)} on digits, seeds 0.."""
    cells = []
    for (model, metric), (per_seed, hib) in values.items():
        for seed, value in enumerate(per_seed):
            cell = CellResult(model, "digits", seed, "image")
            cell.set_scores([Score(metric, value, Signature(metric, {"n_gen": 100, "seed": seed}), hib)])
            cells.append(cell)
    return RunResults(run_id, cells, created="2026-12-03T00:00:00Z", suite={"name": "pair"}, versions={},
                      machine={}, runtime={}, phases={}, extractors={}).to_json()


def test_run_baseline_and_gate_mark_the_same_rows(tmp_path, capsys):
    """One regression rule: the report of `run --baseline` shows exactly the gate's verdicts, also where a
    5% relative-change rule would disagree: 3% worse beyond noise fails, 7% worse within noise passes."""
    current = {("close", "fd"): ([100.0, 102.0, 98.0], False),  # 3% worse on every seed: beyond noise
               ("noisy", "fd"): ([100.0, 130.0, 70.0], False),  # 7% worse on average, seeds disagree
               ("steady", "precision"): ([0.5, 0.6, 0.7], True)}
    baseline = {("close", "fd"): ([97.0, 99.01, 94.99], False),
                ("noisy", "fd"): ([80.0, 140.0, 60.0], False),
                ("steady", "precision"): ([0.5, 0.6, 0.7], True)}
    cur, base = _run_of("current", current), _run_of("baseline", baseline)
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "cur.json").write_text(json.dumps(cur))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    page = Page(write_report(run_dir, cur, baseline=base)["html"].read_text(encoding="utf-8"))
    shown = _diff_verdicts(page)
    assert shown == {("close", "digits", "fd"): REGRESSION, ("noisy", "digits", "fd"): OK,
                     ("steady", "digits", "precision"): OK}
    assert shown == {(r.model, r.dataset, r.metric): r.verdict for r in gate(cur, base).rows}
    code = main(["gate", "--results", str(tmp_path / "cur.json"), "--baseline", str(tmp_path / "base.json")])
    out = capsys.readouterr().out
    assert code == 1
    assert [ln.split(" | ")[0] for ln in out.splitlines() if "**REGRESSION**" in ln] == ["| close"]


def test_pareto_front():
    # (throughput, fd): maximise x, minimise y. (1, 5) is beaten by (2, 4); (3, 9) only by nothing.
    points = [(1, 5), (2, 4), (3, 9), (0.5, 1), (2, 4)]
    assert pareto_front(points, maximize_x=True, maximize_y=False) == [1, 2, 3, 4]
    assert pareto_front(points, maximize_x=False, maximize_y=False) == [3]


def test_a_render_error_writes_nothing(report_source, tmp_path):
    run_dir, results = report_source
    escaping = copy.deepcopy(results)
    escaping["cells"][0]["samples_png"] = "../../etc/passwd"
    with pytest.raises(UserError, match=r"cells\[0\]\.samples_png .* outside the run folder"):
        write_report(tmp_path, escaping)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_mid_write_leaves_no_partial_file(report_source, tmp_path, monkeypatch):
    run_dir, results = report_source
    (tmp_path / "leaderboard.html").write_text("previous report")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", disk_full)  # after the bytes went to the temp file
    with pytest.raises(OSError, match="No space left"):
        write_report(tmp_path, _lite(results))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leaderboard.html"]
    assert (tmp_path / "leaderboard.html").read_text() == "previous report"


def test_missing_sample_grid_is_shown_as_missing(report_source, tmp_path):
    run_dir, results = report_source
    gone = _lite(results)
    cell = next(c for c in gone["cells"] if c.get("samples_png"))
    cell["samples_png"] = "samples/never-written.png"
    html = render_html(run_dir, gone)
    assert "sample grid missing: samples/never-written.png" in html


def test_schema_accepts_a_run_and_the_json_file_matches(report_source):
    from jsonschema import Draft202012Validator

    _, results = report_source
    validate_results(results)
    validate_results(json.loads(json.dumps(results)))  # as read back from results.json
    Draft202012Validator.check_schema(RESULTS_SCHEMA)
    assert (REPO / "reports" / "schema.json").read_text(encoding="utf-8") == schema_json()


def _break(results, how):
    bad = copy.deepcopy(results)
    how(bad)
    return bad


MALFORMED = {
    "no run id": (lambda r: r.pop("run_id"), r"\(top level\): 'run_id' is a required property"),
    "future schema": (lambda r: r.update(schema_version=2), r"schema_version: 1 was expected"),
    "metric value as text": (
        lambda r: r["cells"][0]["metrics"]["fd_digits-cnn"].update(value="12.3"),
        r"cells\[0\]\.metrics\.fd_digits-cnn\.value: '12.3' is not of type 'number'"),
    "unknown status": (lambda r: r["cells"][1].update(status="exploded"),
                       r"cells\[1\]\.status: 'exploded' is not one of"),
    "failed without error": (lambda r: r["cells"][1].update(status="failed", error=None),
                             r"cells\[1\]\.error: None is not of type 'string'"),
    "too many curve points": (lambda r: r["cells"][0]["curves"].update(step=list(range(201))),
                              r"cells\[0\]\.curves\.step: .* is too long"),
    "negative std": (lambda r: r["leaderboard"][0]["metrics"]["fd_digits-cnn"].update(std=-1.0),
                     r"leaderboard\[0\]\.metrics\.fd_digits-cnn\.std: -1.0 is less than"),
    "values per seed": (lambda r: r["leaderboard"][0]["metrics"]["fd_digits-cnn"]["values"].pop(),
                        r"leaderboard\[0\]\.metrics\.fd_digits-cnn\.values has 1 entries, "
                        r"expected one per seed \(2\)"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_schema_rejects_malformed_results_naming_the_field(report_source, case):
    _, results = report_source
    how, message = MALFORMED[case]
    with pytest.raises(UserError, match=message):
        validate_results(_break(results, how))


def test_write_report_validates_its_inputs(report_source, tmp_path):
    _, results = report_source
    with pytest.raises(UserError, match=r"^baseline results: leaderboard\[0\]"):
        write_report(tmp_path, results, baseline=_break(
            results, lambda r: r["leaderboard"][0].update(n_seeds=0)))
    with pytest.raises(UserError, match=r"^history_series: fd\[0\]: 'value' is a required"):
        write_report(tmp_path, results, history_series={"fd": [{"run_id": "a", "created": "b",
                                                                 "model": "m", "dataset": "d"}]})
    assert list(tmp_path.iterdir()) == []
    validate_history(build_history(results))


def test_same_results_give_the_same_page(report_source, report):
    _, results = report_source
    again = render_html(report["dir"], with_hostile_model(results),
                        history_series=build_history(results), baseline=build_baseline(results))
    assert again == report["html"]


def test_a_model_whose_every_seed_failed_still_gets_a_report(report_source, tmp_path):
    _, results = report_source
    broken = {k: v for k, v in results.items()}
    cell = {**results["cells"][0], "model": "broken", "status": "failed", "error": "RuntimeError: boom",
            "metrics": {}}
    broken["cells"] = results["cells"] + [cell]
    broken["leaderboard"] = leaderboard_rows(broken["cells"])
    validate_results(broken)
    row = next(r for r in broken["leaderboard"] if r["model"] == "broken")
    assert row["n_seeds"] == 0 and row["failed_seeds"] == [cell["seed"]]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    paths = write_report(run_dir, {**broken, "cells": [{k: v for k, v in c.items() if k != "samples_png"}
                                                      for c in broken["cells"]]})
    assert "RuntimeError: boom" in paths["html"].read_text()
