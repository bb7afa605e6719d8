"""The SQLite run history: round trips, idempotence, WAL, concurrent appends, versions, commands.

Runs carry real per-seed values: pixel statistics of seeded samples of the real digits data.
"""
from __future__ import annotations

import json
import multiprocessing
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from aigc_eval.errors import UserError
from aigc_eval.gate import gate
from aigc_eval.history import (append_run, compare_command, history_command, history_series_for, list_runs,
                               load_run)
from aigc_eval.results import RunResults
from aigc_eval.signature import Score, Signature


def make_run(data, run_id, created, blur=0.0, seeds=(0, 1), n=300, failed_seed=None):
    """Two "models" (noisy copies of real digits) scored by the gap between their mean image and
    the test split's (lower is better) and their ink fraction (higher is better)."""
    scores = {}
    test_mean = data.test_x.astype(np.float64).mean(0)
    for model, noise in (("copy", 10.0 + blur), ("blurry", 60.0 + blur)):
        for seed in seeds:
            rng = np.random.default_rng(seed)
            x = data.train_x[rng.choice(len(data.train_x), n, replace=False)].astype(np.float64)
            x = np.clip(x + rng.normal(0, noise, x.shape), 0, 255)
            scores[(model, "digits", seed)] = [
                Score("mean_image_gap", float(np.abs(x.mean(0) - test_mean).mean()),
                      Signature.build("mean_image_gap", n_gen=n, seed=seed), False),
                Score("ink", float((x > 128).mean()), Signature.build("ink", n_gen=n, seed=seed), True)]
    results = RunResults.from_scores(scores, run_id=run_id).to_json()
    results.update(created=created, suite={"name": "smoke", "path": "suites/smoke.toml", "config_hash": "c0ffee"},
                   git_commit="1234567890abcdef", versions={"torch": "2.14.1"}, machine={"host": "ci", "cpu_count": 2},
                   runtime={"device": "cpu", "threads": 1, "amp": False, "channels_last": False})
    if failed_seed is not None:
        results["cells"].append({"model": "blurry", "dataset": "digits", "seed": failed_seed, "kind": "image",
                                 "calibration": False, "status": "diverged", "error": "loss is nan", "metrics": {}})
    return results


def test_append_load_round_trip_is_enough_to_gate(digits, tmp_path):
    db = tmp_path / "history.sqlite"
    results = make_run(digits, "20261128-130501-aaaaaa", "2026-11-28T13:05:01Z", failed_seed=7)
    assert append_run(db, results) is True
    loaded = load_run(db, "20261128-130501-aaaaaa")
    for key in ("run_id", "created", "suite", "git_commit", "versions", "machine", "runtime"):
        assert loaded[key] == results[key]
    original = {(r["model"], r["dataset"]): r for r in results["leaderboard"]}
    assert len(loaded["leaderboard"]) == len(original)
    for row in loaded["leaderboard"]:
        want = original[(row["model"], row["dataset"])]
        assert row["seeds"] == want["seeds"] and row["n_seeds"] == want["n_seeds"]
        for name, m in row["metrics"].items():
            for key in ("mean", "std", "values", "higher_is_better", "signature"):
                assert m[key] == want["metrics"][name][key]
    cells = {(c["model"], c["seed"]): c for c in loaded["cells"]}
    assert cells[("blurry", 7)]["status"] == "diverged" and cells[("blurry", 7)]["error"] == "loss is nan"
    assert cells[("copy", 1)]["metrics"]["ink"]["value"] == next(
        c for c in results["cells"] if (c["model"], c["seed"]) == ("copy", 1))["metrics"]["ink"]["value"]
    assert gate(loaded, results).passed and gate(results, loaded).passed


def test_appending_twice_is_idempotent(digits, tmp_path):
    db = tmp_path / "history.sqlite"
    results = make_run(digits, "r1", "2026-11-28T13:00:00Z")
    assert append_run(db, results) is True
    assert append_run(db, results) is False
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
        assert con.execute("SELECT COUNT(*) FROM cell_metrics").fetchone()[0] == 2 * 2 * 2  # models x seeds x metrics
        assert con.execute("SELECT COUNT(*) FROM leaderboard").fetchone()[0] == 2 * 2


def test_the_database_is_in_wal_mode_with_a_schema_version(digits, tmp_path):
    db = tmp_path / "history.sqlite"
    append_run(db, make_run(digits, "r1", "2026-11-28T13:00:00Z"))
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(UserError, match=r"history\.sqlite: schema version 99; this aigc-eval reads version 1"):
        list_runs(db)
    with pytest.raises(UserError, match="schema version 99"):
        append_run(db, make_run(digits, "r2", "2026-11-28T14:00:00Z"))


def test_concurrent_appends_from_two_processes_all_land_once(digits, tmp_path):
    db = tmp_path / "history.sqlite"
    runs = [make_run(digits, f"run{i:02d}", f"2026-11-28T13:{i:02d}:00Z") for i in range(24)]
    # The first eight runs are submitted twice in a row, so both workers append them at about the same moment.
    jobs = [run for i, run in enumerate(runs) for _ in range(2 if i < 8 else 1)]
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        appended = list(pool.map(append_run, [db] * len(jobs), jobs))
    assert sorted(appended) == [False] * 8 + [True] * 24
    assert sorted(r["run_id"] for r in list_runs(db, limit=100)) == [r["run_id"] for r in runs]
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM leaderboard").fetchone()[0] == 24 * 4
        assert con.execute("SELECT COUNT(*) FROM cell_metrics").fetchone()[0] == 24 * 8


def _append_on_cue(dbs, start, worker):
    """Append one run to each database at the same wall-clock instant as the other workers."""
    out = []
    for k, db in enumerate(dbs):
        time.sleep(max(0.0, start + 0.05 * k - time.time()))
        out.append(append_run(db, {"run_id": f"w{worker}", "created": "2026-11-28T13:00:00Z",
                                   "cells": [], "leaderboard": []}))
    return out


def test_processes_racing_to_create_a_fresh_history_all_succeed(tmp_path):
    # SQLite answers "locked" at once, without waiting, while another process switches a new file to
    # WAL; before the set-up was retried this failed on about one fresh file in five.
    dbs = [tmp_path / f"h{k}" / "history.sqlite" for k in range(20)]
    with ProcessPoolExecutor(max_workers=4, mp_context=multiprocessing.get_context("spawn")) as pool:
        start = time.time() + 5.0  # after the spawned interpreters have started
        appended = list(pool.map(_append_on_cue, [dbs] * 4, [start] * 4, range(4)))
    assert appended == [[True] * len(dbs)] * 4
    for db in dbs:
        assert [r["run_id"] for r in list_runs(db)] == ["w3", "w2", "w1", "w0"]


def test_list_runs_and_history_series_follow_creation_time(digits, tmp_path):
    db = tmp_path / "history.sqlite"
    runs = [make_run(digits, f"r{i}", f"2026-11-2{i}T12:00:00Z", blur=5.0 * i) for i in (3, 1, 2)]
    for r in runs:
        append_run(db, r)
    assert [r["run_id"] for r in list_runs(db)] == ["r3", "r2", "r1"]
    assert [r["run_id"] for r in list_runs(db, limit=2)] == ["r3", "r2"]
    first = list_runs(db)[0]
    assert (first["n_cells"], first["n_done"], first["models"]) == (4, 4, ["blurry", "copy"])
    series = [p for p in history_series_for(db, runs[0])["mean_image_gap"] if p["model"] == "blurry"]
    assert [p["run_id"] for p in series] == ["r1", "r2", "r3"]
    means = {r["run_id"]: next(row["metrics"]["mean_image_gap"]["mean"] for row in r["leaderboard"]
                               if row["model"] == "blurry") for r in runs}
    assert [p["value"] for p in series] == [means["r1"], means["r2"], means["r3"]]


def test_history_series_keeps_only_comparable_points(digits, tmp_path):
    db = tmp_path / "history.sqlite"
    append_run(db, make_run(digits, "r1", "2026-11-21T12:00:00Z"))
    append_run(db, make_run(digits, "r2", "2026-11-22T12:00:00Z", n=200))  # other n_gen: another protocol
    current = make_run(digits, "r3", "2026-11-23T12:00:00Z", seeds=(5, 6))
    append_run(db, current)
    series = history_series_for(db, current)
    assert set(series) == {"mean_image_gap", "ink"}
    assert [(p["run_id"], p["model"]) for p in series["ink"]] == [("r1", "blurry"), ("r1", "copy"),
                                                                  ("r3", "blurry"), ("r3", "copy")]
    assert len(history_series_for(db, current, metrics=["ink"], limit=1)["ink"]) == 2


def test_commands_and_their_errors(digits, tmp_path):
    db = tmp_path / "history.sqlite"
    with pytest.raises(UserError, match=r"history database .*history\.sqlite: no such file"):
        history_command(db)
    append_run(db, make_run(digits, "20261121-120000-aaa", "2026-11-21T12:00:00Z"))
    append_run(db, make_run(digits, "20261122-120000-bbb", "2026-11-22T12:00:00Z", blur=40.0))
    table = history_command(db, limit=5)
    assert table.index("20261122-120000-bbb") < table.index("20261121-120000-aaa")
    assert "| smoke | 1234567890 | 4/4 | blurry, copy |" in table
    with pytest.raises(UserError, match="--limit"):
        history_command(db, limit=0)

    text = compare_command(db, "20261121", "20261122")  # unique prefixes of run ids
    assert "`20261122-120000-bbb` − `20261121-120000-aaa`" in text and "| copy | digits | ink ↑ |" in text
    path = tmp_path / "other" / "results.json"
    path.parent.mkdir()
    path.write_text(json.dumps(make_run(digits, "other", "2026-11-23T12:00:00Z", n=200)))
    assert "not comparable: n_gen: 300 → 200" in compare_command(db, "20261121-120000-aaa", str(path))
    with pytest.raises(UserError, match="'2026112' matches 2 runs"):
        compare_command(db, "2026112", str(path))
    with pytest.raises(UserError, match="no run 'zzz'"):
        compare_command(db, "zzz", str(path))
    with pytest.raises(UserError, match=r"missing\.json: no such file"):
        compare_command(db, str(tmp_path / "missing.json"), str(path))

    not_a_db = tmp_path / "notes.sqlite"
    not_a_db.write_text("these are notes, not a database\n" * 100)
    with pytest.raises(UserError, match=r"notes\.sqlite: not an aigc-eval history"):
        list_runs(not_a_db)
