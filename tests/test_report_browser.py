"""The report page in a real headless Chromium: a headline table per dataset and its details
toggle, best marks, the oracle's frames and tooltips on the samples, the summary sentences,
sorting, images, no script injection.

Needs Debian's `chromium` (/usr/bin/chromium) and Playwright for Python; never downloads a
browser (`playwright install` is not used). Leaves screenshots (the first screen, the samples)
and the page's load timing in test-artifacts/.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from aigc_eval import atomic
from aigc_eval.report import render_html
from aigc_eval.report.tables import fmt_mean_std
from report_fixtures import HOSTILE_NAME, build_baseline, build_history, with_hostile_model

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("AIGC_EVAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
VIEWPORT = {"width": 1280, "height": 900}


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
    page = browser.new_page(viewport=VIEWPORT)
    events = {"console": [], "errors": [], "dialogs": []}
    page.on("console", lambda msg: events["console"].append((msg.type, msg.text)))
    page.on("pageerror", lambda exc: events["errors"].append(str(exc)))
    page.on("dialog", lambda dialog: (events["dialogs"].append(dialog.message), dialog.dismiss()))
    page.goto(path.as_uri(), wait_until="load")
    page.events = events
    yield page
    page.close()


def _column(page, dataset, metric):
    """data-sort values of one metric column of a dataset's headline table, in display order."""
    return page.evaluate(
        """([dataset, metric]) => {
             const table = document.querySelector(`table[data-table="board-${dataset}"]`);
             const heads = [...table.tHead.rows[0].cells];
             const col = heads.findIndex(th => th.dataset.metric === metric);
             return [...table.tBodies[0].rows].map(r => r.cells[col].getAttribute("data-sort"));
           }""", [dataset, metric])


def _table(page, key):
    """{metrics: [...], rows: [[model, calibration, [[text, best, title], ...]], ...]} of a table."""
    return page.evaluate(
        """key => {
             const table = document.querySelector(`table[data-table="${key}"]`);
             return {metrics: [...table.tHead.rows[0].cells].slice(2).map(th => th.dataset.metric),
                     visible: table.checkVisibility(),
                     rows: [...table.tBodies[0].rows].map(r => [r.dataset.model, r.dataset.calibration === "true",
                       [...r.cells].slice(2).map(td => [td.textContent, td.classList.contains("best"),
                                                         td.getAttribute("title") || ""])])};
           }""", key)


def _leaderboard(results, dataset):
    return [r for r in results["leaderboard"] if r["dataset"] == dataset]


def _expected_headline(results, dataset):
    """The suite's headline columns of a dataset, `fd` read as its extractor's FD, less the absent."""
    have = {n for r in _leaderboard(results, dataset) for n in r["metrics"]}
    fd = results["extractors"].get(dataset, {}).get("metric_name")
    names = [fd if n == "fd" else n for n in results["suite"]["headline"][dataset]]
    return [n for n in names if n in have]


def test_each_dataset_has_its_own_table_of_its_headline_columns(page, report_file):
    _, results = report_file
    datasets = list(dict.fromkeys(r["dataset"] for r in results["leaderboard"]))
    assert len(datasets) == 3
    for dataset in datasets:
        table = _table(page, f"board-{dataset}")
        assert table["visible"]
        assert table["metrics"] == _expected_headline(results, dataset)
        rows = _leaderboard(results, dataset)
        # models first, then the calibration rows beside them as bounds
        assert [m for m, _, _ in table["rows"]] == [r["model"] for r in rows if not r["calibration"]] + [
            r["model"] for r in rows if r["calibration"]]
        for model, calibration, values in table["rows"]:
            row = next(r for r in rows if r["model"] == model)
            assert calibration == row["calibration"]
            for name, (text, _, title) in zip(table["metrics"], values):
                stat = row["metrics"].get(name)
                assert text == (fmt_mean_std(stat) if stat else "")
                assert "e-" not in text  # never a raw float such as 3.216e-13
                if stat:
                    assert title.startswith(f"seed {row['seeds'][0]}: ")


def test_first_screen_shows_every_headline_table_and_is_saved(page, report_file):
    _, results = report_file
    bottoms = page.evaluate(
        """() => [...document.querySelectorAll("table.headline")].map(t => t.getBoundingClientRect().bottom)""")
    assert len(bottoms) == 3 and max(bottoms) <= VIEWPORT["height"], bottoms
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-first-screen.png"))


def test_details_toggle_opens_every_other_column_by_family(page, report_file):
    _, results = report_file
    for dataset in dict.fromkeys(r["dataset"] for r in results["leaderboard"]):
        details = page.locator(f'details[data-details="{dataset}"]')
        tables = details.locator("table")
        assert tables.count() >= 2 and not tables.first.is_visible()
        details.locator("summary").click()
        assert all(tables.nth(i).is_visible() for i in range(tables.count()))
        families = [tables.nth(i).get_attribute("data-family") for i in range(tables.count())]
        shown = [n for f in families for n in _table(page, f"board-{dataset}-{f}")["metrics"]]
        every = {n for r in _leaderboard(results, dataset) for n in r["metrics"]}
        headline = _expected_headline(results, dataset)
        assert set(shown) == every - set(headline) | ({"train_images_per_s", "peak_memory_mb"} & set(shown))
        assert len(shown) == len(set(shown))  # each column in one family
        details.locator("summary").click()
        assert not tables.first.is_visible()
    assert {"fidelity", "diversity", "memorization", "ground truth"} <= set(page.evaluate(
        """() => [...document.querySelectorAll("table[data-family]")].map(t => t.dataset.family)"""))


def test_best_is_marked_only_among_models_and_only_where_direction_means_something(page, report_file):
    _, results = report_file
    tables = page.evaluate("""() => [...document.querySelectorAll("table.leaderboard")]
                                      .map(t => [t.dataset.table, t.dataset.dataset])""")
    checked_kid = 0
    for key, dataset in tables:
        table = _table(page, key)
        for col, name in enumerate(table["metrics"]):
            marked = [(m, cal) for m, cal, values in table["rows"] if values[col][1]]
            assert not any(cal for _, cal in marked), (key, name)  # never a calibration row
            means = [r["metrics"][name]["mean"] for r in _leaderboard(results, dataset) if name in r["metrics"]]
            if name.startswith(("kid", "fd")) and any(m < 0 for m in means):
                assert marked == [], (key, name)  # a negative distance estimate: no direction
                checked_kid += name.startswith("kid")
            if name.endswith("_std"):
                assert marked == [], (key, name)  # a spread is not a score
    assert checked_kid >= 1  # the smoke run's real-test KID reads below zero on some dataset


def _load_images(page):
    """Images below the first screen load lazily; load and decode them all now."""
    page.evaluate("""async () => {
        for (const img of document.images) img.loading = "eager";
        await Promise.all([...document.images].map(img => img.decode().catch(() => null)));
    }""")


def _lowest_seed_cells(results):
    first = {}
    for cell in sorted(results["cells"], key=lambda c: -c["seed"]):
        first[(cell["model"], cell["dataset"])] = cell
    return first


def test_hallucinated_samples_have_red_frames_and_ambiguous_amber(page, report_file):
    _, results = report_file
    _load_images(page)
    tiles = page.evaluate(
        """() => [...document.querySelectorAll("#samples figure")].map(f => ({
             model: f.dataset.model, dataset: f.closest("[data-samples]").dataset.samples,
             img: f.querySelector(":scope > .grid img") && f.querySelector(":scope > .grid img").getBoundingClientRect().toJSON(),
             tiles: [...f.querySelectorAll(":scope > .grid .tile")].map(t => ({
               verdict: t.dataset.verdict, title: t.title, color: getComputedStyle(t).outlineColor,
               style: getComputedStyle(t).outlineStyle, box: t.getBoundingClientRect().toJSON()}))}))""")
    cells = _lowest_seed_cells(results)
    hallucinated = 0
    for figure in tiles:
        cell = cells[(figure["model"], figure["dataset"])]
        grid = cell.get("sample_grid")
        if not grid:
            assert figure["tiles"] == []
            continue
        assert [t["verdict"] for t in figure["tiles"]] == [t["verdict"] for t in grid["tiles"]]
        img = figure["img"]
        for tile in figure["tiles"]:
            box = tile["box"]
            assert img["x"] - 0.5 <= box["x"] and box["x"] + box["width"] <= img["x"] + img["width"] + 0.5
            assert img["y"] - 0.5 <= box["y"] and box["y"] + box["height"] <= img["y"] + img["height"] + 0.5
            if tile["verdict"] == "hallucinated":
                assert (tile["style"], tile["color"]) == ("solid", "rgb(224, 0, 0)")
                hallucinated += 1
            elif tile["verdict"] == "ambiguous":
                assert (tile["style"], tile["color"]) == ("solid", "rgb(240, 160, 0)")
            else:
                assert tile["style"] == "none"
    assert hallucinated > 0  # the smoke suite's 20-step shapes models hallucinate


def test_tooltips_give_the_oracles_reading(page, report_file):
    _, results = report_file
    cells = _lowest_seed_cells(results)
    cvae = cells[("cvae", "shapes")]["sample_grid"]["tiles"]
    titles = page.locator('[data-samples="shapes"] figure[data-model="cvae"] > .grid .tile')
    assert titles.count() == len(cvae)
    for i in (0, len(cvae) - 1):
        title = titles.nth(i).get_attribute("title")
        tile = cvae[i]
        assert title.startswith(tile["verdict"]) and f"read: {tile['read']}" in title
        assert f"requested: {tile['requested']}" in title and f"RMS {tile['rms']:g}" in title
        if tile["reason"]:
            assert tile["reason"] in title
    # a hovered sample shows its reading as the browser's tooltip
    _load_images(page)
    titles.nth(0).hover()
    lines = page.locator('[data-samples="facts"] li[data-verdict]')
    assert lines.count() > 0
    facts = cells[("lm", "facts")]
    shown = page.locator('[data-samples="facts"] figure[data-model="lm"] li')
    for i, reading in enumerate(facts["sample_text_readings"]):
        item = shown.nth(i)
        assert item.get_attribute("data-verdict") == reading["verdict"]
        assert item.locator(".tag").inner_text() == reading["verdict"]
        if reading["reason"]:
            assert reading["reason"] in item.get_attribute("title")


def test_summary_sentences_match_the_numbers_in_results_json(page, report_file):
    _, results = report_file
    checked = 0
    for dataset in dict.fromkeys(r["dataset"] for r in results["leaderboard"]):
        text = page.locator(f'p[data-summary="{dataset}"]').inner_text()
        assert text.startswith(f"On {dataset}, ")
        models = [r for r in _leaderboard(results, dataset) if not r["calibration"]]
        for name, pick, phrase in (("hallucination_rate", min, "has the lowest hallucination rate ({})"),
                                   ("true_rate", max, "has the highest true rate ({})")):
            ranked = [r for r in models if name in r["metrics"]]
            if len(ranked) > 1:
                top = pick(r["metrics"][name]["mean"] for r in ranked)
                best = [r for r in ranked if r["metrics"][name]["mean"] == top]
                value = fmt_mean_std(best[0]["metrics"][name])
                if len(best) == len(ranked):  # a tie of every model ranks nothing
                    assert f"all models tie on {name.replace('_', ' ')} ({value})" in text
                else:
                    who = " and ".join(r["model"] for r in best)
                    phrase = phrase if len(best) == 1 else phrase.replace("has", "have")
                    assert f"{who} " + phrase.format(value) in text
                checked += 1
        fd = results["extractors"].get(dataset, {}).get("metric_name")
        ranked = [r for r in models if fd in r["metrics"]]
        if len(ranked) > 1:
            best = min(ranked, key=lambda r: r["metrics"][fd]["mean"])
            assert (f"{best['model']} is closest to the data (FD_{fd[3:]} "
                    f"{fmt_mean_std(best['metrics'][fd])})") in text
            checked += 1
        takers = [r for r in models if "controllability" in r["metrics"] and "factor_match" not in r["metrics"]]
        if len(takers) == 1:
            assert (f"{takers[0]['model']} is the only model that takes requests (controllability "
                    f"{fmt_mean_std(takers[0]['metrics']['controllability'])})") in text
            checked += 1
    assert checked >= 4


def test_clicking_a_header_sorts_numerically_and_toggles(page):
    header = page.locator('table[data-table="board-digits"] th[data-metric="fd_digits-cnn"]')
    before = [float(v) for v in _column(page, "digits", "fd_digits-cnn") if v != ""]
    header.locator("button").click()
    ascending = [float(v) for v in _column(page, "digits", "fd_digits-cnn") if v != ""]
    assert ascending == sorted(before)
    assert header.get_attribute("aria-sort") == "ascending"
    header.locator("button").click()
    assert [float(v) for v in _column(page, "digits", "fd_digits-cnn") if v != ""] == sorted(before, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"


def test_blank_values_sort_last_both_ways(page):
    # Only the VAEs reconstruct, so every other row has no PSNR.
    page.locator('details[data-details="digits"] summary').click()
    table = 'table[data-table="board-digits-reconstruction"]'
    header = page.locator(f'{table} th[data-metric="psnr"]')
    for _ in range(2):
        header.locator("button").click()
        values = page.evaluate(f"""() => [...document.querySelector('{table}').tBodies[0].rows]
                                          .map(r => r.cells[2].getAttribute("data-sort"))""")
        blanks = values.index("")
        assert all(v == "" for v in values[blanks:]) and blanks > 0


def test_worst_offenders_sit_under_each_grid_with_their_reading(page, report_file):
    """The noise row on shapes: the oracle's rejections, framed red, each titled with its reason;
    copy-train on digits: the samples nearest a training image over those images, all memorized."""
    _, results = report_file
    cells = _lowest_seed_cells(results)
    shown = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("[data-offenders]")].map(o => [
             o.closest("[data-samples]").dataset.samples + "/" + o.dataset.offenders,
             {titles: [...o.querySelectorAll(".tile")].map(t => t.title),
              colors: [...o.querySelectorAll(".tile")].map(t => getComputedStyle(t).outlineColor),
              rows: [...o.querySelectorAll("ol.rows li")].map(l => l.textContent),
              csv: o.querySelector("a") && o.querySelector("a").getAttribute("href")}]))""")
    noise, oracle = shown["shapes/noise"], cells[("noise", "shapes")]["offenders"]["oracle"]
    assert noise["rows"][0].startswith(f"rejected by the oracle: {oracle['n_rejected']} of {oracle['n']} samples")
    for title, color, sample in zip(noise["titles"], noise["colors"], oracle["samples"]):
        assert title.startswith("hallucinated") and sample["reason"] in title and color == "rgb(224, 0, 0)"
    copy = shown["digits/copy-train"]
    assert copy["rows"][0].startswith("the samples nearest a training image") and len(copy["rows"]) == 2
    assert all("distance 0 · memorized" in t for t in copy["titles"])
    assert copy["csv"] == cells[("copy-train", "digits")]["per_sample_csv"]
    _load_images(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator('[data-samples="shapes"] figure[data-model="noise"]').screenshot(
        path=str(ARTIFACTS / "report-offenders.png"))


def test_images_load_lazily_below_the_first_screen(page):
    lazy = page.evaluate("[...document.images].filter(i => i.loading !== 'lazy').length")
    assert lazy == 0  # the first screen needs none of them: the page's load event waits for none
    _load_images(page)
    sizes = page.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth, i.alt])")
    assert len(sizes) >= 10
    assert all(complete and width > 0 for complete, width, _ in sizes), sizes


def test_script_in_a_model_name_is_text_and_never_runs(page):
    cell = page.locator('table[data-table="board-digits"] td', has_text=HOSTILE_NAME)
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
    _load_images(page)
    page.locator("#samples").screenshot(path=str(ARTIFACTS / "report-samples.png"))
    # Recorded, not asserted: timings belong in bench/, not in test outcomes.
    (ARTIFACTS / "report-timing.json").write_text(json.dumps(timing, indent=2) + "\n")
