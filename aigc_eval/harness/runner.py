"""run_suite: the one entry point that turns a suite into reports/<run-id>/ (results, leaderboard, report)."""
from __future__ import annotations

import errno
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import write_json
from ..errors import UserError
from ..features.choice import ExtractorChoice
from ..history import append_run, history_series_with
from ..performance import performance_rows, time_to_quality
from ..report import write_report
from ..results import CellResult, RunResults, load_results
from ..runtime import git_commit, library_versions, machine_info, setup_runtime
from ..validate import inside, safe_name
from ..validity import validity_rows
from .cell import resolve_config
from .tracks import get_context
from .executor import LocalExecutor
from .ray_executor import RayExecutor
from .suite import Suite


def _executor(name: str, ray_address=None, workers=1):
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        if workers not in (1, "auto"):
            raise UserError(f"--workers {workers}: only for --executor local; Ray runs as many cells at "
                            "once as the cluster has room for")
        return RayExecutor(address=ray_address)
    raise UserError(f"--executor: expected local or ray, got {name!r}")


STAGING_PREFIX = ".incomplete-"


def _run_id(out_root: Path, name: str, config_hash: str, k: int = 1) -> str:
    """<UTC stamp>-<safe suite name>-<hash>[-k]: one path component, whatever the suite's name is."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{safe_name(name, fallback='suite')}-{safe_name(config_hash[:6], fallback='0')}"
    run_id = base if k == 1 else f"{base}-{k}"
    while (out_root / run_id).exists():
        k += 1
        run_id = f"{base}-{k}"
    return run_id


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_orphans(out_root: Path, log=print) -> int:
    """Remove what killed runs left under `out_root`: their staging folders and `latest` temp links.

    A staging folder is named .incomplete-<run-id>-<pid>; it is an orphan once that process is gone."""
    removed = 0
    if not out_root.is_dir():
        return 0
    for path in out_root.iterdir():
        name = path.name
        if not (name.startswith(STAGING_PREFIX) or name.startswith(".latest-")):
            continue
        pid = name.rsplit("-", 1)[-1]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    if removed:
        log(f"removed {removed} incomplete run folder(s) left in {out_root} by interrupted runs")
    return removed


def _point_latest(out_root: Path, run_dir: Path) -> None:
    link, tmp = out_root / "latest", out_root / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)


def _publish(staging: Path, out_root: Path, results: dict) -> Path:
    """Rename the finished staging folder into place: the run becomes visible only when complete.

    Should another run have taken the id meanwhile, the next free one is used (results.json says which)."""
    for k in range(1, 1000):
        run_dir = inside(out_root, out_root / results["run_id"])
        if not run_dir.exists():
            try:
                os.rename(staging, run_dir)
                return run_dir
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        results["run_id"] = _run_id(out_root, results["suite"]["name"], results["suite"]["config_hash"], k + 1)
        write_json(staging / "results.json", results)
    raise UserError(f"--out {out_root}: could not find a free run folder name")


def run_suite(suite: Suite, out_root="reports", cells_dir=None, device="auto", threads=None, compile=False,
              data_root=None,
              inception_weights=None, extractor_weights=None, executor="local", ray_address=None, force=False, progress=True,
              history=True, baseline=None, workers=1, log=print) -> tuple[Path, dict]:
    """workers: worker processes of the local executor, an integer or "auto" (the CLI's default);
    extractor_weights: the weights file of the suite's extractor, when it loads one."""
    t_start = time.perf_counter()
    out_root = Path(out_root)
    if baseline is not None:  # read before any training, so that a bad path costs nothing
        baseline = load_results(baseline, what="--baseline")
    cells_dir = Path(cells_dir) if cells_dir else out_root / "cells"
    choice = ExtractorChoice(suite.eval["extractor"], extractor_weights, inception_weights)
    choice.check()
    runtime = setup_runtime(device, threads, compile=compile)
    cell_executor = _executor(executor, ray_address, workers)  # a bad --executor/--workers costs nothing
    phases = {}

    t0 = time.perf_counter()
    contexts = {ds: get_context(ds, opts, data_root, runtime.device, choice, log=log)
                for ds, opts in suite.datasets.items()}
    phases["data_and_extractors"] = round(time.perf_counter() - t0, 3)

    jobs = []
    for spec in suite.cells:
        ctx = contexts[spec.dataset]
        resolve_config(spec, ctx.dataset)  # a config error stops the run before any cell trains
        config_hash = spec.config_hash(ctx.dataset.fingerprint(), runtime.device)
        jobs.append((spec, ctx, cells_dir / spec.dataset / f"{spec.model}-s{spec.seed}-{config_hash}"))
    _note_caps(suite, contexts, log)
    t0 = time.perf_counter()
    cells = cell_executor.run(jobs, runtime, force=force, progress=progress, log=log)
    phases["cells"] = round(time.perf_counter() - t0, 3)

    for cell, (spec, ctx, cell_dir) in zip(cells, jobs):
        cell["cell_dir"] = str(cell_dir)
        cell["samples_png_source"] = str(cell_dir / "grid.png")
    suite_info = {"name": suite.name, "path": suite.path, "config_hash": suite.config_hash, **suite.report_views}
    return finish_run(out_root, suite_info, cells, contexts, runtime, phases, t_start,
                      executor=executor, workers=getattr(cell_executor, "workers_used", None), history=history,
                      baseline=baseline, log=log)


def _note_caps(suite: Suite, contexts: dict, log) -> None:
    """Say so when a sample count is larger than the data it is drawn against: it is capped, not used."""
    said = set()
    keys = ["n_samples"] + (["checkpoint_samples"] if "checkpoint_samples" in suite.raw.get("eval", {}) else [])
    for spec in suite.cells:
        available = len(contexts[spec.dataset].real_test[0])
        for key in keys:
            asked = spec.eval[key]
            if asked > available and (spec.dataset, key) not in said:
                said.add((spec.dataset, key))
                log(f"note: [eval] {key} = {asked} is capped to {available}: {spec.dataset} holds "
                    f"{available} held-out examples, and every row is scored on as many as that")


def finish_run(out_root: Path, suite_info: dict, cells: list[dict], contexts: dict, runtime, phases: dict,
               t_start: float, executor: str = "local", workers: int | None = None, history: bool = True,
               baseline: dict | None = None, log=print) -> tuple[Path, dict]:
    """Cells -> reports/<run-id>/ with results.json, leaderboard and report; point reports/latest at it.

    The run is built in a hidden staging folder and renamed into place when complete; only then is
    it appended to the history and `latest` moved to it, so that a kill at any instant leaves either
    no run or a complete one. A write that fails (a full disk, a read-only folder) is one UserError,
    and the runs already there are untouched.

    workers: how many worker processes ran the cells (local executor), recorded next to threads."""
    out_root = Path(out_root)
    try:
        return _finish_run(out_root, suite_info, cells, contexts, runtime, phases, t_start, executor, workers,
                           history, baseline, log)
    except OSError as exc:
        reason = exc.strerror or str(exc).splitlines()[0]
        raise UserError(f"--out {out_root}: cannot write the run ({reason}); earlier runs there are intact") \
            from None


def _finish_run(out_root: Path, suite_info, cells, contexts, runtime, phases, t_start, executor, workers,
                history, baseline, log) -> tuple[Path, dict]:
    t0 = time.perf_counter()
    out_root.mkdir(parents=True, exist_ok=True)
    clean_orphans(out_root, log)
    run_id = _run_id(out_root, suite_info["name"], suite_info["config_hash"])
    staging = inside(out_root, out_root / f"{STAGING_PREFIX}{run_id}-{os.getpid()}")
    staging.mkdir()
    try:
        run_dir, results = _build_run(staging, run_id, out_root, suite_info, cells, contexts, runtime, phases, t_start,
                             t0, executor, workers, history, baseline)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if history:
        append_run(out_root / "history.sqlite", results)
    _point_latest(out_root, run_dir)
    return run_dir, results


def _build_run(staging: Path, run_id: str, out_root: Path, suite_info, cells, contexts, runtime, phases,
               t_start, t0, executor, workers, history, baseline) -> tuple[Path, dict]:
    for cell in cells:
        grid = cell.pop("samples_png_source", None)
        if not grid:  # a row scored by `score`: no cell folder, nothing to copy
            continue
        grid = Path(grid)
        stem = f"{safe_name(cell['model'])}-{safe_name(cell['dataset'])}-s{int(cell['seed'])}"
        for source, key, name in ((grid, "samples_png", f"{stem}.png"),
                                  (grid.with_name("traversal.png"), "traversal_png", f"{stem}-traversal.png"),
                                  (grid.with_name("offenders.png"), "offenders_png", f"{stem}-offenders.png"),
                                  (grid.with_name("per_sample.csv"), "per_sample_csv", f"{stem}-per-sample.csv")):
            if source.is_file():
                (staging / "samples").mkdir(exist_ok=True)
                shutil.copyfile(source, inside(staging, staging / "samples" / name))
                cell[key] = f"samples/{name}"
    run = RunResults(
        run_id=run_id, created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), suite=suite_info,
        git_commit=git_commit(), versions=library_versions(), machine=machine_info(), executor=executor,
        runtime={**runtime.record(), **({"workers": workers} if workers is not None else {})},
        extractors={ds: {"tag": ext.tag, "metric_name": ext.metric_name,
                         **{k: v for k, v in ext.info.items() if k != "config"}}
                    for ds, ctx in contexts.items() for ext in ctx.extractors[:1]},
        cells=[CellResult.from_json(c, f"cell {c.get('model')}-{c.get('dataset')}-s{c.get('seed')}") for c in cells])
    run.validity = validity_rows([c.to_json() for c in run.cells]) or None
    run.performance = performance_rows(out_root / "bench") or None
    run.time_to_quality = time_to_quality([c.to_json() for c in run.cells]) or None
    phases["aggregate"] = round(time.perf_counter() - t0, 3)
    run.phases = phases
    results = run.to_json()
    t0 = time.perf_counter()
    write_json(staging / "results.json", results)
    _write_report(staging, results, out_root, history, baseline)
    phases["report"] = round(time.perf_counter() - t0, 3)
    phases["total"] = round(time.perf_counter() - t_start, 3)
    write_json(staging / "results.json", results)
    return _publish(staging, out_root, results), results


def _write_report(run_dir: Path, results: dict, out_root: Path, history: bool, baseline: dict | None) -> None:
    series = history_series_with(out_root / "history.sqlite", results) if history else None
    write_report(run_dir, results, history_series=series, baseline=baseline)
