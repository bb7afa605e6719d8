"""Fault injection: a real run SIGKILLed at random instants, a full disk, a read-only folder.

Each kill: a fresh --out, `aigc-eval run` of a tiny suite (two trained models and a calibration row,
checkpoints every 2 steps) in a forked process, SIGKILL at a seeded random instant within ~1.1x an
uninterrupted run's time, then a rerun to completion. Checked every time: after the kill no
incomplete run is in the history or behind `latest`; after the rerun the results' metric values
are bit-identical to an uninterrupted run's, no staging folder is left, and nothing outside --out
was touched. AIGC_EVAL_SOAK_KILLS=N runs N kills instead of the default 20.
"""
from __future__ import annotations

import errno
import json
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

from aigc_eval import cli

KILLS = int(os.environ.get("AIGC_EVAL_SOAK_KILLS", "20"))
SUITE = """
name = "faults"
seeds = [0]
[train]
steps = 6
batch_size = 8
checkpoint_every = 2
[eval]
n_samples = 40
image_metrics = ["fd", "kid", "prc"]
checkpoint_metrics = []
[[datasets]]
name = "digits"
models = ["dcgan", "vae"]
calibration = ["noise"]
"""
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _run_forked(argv: list[str]) -> int:
    """`aigc-eval ARGV` in a forked child (the parent's imports and dataset contexts are inherited,
    so a run takes seconds); returns its pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            code = cli.main(argv)
        except BaseException:
            code = 99
        os._exit(code)
    return pid


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _complete(run_dir: Path) -> bool:
    try:
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        return False
    return (results.get("run_id") == run_dir.name and (run_dir / "leaderboard.html").is_file()
            and (run_dir / "leaderboard.csv").is_file())


def _visible_problems(out: Path) -> list[str]:
    """Incomplete runs that the history lists or `latest` points at."""
    from aigc_eval.history import list_runs

    problems = []
    if (out / "history.sqlite").is_file():
        for run in list_runs(out / "history.sqlite", limit=1000):
            if not _complete(out / run["run_id"]):
                problems.append(f"history lists incomplete run {run['run_id']}")
    if (out / "latest").is_symlink() and not _complete(out / os.readlink(out / "latest")):
        problems.append(f"latest points at incomplete run {os.readlink(out / 'latest')}")
    for run_dir in out.iterdir():
        if not run_dir.name.startswith(".") and run_dir.is_dir() and run_dir.name not in ("cells", "latest") \
                and not _complete(run_dir):
            problems.append(f"visible incomplete run folder {run_dir.name}")
    return problems


def _metric_values(results: dict) -> dict:
    return {(c["model"], c["dataset"], c["seed"], name): m["value"]
            for c in results["cells"] for name, m in c["metrics"].items()}


def _snapshot(root: Path, skip: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")
            if skip not in p.parents and p != skip}


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """The digits context and extractor built in this process, so that forked runs inherit them."""
    from aigc_eval.harness.tracks import get_context

    get_context("digits", {}, None, "cpu", log=lambda m: None)
    root = tmp_path_factory.mktemp("faults")
    suite = root / "suite.toml"
    suite.write_text(SUITE)
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "keep.txt").write_text("must not change")
    return root, suite


def _argv(suite: Path, out: Path) -> list[str]:
    return ["run", "--suite", str(suite), "--out", str(out), "--no-progress", "--workers", "1", "--device", "cpu",
            "--threads", "1"]


def test_sigkill_at_random_instants_loses_nothing_and_shows_nothing_incomplete(warm):
    root, suite = warm
    runs = root / "runs"
    runs.mkdir()
    t0 = time.perf_counter()
    assert _wait(_run_forked(_argv(suite, runs / "reference"))) == 0
    full_s = time.perf_counter() - t0
    reference = _metric_values(json.loads((runs / "reference" / "latest" / "results.json").read_text()))
    assert len(reference) >= 3 * 5
    before = _snapshot(root, runs)
    rng = random.Random(13)
    survived, phases = 0, {}
    for i in range(KILLS):
        out = runs / f"kill{i}"
        at = rng.uniform(0.0, 1.1 * full_s)
        pid = _run_forked(_argv(suite, out))
        time.sleep(at)
        os.kill(pid, signal.SIGKILL)
        code = _wait(pid)
        phase = ("finished" if code == 0 else
                 "staging" if out.is_dir() and any(p.name.startswith(".incomplete-") for p in out.iterdir()) else
                 "cells" if (out / "cells").is_dir() else "set-up")
        phases[phase] = phases.get(phase, 0) + 1
        assert _visible_problems(out) == [] if out.is_dir() else True, f"kill {i} at {at:.2f} s"
        assert _wait(_run_forked(_argv(suite, out))) == 0, f"rerun after kill {i}"
        assert _visible_problems(out) == []
        assert not [p for p in out.iterdir() if p.name.startswith(".incomplete-")], "orphan left after rerun"
        again = _metric_values(json.loads((out / "latest" / "results.json").read_text()))
        assert again == reference, f"kill {i} at {at:.2f} s changed the numbers"
        assert _snapshot(root, runs) == before, "a file outside --out changed"
        survived += 1
    print(f"\n{survived}/{KILLS} kills survived (uninterrupted run {full_s:.1f} s; killed during: {phases}); "
          "0 results lost, 0 incomplete runs listed")
    assert survived == KILLS


def _finished_run(suite: Path, out: Path, capsys) -> tuple[str, bytes, int]:
    from aigc_eval.history import list_runs

    assert cli.main(_argv(suite, out)) == 0
    capsys.readouterr()
    latest = os.readlink(out / "latest")
    return latest, (out / latest / "results.json").read_bytes(), len(list_runs(out / "history.sqlite"))


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS])
def test_full_disk_or_read_only_filesystem_is_one_line_and_keeps_earlier_results(warm, tmp_path, capsys,
                                                                                  monkeypatch, err):
    """An injected ENOSPC (EROFS) on every atomic write of the new run's folder."""
    import aigc_eval.atomic as atomic
    from aigc_eval.history import list_runs

    _, suite = warm
    out = tmp_path / "out"
    latest, results_bytes, n_runs = _finished_run(suite, out, capsys)
    real_save_with = atomic.save_with

    def failing_save_with(path, saver):
        if ".incomplete-" in str(path):
            raise OSError(err, os.strerror(err), str(path))
        return real_save_with(path, saver)

    monkeypatch.setattr(atomic, "save_with", failing_save_with)
    code = cli.main(_argv(suite, out))
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("aigc-eval: error:")]
    assert code == 2 and "Traceback" not in stderr
    assert errors == [f"aigc-eval: error: --out {out}: cannot write the run ({os.strerror(err)}); "
                      "earlier runs there are intact"]
    assert os.readlink(out / "latest") == latest
    assert (out / latest / "results.json").read_bytes() == results_bytes
    assert len(list_runs(out / "history.sqlite")) == n_runs
    assert not [p for p in out.iterdir() if p.name.startswith(".incomplete-")]


def test_a_killed_score_leaves_no_half_written_run(tmp_path):
    """Issue 13, item 5: `score` used to write results.json and its history row seconds before the
    HTML and `latest`; a kill in between left a run that history counted as done."""
    (tmp_path / "g.txt").write_text("the cat sat on the mat\nthe dog ran in the park\na bird flew over\n")
    out = tmp_path / "out"
    argv = ["score", "--generated", str(tmp_path / "g.txt"), "--reference", str(tmp_path / "g.txt"),
            "--out", str(out)]
    t0 = time.perf_counter()
    assert _wait(_run_forked(argv)) == 0
    full_s = time.perf_counter() - t0
    rng = random.Random(5)
    for _ in range(5):
        pid = _run_forked(argv)
        time.sleep(rng.uniform(0.3, 1.0) * full_s)
        os.kill(pid, signal.SIGKILL)
        _wait(pid)
        assert _visible_problems(out) == []
    assert sys.platform != "win32"
