"""Run cells as Ray tasks: one task per cell, on a local or remote Ray cluster.

Same semantics as LocalExecutor: one result dict per job, in job order; finished cells are not
submitted; a failed or diverged cell does not stop the others. A task whose worker process dies
is retried up to `max_retries` times (it resumes from the cell's checkpoint), then the cell is
marked failed. Ctrl-C cancels the outstanding tasks and re-raises, keeping finished cells.

Workers rebuild the runtime and the dataset context from `EvalContext.source`; the driver has
already trained and cached the extractor under $AIGC_EVAL_CACHE, so workers only load it.
Results come back as task results, so the driver alone writes history and reports.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..atomic import write_json
from ..errors import UserError
from ..models import MODELS
from ..runtime import setup_runtime
from .cell import new_result, run_cell
from .context import get_context

DEFAULT_MAX_RETRIES = 2
# Environment the workers need to see as the driver does: the extractor cache and data locations.
PASSED_ENV_PREFIXES = ("AIGC_EVAL_",)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray: Ray is not installed; pip install 'aigc-eval[ray]'") from None
    return ray


def run_cell_task(spec, source: dict, cell_dir: str, device: str, threads: int, compile_networks: bool,
                  force: bool, models: dict) -> tuple[dict, list[str]]:
    """The body of one Ray task: rebuild runtime and context in the worker, run the cell.

    `models` carries the classes of the cell's models, so models registered only in the driver
    (a user script's own model) run too. Log lines come back with the result for the driver to print.
    """
    for name, cls in models.items():
        if name not in MODELS:
            MODELS.register(name, cls)
    runtime = setup_runtime(device, threads, compile=compile_networks)
    lines: list[str] = []
    ctx = get_context(**source, log=lines.append)  # cached per worker process by get_context
    result = run_cell(spec, ctx, cell_dir, runtime, force=force, progress=False, log=lines.append)
    return result, lines


def finished_result(cell_dir: Path) -> dict | None:
    """The cell's stored result when it is done (visible here only with shared storage), else None."""
    path = cell_dir / "cell.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    return {**result, "cached": True} if result.get("status") == "done" else None


def lost_cell_result(spec, ctx, cell_dir: Path, error: str) -> dict:
    """The result of a cell whose task never returned one (its worker died on every attempt)."""
    return new_result(spec, ctx, cell_dir, status="failed", error=error)


class SuiteProgress:
    """Cells done, running and failed over the whole suite, with an ETA from the completions so far.

    The executor does not ask Ray which queued task has started, so `running` is the number of
    outstanding tasks that fit the cluster's slots at once (CPUs / threads per cell, or GPUs).
    """

    def __init__(self, total: int, slots: int, show_bar: bool, log):
        self.total, self.slots, self.log = total, max(slots, 1), log
        self.done = self.failed = 0
        self.t0 = time.perf_counter()
        self.bar = None
        if show_bar and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="cells", unit="cell", dynamic_ncols=True)
            self.bar.set_postfix(self.counts())

    def counts(self) -> dict:
        outstanding = self.total - self.done - self.failed
        return {"done": self.done, "running": min(outstanding, self.slots), "failed": self.failed}

    def eta_s(self) -> float | None:
        finished = self.done + self.failed
        return None if not finished else (time.perf_counter() - self.t0) / finished * (self.total - finished)

    def finished(self, name: str, result: dict) -> None:
        if result["status"] == "done":
            self.done += 1
        else:
            self.failed += 1
        counts, eta = self.counts(), self.eta_s()
        if self.bar is not None:
            self.bar.set_postfix(counts, refresh=False)
            self.bar.update(1)
        state = result["status"] if result["status"] == "done" else f"{result['status']}: {result['error']}"
        summary = ", ".join(f"{k} {v}" for k, v in counts.items())
        self.log(f"[{self.done + self.failed}/{self.total}] {name}: {state} ({summary}, ETA {eta:.0f}s)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
                 env_vars: dict | None = None):
        """address: None starts a local cluster with all CPUs; "auto" or "HOST:PORT" connects to one.

        max_retries: how often a cell whose worker process died is re-run before it is marked failed.
        env_vars: extra environment for the workers, on top of the driver's AIGC_EVAL_* variables.
        """
        self.ray = _import_ray()
        if max_retries < 0:
            raise UserError(f"RayExecutor max_retries: expected a non-negative integer, got {max_retries}")
        self.address, self.max_retries = address, max_retries
        self.env_vars = {**{k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV_PREFIXES)},
                         **(env_vars or {})}

    def _connect(self) -> bool:
        """Start or join the cluster unless this process already has; True when we must shut it down."""
        ray = self.ray
        if ray.is_initialized():
            return False
        try:
            if self.address is None:
                ray.init(num_cpus=os.cpu_count())
            else:
                ray.init(address=self.address)
        except ConnectionError as exc:
            raise UserError(f"--ray-address {self.address}: cannot connect to a Ray cluster ({exc})") from None
        return True

    def _slots(self, runtime) -> int:
        resources = self.ray.cluster_resources()
        if runtime.device == "cuda":
            return int(resources.get("GPU", 0))
        return int(resources.get("CPU", 0) // runtime.threads)

    def run(self, jobs, runtime, force=False, progress=True, log=print) -> list[dict]:
        """jobs: list of (spec, ctx, cell_dir). Returns one result dict per job, in job order."""
        results: list[dict | None] = [None] * len(jobs)
        if not force:
            for i, (_, _, cell_dir) in enumerate(jobs):
                results[i] = finished_result(Path(cell_dir))
        todo = [i for i, r in enumerate(results) if r is None]
        if len(todo) < len(jobs):
            log(f"{len(jobs) - len(todo)} of {len(jobs)} cells already done; running {len(todo)} on Ray")
        if not todo:
            return results
        owns_cluster = self._connect()
        try:
            self._run_tasks(jobs, todo, results, runtime, force, progress, log)
        finally:
            if owns_cluster:
                self.ray.shutdown()
        return results

    def _submit(self, task, spec, ctx, cell_dir: Path, runtime, force: bool):
        resources = {"num_gpus": 1} if runtime.device == "cuda" else {"num_cpus": runtime.threads}
        task = task.options(**resources, max_retries=self.max_retries, retry_exceptions=False,
                            runtime_env={"env_vars": self.env_vars}, name=spec.name)
        # Workers may start in another folder: give them absolute paths.
        source = {**ctx.source, **{k: str(Path(ctx.source[k]).resolve())
                                   for k in ("data_root", "inception_weights") if ctx.source.get(k)}}
        return task.remote(spec, source, str(cell_dir.resolve()), runtime.device, runtime.threads, runtime.compile,
                           force,
                           {spec.model: MODELS.get(spec.model)})

    def _run_tasks(self, jobs, todo, results, runtime, force, progress, log) -> None:
        ray = self.ray
        task = ray.remote(run_cell_task)
        pending = {self._submit(task, *jobs[i][:2], Path(jobs[i][2]), runtime, force): i for i in todo}
        status = SuiteProgress(len(pending), self._slots(runtime), progress, log)
        try:
            while pending:
                # A short timeout keeps the driver responsive to Ctrl-C between completions.
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    i = pending.pop(ref)
                    results[i] = self._collect(ref, jobs[i], log)
                    status.finished(jobs[i][0].name, results[i])
        except BaseException:  # Ctrl-C, or a UserError from a cell: stop the rest, keep what finished
            for ref in pending:
                # force=True kills the worker process. A plain cancel raises KeyboardInterrupt inside
                # the task, which can land mid-import (torch lazily imports sympy) and leave a
                # half-initialised module that breaks every later task of that reused worker.
                ray.cancel(ref, force=True)
            raise
        finally:
            status.close()

    def _collect(self, ref, job, log) -> dict:
        ray = self.ray
        spec, ctx, cell_dir = job
        try:
            result, lines = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the task raised: a user error stops the suite
            if isinstance(exc.cause, UserError):
                raise exc.cause from None
            error = f"{type(exc.cause).__name__}: {exc.cause}".splitlines()[0]
        except ray.exceptions.RayError as exc:  # the worker process died on every attempt
            error = (f"worker died {self.max_retries + 1} time(s) running this cell "
                     f"({type(exc).__name__}: {str(exc).strip().splitlines()[0]})")
        else:
            for line in lines:
                log(line)
            return result
        result = lost_cell_result(spec, ctx, Path(cell_dir), error)
        Path(cell_dir).mkdir(parents=True, exist_ok=True)
        write_json(Path(cell_dir) / "cell.json", result)
        return result
