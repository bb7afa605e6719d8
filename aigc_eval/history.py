"""Run history: every finished run's provenance and metric values in one embedded SQLite file.

The file (default reports/history.sqlite) is in WAL mode, so readers never block the writer and
several runs finishing at once append safely: each append is one `BEGIN IMMEDIATE` transaction
(the write lock is taken up front, so two writers never deadlock upgrading a read lock) and
waits up to BUSY_TIMEOUT_S for the other. Appends are idempotent per run_id.

Tables: meta (schema_version: HISTORY_SCHEMA_VERSION, the database's layout, not results.json's),
runs (provenance), cells (status per model/dataset/seed), cell_metrics (every per-seed value),
leaderboard (mean/std/values per model/dataset/metric).
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from .errors import UserError
from .gate import compare
from .report.markdown import compare_markdown
from .results import CellResult, RunResults, load_results
from .signature import Signature

DEFAULT_DB = Path("reports") / "history.sqlite"
HISTORY_SCHEMA_VERSION = 1  # the SQLite layout; results.json's format is results.RESULTS_SCHEMA_VERSION
BUSY_TIMEOUT_S = 60.0

_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY, created TEXT NOT NULL, suite TEXT, suite_path TEXT,
        config_hash TEXT, git_commit TEXT, versions TEXT, machine TEXT, runtime TEXT)""",
    """CREATE TABLE IF NOT EXISTS cells (
        run_id TEXT NOT NULL REFERENCES runs(run_id), model TEXT NOT NULL, dataset TEXT NOT NULL,
        seed INTEGER NOT NULL, kind TEXT, calibration INTEGER, status TEXT, error TEXT, config_hash TEXT,
        PRIMARY KEY (run_id, model, dataset, seed))""",
    """CREATE TABLE IF NOT EXISTS cell_metrics (
        run_id TEXT NOT NULL, model TEXT NOT NULL, dataset TEXT NOT NULL, seed INTEGER NOT NULL,
        metric TEXT NOT NULL, value REAL, higher_is_better INTEGER, signature TEXT,
        PRIMARY KEY (run_id, model, dataset, seed, metric))""",
    """CREATE TABLE IF NOT EXISTS leaderboard (
        run_id TEXT NOT NULL, model TEXT NOT NULL, dataset TEXT NOT NULL, metric TEXT NOT NULL,
        kind TEXT, calibration INTEGER, n_seeds INTEGER, seeds TEXT, mean REAL, std REAL,
        per_seed TEXT, higher_is_better INTEGER, signature TEXT,
        PRIMARY KEY (run_id, model, dataset, metric))""",
    "CREATE INDEX IF NOT EXISTS leaderboard_series ON leaderboard (metric, model, dataset)",
)


def _connect(db_path, create: bool) -> sqlite3.Connection:
    """Open the history in WAL mode and check its schema version; create it if asked."""
    path = Path(db_path)
    if not create and not path.is_file():
        raise UserError(f"history database {path}: no such file (runs are recorded there when they finish)")
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)  # explicit transactions
        try:
            found = _prepare(con, create)
            break
        except sqlite3.OperationalError as e:
            con.close()
            if not create and _unwritable(e):
                return _connect_read_only(path)
            # SQLite answers "locked" at once, without its busy handler, while another process is
            # switching a new file to WAL (measured: 9 of 40 trials of 12 appends from 4 processes
            # to a fresh file), so the set-up itself is retried until the same deadline.
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise _database_error(path, e) from None
            time.sleep(0.05)
        except sqlite3.DatabaseError as e:
            con.close()
            raise _database_error(path, e) from None
    return _checked_version(con, path, found)


def _checked_version(con: sqlite3.Connection, path, found) -> sqlite3.Connection:
    if found is None or found[0] != str(HISTORY_SCHEMA_VERSION):
        con.close()
        raise UserError(f"history database {path}: schema version {found[0] if found else 'unknown'}; "
                        f"this aigc-eval reads version {HISTORY_SCHEMA_VERSION}")
    return con


def _unwritable(error: sqlite3.OperationalError) -> bool:
    text = str(error)
    return "readonly" in text or "read-only" in text or "unable to open" in text


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A healthy history in a folder this process cannot write (no -wal/-shm files can be made
    beside it): read it as an immutable snapshot instead of calling it damaged."""
    con = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True, isolation_level=None)
    try:
        found = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as e:
        con.close()
        raise _database_error(path, e) from None
    return _checked_version(con, path, found)


def _prepare(con: sqlite3.Connection, create: bool):
    """WAL mode, the tables when creating, and the stored schema version row."""
    if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":  # switching needs an exclusive lock
        con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")  # durable across crashes of the process in WAL mode
    if create:
        con.execute("BEGIN IMMEDIATE")
        try:
            for ddl in _TABLES:
                con.execute(ddl)
            con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(HISTORY_SCHEMA_VERSION),))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()


def _database_error(path, error: sqlite3.DatabaseError) -> UserError:
    if "locked" in str(error):
        return UserError(f"history database {path}: still locked by another process after {BUSY_TIMEOUT_S:.0f} s")
    return UserError(f"history database {path}: not an aigc-eval history, or damaged ({error})")


def append_run(db_path, results: dict) -> bool:
    """Record a finished run (a results.json dict). Returns False if run_id was already recorded."""
    run_id = results.get("run_id")
    if not run_id:
        raise UserError("history: results have no run_id")
    suite = results.get("suite") or {}
    runtime = results.get("runtime") or {}
    run_row = (run_id, results.get("created", ""), suite.get("name"), suite.get("path"), suite.get("config_hash"),
               results.get("git_commit"), json.dumps(results.get("versions", {}), sort_keys=True),
               json.dumps(results.get("machine", {}), sort_keys=True), json.dumps(runtime, sort_keys=True))
    cell_list = results.get("cells", [])
    cells = [(run_id, c["model"], c["dataset"], int(c["seed"]), c.get("kind"), int(bool(c.get("calibration"))),
              c.get("status", "done"), c.get("error"), c.get("config_hash")) for c in cell_list]
    metrics = [(run_id, c["model"], c["dataset"], int(c["seed"]), name, m["value"], int(bool(m["higher_is_better"])),
                m.get("signature")) for c in cell_list for name, m in (c.get("metrics") or {}).items()]
    board = [(run_id, r["model"], r["dataset"], name, r.get("kind"), int(bool(r.get("calibration"))),
              r.get("n_seeds"), json.dumps(r.get("seeds", [])), m["mean"], m["std"], json.dumps(m["values"]),
              int(bool(m["higher_is_better"])), m.get("signature"))
             for r in results.get("leaderboard", []) for name, m in r["metrics"].items()]
    with closing(_connect(db_path, create=True)) as con:
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise _database_error(db_path, e) from None
        try:
            if con.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
                con.execute("ROLLBACK")
                return False
            con.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?)", run_row)
            con.executemany("INSERT INTO cells VALUES (?,?,?,?,?,?,?,?,?)", cells)
            con.executemany("INSERT INTO cell_metrics VALUES (?,?,?,?,?,?,?,?)", metrics)
            con.executemany("INSERT INTO leaderboard VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", board)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return True


def list_runs(db_path, limit: int = 20) -> list[dict]:
    """The latest `limit` runs, newest first, with cell counts and their models."""
    with closing(_connect(db_path, create=False)) as con:
        rows = con.execute(
            """SELECT r.run_id, r.created, r.suite, r.git_commit, r.config_hash,
                      COUNT(c.seed), COALESCE(SUM(c.status = 'done'), 0), GROUP_CONCAT(DISTINCT c.model)
               FROM runs r LEFT JOIN cells c ON c.run_id = r.run_id
               GROUP BY r.run_id ORDER BY r.created DESC, r.run_id DESC LIMIT ?""", (int(limit),)).fetchall()
    keys = ("run_id", "created", "suite", "git_commit", "config_hash", "n_cells", "n_done", "models")
    return [dict(zip(keys, r), models=sorted((r[7] or "").split(",")) if r[7] else []) for r in rows]


def _find_run_id(con, db_path, ref: str) -> str:
    """An exact run id, or a unique prefix of one."""
    found = [r[0] for r in con.execute("SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY run_id",
                                       (len(ref), ref))]
    if ref in found:
        return ref
    if len(found) == 1:
        return found[0]
    if not found:
        raise UserError(f"history database {db_path}: no run {ref!r} (`aigc-eval history` lists the runs)")
    raise UserError(f"history database {db_path}: {ref!r} matches {len(found)} runs ({', '.join(found[:5])}, ...)")


def load_run(db_path, run_id: str) -> dict:
    """A recorded run as a results.json-shaped dict: provenance, cells (with metrics) and leaderboard."""
    with closing(_connect(db_path, create=False)) as con:
        run_id = _find_run_id(con, db_path, run_id)
        r = con.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        cells = {}
        for model, dataset, seed, kind, calib, status, error, cfg in con.execute(
                "SELECT model, dataset, seed, kind, calibration, status, error, config_hash FROM cells "
                "WHERE run_id = ? ORDER BY model, dataset, seed", (run_id,)):
            cells[(model, dataset, seed)] = CellResult(model, dataset, seed, kind, calibration=bool(calib),
                                                       status=status, error=error, config_hash=cfg)
        for model, dataset, seed, metric, value, hib, sig in con.execute(
                "SELECT model, dataset, seed, metric, value, higher_is_better, signature FROM cell_metrics "
                "WHERE run_id = ?", (run_id,)):
            cells[(model, dataset, seed)].metrics[metric] = {"value": value, "higher_is_better": bool(hib),
                                                             "signature": sig}
        board: dict[tuple[str, str], dict] = {}
        for model, dataset, metric, kind, calib, n, seeds, mean, std, per_seed, hib, sig in con.execute(
                "SELECT model, dataset, metric, kind, calibration, n_seeds, seeds, mean, std, per_seed, "
                "higher_is_better, signature FROM leaderboard WHERE run_id = ? ORDER BY model, dataset, metric",
                (run_id,)):
            row = board.setdefault((model, dataset), {"model": model, "dataset": dataset, "kind": kind,
                                                      "calibration": bool(calib), "n_seeds": n,
                                                      "seeds": json.loads(seeds), "metrics": {}})
            row["metrics"][metric] = {"mean": mean, "std": std, "values": json.loads(per_seed),
                                      "higher_is_better": bool(hib), "signature": sig}
    return RunResults(run_id=r[0], created=r[1], suite={"name": r[2], "path": r[3], "config_hash": r[4]},
                      git_commit=r[5], versions=json.loads(r[6]), machine=json.loads(r[7]),
                      runtime=json.loads(r[8]), cells=list(cells.values()),
                      leaderboard=list(board.values())).to_json()


def history_series_for(db_path, results: dict, metrics=None, limit: int = 20) -> dict[str, list[dict]]:
    """{metric: [{run_id, created, model, dataset, value, std, git_commit}]} for the report's history view.

    Covers the current run's non-calibration (model, dataset) rows over the latest `limit`
    recorded runs, oldest first, keeping only points whose signature agrees with the current
    run's apart from `seed:` (other protocols do not belong on the same line).
    metrics: names to include (default: every metric of those rows).
    """
    current = {(r["model"], r["dataset"], name): Signature.parse(m["signature"])
               for r in results["leaderboard"] if not r.get("calibration")
               for name, m in r["metrics"].items() if metrics is None or name in metrics}
    with closing(_connect(db_path, create=False)) as con:
        rows = con.execute(
            """SELECT l.metric, l.model, l.dataset, l.run_id, r.created, r.git_commit, l.mean, l.std, l.signature
               FROM leaderboard l JOIN (SELECT run_id, created, git_commit FROM runs
                                        ORDER BY created DESC, run_id DESC LIMIT ?) r ON r.run_id = l.run_id
               ORDER BY r.created, l.run_id""", (int(limit),)).fetchall()
    series: dict[str, list[dict]] = {}
    for metric, model, dataset, run_id, created, commit, mean, std, signature in rows:
        want = current.get((model, dataset, metric))
        if want is not None and mean is not None and want.comparable(Signature.parse(signature or "")):
            series.setdefault(metric, []).append({"run_id": run_id, "created": created, "model": model,
                                                  "dataset": dataset, "value": mean, "std": std,
                                                  "git_commit": commit})
    return series


def history_series_with(db_path, results: dict, limit: int = 20) -> dict[str, list[dict]]:
    """history_series_for over the recorded runs plus `results`, a run not recorded yet (the run
    being built: it is appended only once its folder is complete), as the newest point."""
    series: dict[str, list[dict]] = {}
    if Path(db_path).is_file():
        series = history_series_for(db_path, results, limit=max(1, limit - 1))
        series = {k: [p for p in v if p["run_id"] != results.get("run_id")] for k, v in series.items()}
    for row in results["leaderboard"]:
        if row.get("calibration"):
            continue
        for name, m in row["metrics"].items():
            if m.get("mean") is not None:
                series.setdefault(name, []).append({
                    "run_id": results.get("run_id"), "created": results.get("created"), "model": row["model"],
                    "dataset": row["dataset"], "value": m["mean"], "std": m["std"],
                    "git_commit": results.get("git_commit")})
    return series


def _resolve_run(ref: str, db_path) -> dict:
    """A results.json path or run folder when one exists there, else a run id in the history."""
    if Path(ref).exists() or ref.endswith(".json"):
        return load_results(ref)
    if not Path(db_path).is_file():
        raise UserError(f"no run {ref!r}: not a results.json or run folder, and there is no history "
                        f"database {db_path} to look it up as a run id")
    return load_run(db_path, ref)


def compare_command(db_path, run_a: str, run_b: str) -> str:
    """`aigc-eval compare A B`: Markdown of B − A per (model, dataset, metric), with per-row 95% CIs.

    A and B are results.json paths, run folders, or run ids (or unique prefixes of one) in the
    history at `db_path`. Informational: it reports differences and never fails on them.
    Signatures that differ apart from `seed:` are reported as "not comparable".
    """
    a, b = _resolve_run(run_a, db_path), _resolve_run(run_b, db_path)
    return compare_markdown(a, b, compare(a, b))


def history_command(db_path=DEFAULT_DB, limit: int = 20) -> str:
    """`aigc-eval history`: a Markdown table of the latest runs, newest first."""
    if limit < 1:
        raise UserError(f"--limit: expected a positive integer, got {limit}")
    runs = list_runs(db_path, limit)
    if not runs:
        return f"no runs recorded in {db_path}\n"
    lines = [f"## aigc-eval history: latest {len(runs)} runs in {db_path}", "",
             "| run | created | suite | commit | cells done | models |", "|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['run_id']} | {r['created']} | {r['suite'] or '—'} | {(r['git_commit'] or '—')[:10]} "
                     f"| {r['n_done']}/{r['n_cells']} | {', '.join(r['models'])} |")
    return "\n".join(lines) + "\n"
