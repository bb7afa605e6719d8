"""Votes in SQLite: RUN_DIR/votes.sqlite, WAL mode, one row per vote; CSV export and import.

Every write is one `BEGIN IMMEDIATE` transaction on its own connection, waiting up to
BUSY_TIMEOUT_S for another writer (a second rating app, an import), so raters voting at once lose
nothing. A vote's id is a random UUID: importing the same CSV twice adds nothing the second time.

Columns: vote_id, run_id, time (UTC ISO 8601), rater, dataset, question_id, question, sample_a,
sample_b (the sample ids shown left and right), answer (ANSWERS), and the cell each sample came
from (model_a, seed_a, model_b, seed_b), so that scores need no sample file. `meta` holds the
salt that makes sample ids opaque (aigc_eval.rating.catalog).
"""
from __future__ import annotations

import csv
import io
import re
import secrets
import sqlite3
import uuid
from contextlib import closing
from dataclasses import astuple, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import write_text
from ..errors import UserError
from ..report.tables import FORMULA_START, csv_safe

BUSY_TIMEOUT_S = 30.0
STORE_VERSION = "1"
# left preferred, right preferred, both bad, can't tell (the last two are ties to Bradley–Terry)
ANSWERS = ("a", "b", "both_bad", "cant_tell")
MAX_RATER = 64
SAMPLE_ID = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class Vote:
    vote_id: str
    run_id: str
    time: str
    rater: str
    dataset: str
    question_id: str
    question: str
    sample_a: str
    sample_b: str
    answer: str
    model_a: str
    seed_a: int
    model_b: str
    seed_b: int


COLUMNS = tuple(f.name for f in fields(Vote))
_CREATE = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS votes (
        vote_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, time TEXT NOT NULL, rater TEXT NOT NULL,
        dataset TEXT NOT NULL, question_id TEXT NOT NULL, question TEXT NOT NULL,
        sample_a TEXT NOT NULL, sample_b TEXT NOT NULL,
        answer TEXT NOT NULL CHECK (answer IN ({", ".join(repr(a) for a in ANSWERS)})),
        model_a TEXT NOT NULL, seed_a INTEGER NOT NULL, model_b TEXT NOT NULL, seed_b INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS votes_by_dataset ON votes (dataset)",
)


def check_rater(name) -> str:
    """A rater's name: what they typed, stripped; 1..MAX_RATER printable characters."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_RATER or not name.isprintable():
        raise ValueError(f"a rater name is 1 to {MAX_RATER} printable characters")
    return name


def new_vote(run_id, rater, dataset, question_id, question, a, b, answer) -> Vote:
    """A vote on samples a (left) and b (right), each a catalog Sample."""
    if answer not in ANSWERS:
        raise ValueError(f"answer must be one of {', '.join(ANSWERS)}")
    return Vote(uuid.uuid4().hex, run_id, datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                check_rater(rater), dataset, question_id, question, a.id, b.id, answer, a.model, a.seed,
                b.model, b.seed)


class VoteStore:
    """The votes of one run. Thread-safe: every call opens its own connection."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            with closing(self._connect()) as con:
                if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    con.execute("PRAGMA journal_mode=WAL")
                con.execute("BEGIN IMMEDIATE")
                for statement in _CREATE:
                    con.execute(statement)
                con.execute("INSERT OR IGNORE INTO meta VALUES ('version', ?)", (STORE_VERSION,))
                con.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)", (secrets.token_hex(16),))
                con.execute("COMMIT")
                found = dict(con.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as e:
            raise UserError(f"votes database {self.path}: {e}; expected an aigc-eval votes file") from None
        if found.get("version") != STORE_VERSION:
            raise UserError(f"votes database {self.path}: version {found.get('version')!r}; "
                            f"this aigc-eval reads version {STORE_VERSION}")
        self.salt = found["salt"]

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        con.execute("PRAGMA synchronous=NORMAL")  # durable across a crash of the process in WAL mode
        return con

    def add(self, votes) -> int:
        """Insert votes in one transaction; returns how many were new (known vote ids are skipped)."""
        rows = [astuple(v) for v in votes]
        with closing(self._connect()) as con:
            con.execute("BEGIN IMMEDIATE")
            before = con.total_changes
            con.executemany(f"INSERT OR IGNORE INTO votes ({', '.join(COLUMNS)}) "
                            f"VALUES ({', '.join('?' * len(COLUMNS))})", rows)
            added = con.total_changes - before
            con.execute("COMMIT")
        return added

    def delete(self, vote_id: str) -> bool:
        with closing(self._connect()) as con:
            return con.execute("DELETE FROM votes WHERE vote_id = ?", (vote_id,)).rowcount == 1

    def votes(self, dataset: str | None = None) -> list[Vote]:
        """Every vote (of one dataset), oldest first."""
        query, args = "SELECT * FROM votes", ()
        if dataset is not None:
            query, args = query + " WHERE dataset = ?", (dataset,)
        with closing(self._connect()) as con:
            rows = con.execute(query + " ORDER BY time, vote_id", args).fetchall()
        return [Vote(*row) for row in rows]

    def count(self) -> int:
        with closing(self._connect()) as con:
            return con.execute("SELECT COUNT(*) FROM votes").fetchone()[0]


def export_csv(votes: list, path) -> int:
    """Write `votes` (VoteStore.votes()) to a CSV (atomically); text a spreadsheet would run as a
    formula gets a leading apostrophe, which import_csv removes again."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for vote in votes:
        writer.writerow([csv_safe(v) for v in astuple(vote)])
    write_text(path, buffer.getvalue())
    return len(votes)


def read_csv(path, run_id: str) -> list[Vote]:
    """Votes from an exported CSV, every row checked first: a bad one is a UserError naming the
    file, line and field, and nothing is imported."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"--import {path}: cannot read it ({e}); expected a votes CSV from --export") from None
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or set(reader.fieldnames) != set(COLUMNS):
        raise UserError(f"--import {path}: the header must be {','.join(COLUMNS)} (a CSV written by --export)")
    votes = []
    for line, row in enumerate(reader, start=2):
        values = {k: _un_safe(v or "") for k, v in row.items()}
        try:
            vote = _checked_vote(values, run_id)
        except ValueError as e:
            raise UserError(f"--import {path}: line {line}: {e}") from None
        votes.append(vote)
    return votes


def _un_safe(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def _checked_vote(values: dict, run_id: str) -> Vote:
    if values["run_id"] != run_id:
        raise ValueError(f"run_id {values['run_id']!r} is another run's (this run is {run_id!r})")
    if not re.fullmatch(r"[0-9a-f]{32}", values["vote_id"]):
        raise ValueError("vote_id must be 32 hex digits")
    if values["answer"] not in ANSWERS:
        raise ValueError(f"answer {values['answer']!r}; expected one of {', '.join(ANSWERS)}")
    for key in ("sample_a", "sample_b"):
        if not SAMPLE_ID.fullmatch(values[key]):
            raise ValueError(f"{key} must be 16 hex digits")
    try:
        datetime.strptime(values["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        seeds = int(values["seed_a"]), int(values["seed_b"])
    except ValueError:
        raise ValueError("time must be UTC ISO 8601 and seed_a, seed_b integers") from None
    for key in ("dataset", "question_id", "question", "model_a", "model_b"):
        if not values[key]:
            raise ValueError(f"{key} is empty")
    values["rater"] = check_rater(values["rater"])
    return Vote(**{**values, "seed_a": seeds[0], "seed_b": seeds[1]})
