"""The report page in a real headless Chromium: sorting, filters, images, no script injection.

Needs Debian's `chromium` (/usr/bin/chromium) and Playwright for Python; never downloads a
browser (`playwright install` is not used). Leaves a screenshot and the page's load timing
in test-artifacts/.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from aigc_eval import atomic
from aigc_eval.report import render_html
from report_fixtures import HOSTILE_NAME, build_baseline, build_history, with_hostile_model

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("AIGC_EVAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def report_source(smoke_run):
    """The browser loads the report of a real smoke-suite run (tests/conftest.py)."""
    return smoke_run


@pytest.fixture(scope="module")
def report_file(report_source, tmp_path_factory):
    """The report of the source run plus a model named like a script tag, in a folder of its
    own: the page must carry everything it shows."""
    run_dir, results = report_source
    hostile = with_hostile_model(results)
    html = render_html(run_dir, hostile, history_series=build_history(results),
                       baseline=build_baseline(results))
    path = atomic.write_text(tmp_path_factory.mktemp("page") / "leaderboard.html", html)
    return path, hostile


@pytest.fixture
def page(browser, report_file):
    """A fresh page on the report, recording console messages, page errors and dialogs."""
    path, _ = report_file
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    events = {"console": [], "errors": [], "dialogs": []}
    page.on("console", lambda msg: events["console"].append((msg.type, msg.text)))
    page.on("pageerror", lambda exc: events["errors"].append(str(exc)))
    page.on("dialog", lambda dialog: (events["dialogs"].append(dialog.message), dialog.dismiss()))
    page.goto(path.as_uri(), wait_until="load")
    page.events = events
    yield page
    page.close()


def _column(page, kind, metric):
    """data-sort values of one metric column of a leaderboard, in display order."""
    return page.evaluate(
        """([kind, metric]) => {
             const table = document.querySelector(`table.leaderboard[data-kind="${kind}"]`);
             const heads = [...table.tHead.rows[0].cells];
             const col = heads.findIndex(th => th.dataset.metric === metric);
             return [...table.tBodies[0].rows].filter(r => !r.hidden)
                      .map(r => r.cells[col].getAttribute("data-sort"));
           }""", [kind, metric])


def _visible_rows(page, kind):
    return page.evaluate(
        """kind => [...document.querySelectorAll(`table.leaderboard[data-kind="${kind}"] tbody tr`)]
                   .filter(r => !r.hidden).map(r => [r.dataset.model, r.dataset.dataset])""", kind)


def test_tables_render_with_every_row(page, report_file):
    _, results = report_file
    for kind in ("image", "text"):
        expected = [[r["model"], r["dataset"]] for r in results["leaderboard"] if r["kind"] == kind]
        assert _visible_rows(page, kind) == expected
    assert page.locator("#signatures tbody tr").count() == len(
        {n for r in results["leaderboard"] for n in r["metrics"]})


def test_clicking_a_header_sorts_numerically_and_toggles(page):
    header = page.locator('table[data-kind="image"] th[data-metric="fd_digits-cnn"]')
    before = [float(v) for v in _column(page, "image", "fd_digits-cnn") if v != ""]
    header.locator("button").click()
    ascending = [float(v) for v in _column(page, "image", "fd_digits-cnn") if v != ""]
    assert ascending == sorted(before)
    assert ascending != sorted(before, key=str)  # numeric, not text order
    assert header.get_attribute("aria-sort") == "ascending"
    header.locator("button").click()
    assert [float(v) for v in _column(page, "image", "fd_digits-cnn") if v != ""] == sorted(before,
                                                                                           reverse=True)
    assert header.get_attribute("aria-sort") == "descending"


def test_blank_values_sort_last_both_ways(page):
    # Only the VAEs reconstruct, so every other row has no PSNR.
    header = page.locator('table[data-kind="image"] th[data-metric="psnr"]')
    for _ in range(2):
        header.locator("button").click()
        values = _column(page, "image", "psnr")
        blanks = values.index("")
        assert all(v == "" for v in values[blanks:]) and blanks > 0


def test_filters_by_dataset_model_and_calibration(page, report_file):
    _, results = report_file
    image = page.locator('[data-board="image"]')
    image.locator("select[data-filter=dataset]").select_option("shapes")
    shapes = [[r["model"], "shapes"] for r in results["leaderboard"] if r["dataset"] == "shapes"]
    n_image = sum(r["kind"] == "image" for r in results["leaderboard"])
    assert _visible_rows(page, "image") == shapes
    assert image.locator('th[data-metric="fd_digits-cnn"]').is_hidden()  # another dataset's metric
    assert image.locator('th[data-metric="hallucination_rate"]').is_visible()
    assert image.locator("[data-role=count]").inner_text() == f"{len(shapes)} of {n_image} rows"
    image.locator("select[data-filter=dataset]").select_option("")

    image.locator("input[data-filter=model]").fill("GAN")
    assert {m for m, _ in _visible_rows(page, "image")} == {
        r["model"] for r in results["leaderboard"] if r["kind"] == "image" and "gan" in r["model"].lower()}
    image.locator("input[data-filter=model]").fill("")
    image.locator("input[data-filter=calibration]").uncheck()
    shown = {m for m, _ in _visible_rows(page, "image")}
    assert shown == {r["model"] for r in results["leaderboard"]
                     if r["kind"] == "image" and not r["calibration"]}


def test_images_load(page):
    sizes = page.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth, i.alt])")
    assert len(sizes) >= 10
    assert all(complete and width > 0 for complete, width, _ in sizes), sizes


def test_script_in_a_model_name_is_text_and_never_runs(page):
    cell = page.locator("table.leaderboard td", has_text=HOSTILE_NAME)
    assert cell.count() == 1 and cell.inner_text() == HOSTILE_NAME
    assert page.evaluate("document.scripts.length") == 1
    assert page.events["dialogs"] == []


def test_no_console_errors_and_screenshot(page, report_file):
    path, _ = report_file
    assert page.events["errors"] == []
    assert [m for m in page.events["console"] if m[0] in ("error", "warning")] == []
    timing = page.evaluate("""() => {
        const nav = performance.getEntriesByType("navigation")[0];
        return {dom_content_loaded_ms: nav.domContentLoadedEventEnd, load_ms: nav.loadEventEnd,
                size_bytes: nav.decodedBodySize};
    }""")
    assert timing["size_bytes"] == path.stat().st_size
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    # Recorded, not asserted: timings belong in bench/, not in test outcomes.
    (ARTIFACTS / "report-timing.json").write_text(json.dumps(timing, indent=2) + "\n")
