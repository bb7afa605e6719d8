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

import os
from pathlib import Path

from ..errors import UserError
from .executor import SuiteProgress, cells_to_run, lost_cell_result, run_cell_task, task_args

DEFAULT_MAX_RETRIES = 2
# Environment the workers need to see as the driver does: the extractor cache and data locations.
PASSED_ENV_PREFIXES = ("AIGC_EVAL_",)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray: Ray is not installed; pip install 'aigc-eval[ray]'") from None
    return ray


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
        results, todo = cells_to_run(jobs, force, log, "on Ray")
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
        return task.remote(*task_args(spec, ctx, cell_dir, runtime, force))

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
        return lost_cell_result(spec, ctx, Path(cell_dir), error)
