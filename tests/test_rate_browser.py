"""A rating session as a person has it, in the real headless Chromium: `aigc-eval rate` on a smoke
run, 30 votes by keyboard from a rater who prefers one model (and an undo), then `aigc-eval report`
ranks that model first, with its interval, in results.json and in the report page. Leaves a
screenshot of the rating page in test-artifacts/rate-page.png."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("fastapi", reason="the rate extra is not installed (pip install 'aigc-eval[rate]')")

from aigc_eval.rating.catalog import load_catalog  # noqa: E402
from aigc_eval.rating.store import VoteStore  # noqa: E402
from aigc_eval.report.tables import fmt_number  # noqa: E402
from report_fixtures import HOSTILE_NAME  # noqa: E402
from test_report_browser import ARTIFACTS, browser  # noqa: E402,F401  (the module's Chromium fixture)

pytestmark = pytest.mark.browser

PREFERRED = "cvae"  # the scripted rater's favourite; every other pair is "can't tell"
N_VOTES = 30


@pytest.fixture(scope="module")
def rate_run(smoke_run, tmp_path_factory):
    """A copy of the smoke run's folder (its cells stay where they are): voting adds votes.sqlite,
    and the report rebuilt afterwards rewrites results.json, which other tests must not see."""
    run_dir, _ = smoke_run
    copy = tmp_path_factory.mktemp("rate") / run_dir.name
    shutil.copytree(run_dir, copy)
    return copy


@pytest.fixture(scope="module")
def server(rate_run):
    """`aigc-eval rate RUN_DIR --port 0` in its own process; yields its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "aigc_eval", "rate", str(rate_run), "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    url, seen = None, []
    for line in proc.stderr:
        seen.append(line)
        found = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
        if found:
            url = found.group(1)
            break
    assert url, "".join(seen)
    yield url
    proc.terminate()
    proc.wait(30)


def _sides(page):
    return [page.get_attribute(f"#{side}", "data-sample-id") for side in ("left", "right")]


def test_a_rating_session_by_keyboard_ranks_the_preferred_model_first(browser, server, rate_run):  # noqa: F811
    results = json.loads((rate_run / "results.json").read_text())
    catalog = load_catalog(results, VoteStore(rate_run / "votes.sqlite").salt)
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    dialogs, errors = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)
    page.fill("#rater-name", HOSTILE_NAME)
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-state=ready]")
    assert page.inner_text("#rater") == HOSTILE_NAME  # the name is text: no script ran, nothing injected
    assert page.evaluate("document.scripts.length") == 1

    shot = False
    votes = 0
    undone = False
    while votes < N_VOTES:
        left, right = (catalog.samples[s] for s in _sides(page))
        assert left.dataset == right.dataset and left.model != right.model
        if not shot and catalog.kinds[left.dataset] == "image":
            ARTIFACTS.mkdir(exist_ok=True)
            # polled from here: wait_for_function evaluates its string in the page, which the app's
            # Content-Security-Policy (no 'unsafe-eval') refuses
            for _ in range(200):
                if page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)"):
                    break
                page.wait_for_timeout(50)
            page.screenshot(path=str(ARTIFACTS / "rate-page.png"), full_page=True)
            shot = True
        key = "1" if left.model == PREFERRED else "2" if right.model == PREFERRED else "c"
        page.keyboard.press(key)
        votes += 1
        page.wait_for_selector(f"body[data-state=ready][data-votes='{votes}']")
        if votes == 10 and not undone:  # a slip, taken back with the undo key: the same pair returns
            page.keyboard.press("u")
            votes -= 1
            page.wait_for_selector(f"body[data-state=ready][data-votes='{votes}']")
            undone = True
    assert shot and dialogs == [] and errors == []
    stored = VoteStore(rate_run / "votes.sqlite").votes()
    assert len(stored) == N_VOTES and {v.rater for v in stored} == {HOSTILE_NAME}

    done = subprocess.run([sys.executable, "-m", "aigc_eval", "report", str(rate_run)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rebuilt = json.loads((rate_run / "results.json").read_text())
    rated = {s["dataset"] for s in rebuilt["human_preference"]}
    assert {"digits", "shapes"} <= rated
    for dataset in ("digits", "shapes"):
        rows = {r["model"]: r["metrics"]["human_preference"] for r in rebuilt["leaderboard"]
                if r["dataset"] == dataset and "human_preference" in r["metrics"]}
        best = max(rows, key=lambda m: rows[m]["mean"])
        assert best == PREFERRED, rows
        low, high = rows[best]["ci"]
        assert low - 1e-9 <= rows[best]["mean"] <= high + 1e-9  # a clean sweep: the point is its upper bound
        assert low > max(s["mean"] for m, s in rows.items() if m != best)  # separated from the rest
        assert "votes:" in rows[best]["signature"] and "raters:1" in rows[best]["signature"]

    report = browser.new_page()
    report.goto((rate_run / "leaderboard.html").as_uri())
    shown = report.evaluate("""() => {
        // the digits table (headline or a details family) that holds the human_preference column
        for (const table of document.querySelectorAll('table.leaderboard[data-dataset="digits"]')) {
            const col = [...table.tHead.rows[0].cells].findIndex(th => th.dataset.metric === "human_preference");
            if (col < 0) continue;
            return [...table.tBodies[0].rows].map(r => [r.dataset.model, "digits",
                                                         r.cells[col].innerText, r.cells[col].dataset.sort]);
        }
        return [];
    }""")
    digits = [(m, text, float(sort)) for m, d, text, sort in shown if d == "digits" and sort]
    model, text, _ = max(digits, key=lambda r: r[2])
    ci = next(r["metrics"]["human_preference"]["ci"] for r in rebuilt["leaderboard"]
              if r["dataset"] == "digits" and r["model"] == PREFERRED)
    assert model == PREFERRED and text.endswith(f"[{fmt_number(ci[0])}, {fmt_number(ci[1])}]"), digits
    assert report.locator("#human-preference").is_visible()
    page.close()
    report.close()
