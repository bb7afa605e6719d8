"""What `run` and `score` print: the headline view at most 100 columns wide, colour only on a
terminal without NO_COLOR, and the full tables for scripts with --format."""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aigc_eval.cli import _print_summary
from aigc_eval.harness.suite import load_suite
from aigc_eval.report.terminal import WIDTH, headline_text, use_color
from aigc_eval.report.views import dataset_views
from aigc_eval.results import load_results

REPO = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _default_run():
    """The committed default-suite baseline (what `make demo` prints), with its suite's headlines."""
    results = load_results(REPO / "reports" / "baseline" / "default" / "results.json")
    results["suite"].update(load_suite("default").report_views)
    return results


def _assert_fits(text: str, paths_too: bool = True) -> None:
    """No line wider than 100 columns; `paths_too=False` leaves out the lines that name a path
    (a run under a long temporary folder; `make demo`'s are relative, reports/<run-id>/...)."""
    lines = [ln for ln in text.splitlines() if paths_too or not ln.startswith(("full report:", "results:"))]
    widest = max(len(ANSI.sub("", line)) for line in lines)
    assert widest <= WIDTH, f"{widest} columns"


@pytest.mark.parametrize("color", [False, True])
def test_default_suite_headline_view_fits_100_columns_and_shows_every_headline(color):
    results = _default_run()
    text = headline_text(results, color=color)
    _assert_fits(text)
    assert ("\x1b[" in text) == color
    plain = ANSI.sub("", text)
    for view in dataset_views(results):
        assert f"{view.dataset} ({view.kind})" in plain
        for name in view.headline:
            assert f"{name} {view.columns[name].arrow}" in plain
        for row in view.rows:
            for name in view.headline:
                if name in row.values:
                    assert row.values[name].text in plain
    # the declared headlines, not every metric: KID is behind the report's details toggle
    assert "kid" not in plain and "fd_shapes-cnn ↓" in plain and "hallucination_rate ↓" in plain


def test_best_marks_survive_without_colour():
    results = _default_run()
    text = headline_text(results, color=False)
    shapes = next(v for v in dataset_views(results) if v.dataset == "shapes")
    best = shapes.best("hallucination_rate")
    value = next(r for r in shapes.rows if r.model == best[0]).values["hallucination_rate"].text
    assert f"{value}*" in text


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(_Stream(True)) and not use_color(_Stream(False))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(_Stream(True))
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: set *and non-empty* disables colour
    assert use_color(_Stream(True))


def test_print_summary_gives_the_headline_view_then_the_report_path(smoke_run, capsys):
    run_dir, results = smoke_run
    _print_summary(run_dir, results)
    out = capsys.readouterr().out
    _assert_fits(out, paths_too=False)
    assert "\x1b[" not in out  # captured output is not a terminal
    assert out.rstrip().splitlines()[-2] == f"full report: {run_dir / 'leaderboard.html'}"
    for view in dataset_views(results):
        assert f"{view.dataset} ({view.kind})" in out


@pytest.mark.parametrize("fmt", ["csv", "json", "md"])
def test_format_prints_the_full_tables_on_stdout_and_paths_on_stderr(smoke_run, capsys, fmt):
    run_dir, results = smoke_run
    _print_summary(run_dir, results, fmt)
    captured = capsys.readouterr()
    assert "leaderboard.html" in captured.err and "leaderboard.html" not in captured.out
    every = {n for r in results["leaderboard"] for n in r["metrics"]}
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(captured.out)))
        assert len(rows) == len(results["leaderboard"])
        assert {f"{n}.mean" for n in every} <= set(rows[0])
    elif fmt == "json":
        assert json.loads(captured.out) == results["leaderboard"]
    else:
        assert all(n in captured.out for n in every)


def test_score_prints_a_narrow_view_without_ansi_when_piped(tmp_path):
    from aigc_eval.data import load_dataset

    np.savez(tmp_path / "copies.npz", samples=load_dataset("digits").train_x[:60].transpose(0, 2, 3, 1))
    proc = subprocess.run([sys.executable, "-m", "aigc_eval", "score", "--generated", str(tmp_path / "copies.npz"),
                           "--reference", "digits", "--out", "o"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stdout + proc.stderr
    _assert_fits(proc.stdout)
    assert "digits (image)" in proc.stdout and "fd_digits-cnn ↓" in proc.stdout
    assert "full report: " in proc.stdout


def test_progress_lines_wrap_to_100_columns_and_keep_paths_whole(capsys):
    from aigc_eval.cli import _log

    note = ("note: [eval] n_samples = 1000 is capped to 180: digits holds 180 held-out examples, and every "
            "row is scored on as many as that")
    _log(note)
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 2 and " ".join(err.split()) == note
    _assert_fits(err)
    path = "/tmp/" + "x" * 120 + "/checkpoint.pt"
    _log(f"warning: {path} is unreadable")
    assert capsys.readouterr().err == f"warning: {path} is unreadable\n"  # cannot fit: left whole
