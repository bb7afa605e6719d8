"""run_suite: the one entry point that turns a suite into reports/<run-id>/ (results, leaderboard, report)."""
from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import write_json
from ..errors import UserError
from ..performance import performance_rows, time_to_quality
from ..runtime import git_commit, library_versions, machine_info, setup_runtime
from .aggregate import leaderboard_rows, validity_rows
from .cell import resolve_config
from .context import get_context
from .executor import LocalExecutor
from .suite import Suite

SCHEMA_VERSION = 1


def _executor(name: str, ray_address=None, workers=1):
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        if workers not in (1, "auto"):
            raise UserError(f"--workers {workers}: only for --executor local; Ray runs as many cells at "
                            "once as the cluster has room for")
        from .ray_executor import RayExecutor

        return RayExecutor(address=ray_address)
    raise UserError(f"--executor: expected local or ray, got {name!r}")


def _new_run_dir(out_root: Path, name: str, config_hash: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{name}-{config_hash[:6]}"
    run_dir, k = out_root / base, 1
    while run_dir.exists():
        k += 1
        run_dir = out_root / f"{base}-{k}"
    run_dir.mkdir(parents=True)
    return run_dir


def _point_latest(out_root: Path, run_dir: Path) -> None:
    link, tmp = out_root / "latest", out_root / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)


def run_suite(suite: Suite, out_root="reports", cells_dir=None, device="auto", threads=None, compile=False,
              data_root=None,
              inception_weights=None, executor="local", ray_address=None, force=False, progress=True,
              history=True, baseline=None, workers=1, log=print) -> tuple[Path, dict]:
    """workers: worker processes of the local executor, an integer or "auto" (the CLI's default)."""
    t_start = time.perf_counter()
    out_root = Path(out_root)
    if baseline is not None:  # read before any training, so that a bad path costs nothing
        from ..gate import load_results

        baseline = load_results(baseline, what="--baseline")
    cells_dir = Path(cells_dir) if cells_dir else out_root / "cells"
    runtime = setup_runtime(device, threads, compile=compile)
    cell_executor = _executor(executor, ray_address, workers)  # a bad --executor/--workers costs nothing
    phases = {}

    t0 = time.perf_counter()
    contexts = {ds: get_context(ds, opts, data_root, runtime.device, inception_weights, log=log)
                for ds, opts in suite.datasets.items()}
    phases["data_and_extractors"] = round(time.perf_counter() - t0, 3)

    jobs = []
    for spec in suite.cells:
        ctx = contexts[spec.dataset]
        resolve_config(spec, ctx.dataset)  # a config error stops the run before any cell trains
        config_hash = spec.config_hash(ctx.dataset.fingerprint(), runtime.device)
        jobs.append((spec, ctx, cells_dir / spec.dataset / f"{spec.model}-s{spec.seed}-{config_hash}"))
    t0 = time.perf_counter()
    cells = cell_executor.run(jobs, runtime, force=force, progress=progress, log=log)
    phases["cells"] = round(time.perf_counter() - t0, 3)

    for cell, (spec, ctx, cell_dir) in zip(cells, jobs):
        cell["cell_dir"] = str(cell_dir)
        cell["samples_png_source"] = str(cell_dir / "grid.png")
    suite_info = {"name": suite.name, "path": suite.path, "config_hash": suite.config_hash}
    return finish_run(out_root, suite_info, cells, contexts, runtime, phases, t_start,
                      executor=executor, workers=getattr(cell_executor, "workers_used", None), history=history,
                      baseline=baseline, log=log)


def finish_run(out_root: Path, suite_info: dict, cells: list[dict], contexts: dict, runtime, phases: dict,
               t_start: float, executor: str = "local", workers: int | None = None, history: bool = True,
               baseline: dict | None = None, log=print) -> tuple[Path, dict]:
    """Cells -> reports/<run-id>/ with results.json, leaderboard and report; point reports/latest at it.

    workers: how many worker processes ran the cells (local executor), recorded next to threads."""
    t0 = time.perf_counter()
    run_dir = _new_run_dir(Path(out_root), suite_info["name"], suite_info["config_hash"])
    for cell in cells:
        grid = Path(cell.pop("samples_png_source", "") or "/nonexistent")
        if grid.is_file():
            name = f"{cell['model']}-{cell['dataset']}-s{cell['seed']}.png"
            (run_dir / "samples").mkdir(exist_ok=True)
            shutil.copyfile(grid, run_dir / "samples" / name)
            cell["samples_png"] = f"samples/{name}"
        cell.pop("cached", None)
    results = {
        "schema_version": SCHEMA_VERSION, "run_id": run_dir.name,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "suite": suite_info, "git_commit": git_commit(), "versions": library_versions(),
        "machine": machine_info(), "executor": executor,
        "runtime": {**runtime.record(), **({"workers": workers} if workers is not None else {})},
        "extractors": {ds: {"tag": ext.tag, "metric_name": ext.metric_name,
                            **{k: v for k, v in ext.info.items() if k != "config"}}
                       for ds, ctx in contexts.items() for ext in ctx.extractors[:1]},
        "cells": cells, "leaderboard": leaderboard_rows(cells),
    }
    _add_validity(results)
    performance = performance_rows(Path(out_root) / "bench")
    if performance:
        results["performance"] = performance
    reached = time_to_quality(cells)
    if reached:
        results["time_to_quality"] = reached
    phases["aggregate"] = round(time.perf_counter() - t0, 3)
    results["phases"] = phases
    t0 = time.perf_counter()
    write_json(run_dir / "results.json", results)
    _write_report(run_dir, results, Path(out_root), history, baseline)
    phases["report"] = round(time.perf_counter() - t0, 3)
    phases["total"] = round(time.perf_counter() - t_start, 3)
    write_json(run_dir / "results.json", results)
    _point_latest(Path(out_root), run_dir)
    return run_dir, results


def _add_validity(results: dict) -> None:
    table = validity_rows(results["cells"])
    if table:
        results["validity"] = table


def _write_report(run_dir: Path, results: dict, out_root: Path, history: bool, baseline: dict | None) -> None:
    series = None
    if history:
        from ..history import append_run, history_series_for

        db = out_root / "history.sqlite"
        append_run(db, results)
        series = history_series_for(db, results)
    from ..report import write_report

    write_report(run_dir, results, history_series=series, baseline=baseline)
