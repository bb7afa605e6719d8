"""Executors run cells. `local` runs them here: in order in this process (workers=1), or in a pool of
worker processes (workers=N); `ray` (aigc_eval.harness.ray_executor) runs them as Ray tasks. All
return one result dict per cell, in the order given, and the same numbers.

The pieces both process-based executors share live here: the body of one remote cell
(`run_cell_task`), the paths and models a worker needs, finished and lost cells, suite progress.

Workers rebuild the runtime and the dataset context from `EvalContext.source`. The driver has
already trained and cached every extractor under $AIGC_EVAL_CACHE (runner.get_context runs before
any cell), so workers only load them: two workers never train the same extractor.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import threading
import time
from collections import deque
from pathlib import Path

from ..atomic import write_json
from ..errors import UserError
from ..models import MODELS
from ..runtime import setup_runtime
from .cell import new_result, read_cell_json, run_cell
from .tracks import get_context

# Peak RSS of one worker process running default-suite cells (digits, shapes and facts loaded,
# extractors, one model and its evaluation), measured at ~0.9 GiB; rounded up for headroom.
WORKER_MEMORY_MB = 1536
# Fallback cost of one training example when no earlier cell of the same model and dataset has been
# measured: a DCGAN on digits (200 steps x 64 in 8.4 s on the 2-core machine).
TYPICAL_S_PER_EXAMPLE = 6.6e-4
EVAL_S = 0.3  # sampling and scoring a cell, typical
# Starting a worker (spawn, import torch, rebuild the dataset context, first-use imports) cost 3.4 s
# more than the same first cell in-process. Two workers save at most half the cells' time, so below
# this estimate (about 3x the break-even, for contention and the last cell) none is started: the
# smoke suite (~13 s of cells, estimated 19 s) runs in-process.
MIN_PARALLEL_S = 20.0


def run_cell_task(spec, source: dict, cell_dir: str, device: str, threads: int, compile_networks: bool,
                  force: bool, models: dict) -> tuple[dict, list[str]]:
    """The body of one cell in a worker process: rebuild runtime and context there, run the cell.

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


def task_args(spec, ctx, cell_dir, runtime, force: bool) -> tuple:
    """run_cell_task's arguments for one job. Workers may start in another folder: absolute paths."""
    source = {**ctx.source, "extractors": ctx.source["extractors"].resolved(),
              **({"data_root": str(Path(ctx.source["data_root"]).resolve())} if ctx.source.get("data_root") else {})}
    return (spec, source, str(Path(cell_dir).resolve()), runtime.device, runtime.threads, runtime.compile,
            force, {spec.model: MODELS.get(spec.model)})


def finished_result(cell_dir: Path, log=print) -> dict | None:
    """The cell's stored result when it is done, else None (an unreadable cell.json is moved aside)."""
    result = read_cell_json(Path(cell_dir), log)
    if result is None:
        return None
    return {**result, "cached": True} if result.get("status") == "done" else None


def lost_cell_result(spec, ctx, cell_dir: Path, error: str) -> dict:
    """The result of a cell whose worker never returned one (it died), also stored as its cell.json."""
    result = new_result(spec, ctx, cell_dir, status="failed", error=error).to_json()
    Path(cell_dir).mkdir(parents=True, exist_ok=True)
    write_json(Path(cell_dir) / "cell.json", result)
    return result


def cells_to_run(jobs, force: bool, log, where: str) -> tuple[list, list[int]]:
    """(results with finished cells filled in, indices of the jobs still to run)."""
    results: list[dict | None] = [None] * len(jobs)
    if not force:
        for i, (_, _, cell_dir) in enumerate(jobs):
            results[i] = finished_result(Path(cell_dir), log)
    todo = [i for i, r in enumerate(results) if r is None]
    if len(todo) < len(jobs):
        log(f"{len(jobs) - len(todo)} of {len(jobs)} cells already done; running {len(todo)} {where}")
    return results, todo


class SuiteProgress:
    """Cells done, running and failed over the whole suite, with an ETA from the completions so far.

    `running` is the number of outstanding cells that fit the slots at once (worker processes, or
    for Ray the cluster's CPUs / threads per cell, or GPUs).
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

    def finished(self, name: str, result: dict, seconds: float | None = None) -> None:
        if result["status"] == "done":
            self.done += 1
        else:
            self.failed += 1
        counts, eta = self.counts(), self.eta_s()
        if self.bar is not None:
            self.bar.set_postfix(counts, refresh=False)
            self.bar.update(1)
        state = result["status"] if result["status"] == "done" else f"{result['status']}: {result['error']}"
        took = "" if seconds is None else f"{seconds:.0f} s; "
        summary = ", ".join(f"{k} {v}" for k, v in counts.items())
        self.log(f"[{self.done + self.failed}/{self.total}] {name}: {state} ({took}{summary}, ETA {eta:.0f}s)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _measured_s_per_example(spec, cell_dir: Path) -> float | None:
    """Training seconds per example of earlier finished cells of this model and dataset (any seed or
    config) in the same cells folder: the median, or None when there is none."""
    rates = []
    for path in Path(cell_dir).parent.glob(f"{spec.model}-s*/cell.json"):
        try:
            cell = json.loads(path.read_text())
            work = cell["config"]["train"]["steps"] * cell["config"]["train"]["batch_size"]
            if cell["model"] == spec.model and cell["status"] == "done" and work and cell["wall"].get("train"):
                rates.append(cell["wall"]["train"] / work)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a half-written or foreign file says nothing about the cost
    return statistics.median(rates) if rates else None


def estimated_seconds(spec, cell_dir) -> float:
    """A cheap cost estimate of one cell, for longest-first scheduling: steps x batch size times the
    rate measured by earlier cells of the same model and dataset, else a typical rate. (Steps x batch
    alone misorders the default suite: WGAN-GP's 80 steps take 7x as long as the VAE's 300.)"""
    work = spec.train.get("steps", 0) * spec.train.get("batch_size", 0)
    if not work:
        return EVAL_S
    rate = _measured_s_per_example(spec, cell_dir)
    return work * (TYPICAL_S_PER_EXAMPLE if rate is None else rate) + EVAL_S


def available_memory_mb() -> float | None:
    """MemAvailable (free plus reclaimable cache) from /proc/meminfo; None where there is none."""
    try:
        with open("/proc/meminfo") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
        return int(fields["MemAvailable"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return None


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under taskset or a container), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def auto_workers(estimates: list[float], runtime) -> tuple[int, str]:
    """`--workers auto`: (worker count, why). The fewest of: the cells to run; usable CPUs per
    `--threads`; idle CPUs (from the 1-minute load average) plus one; memory for WORKER_MEMORY_MB each.
    1 when the cells' estimated time is under MIN_PARALLEL_S, and on CUDA (workers would share one GPU;
    pass --workers N to share it).

    The idle-CPU term is measured: on 2 cores with other users' training busy in another scheduler
    group (Linux autogroup), two workers together got the one core one worker gets, and a DCGAN ran
    0.82x as fast in total; on the idle machine two ran 1.95x as fast."""
    if runtime.device == "cuda":
        return 1, "one GPU"
    total = sum(estimates)
    if total < MIN_PARALLEL_S:
        return 1, f"~{total:.0f} s of cells, less than starting workers costs"
    cpus = usable_cpus()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    memory = available_memory_mb()
    limits = {"cells": len(estimates), "CPUs": cpus // runtime.threads,
              "idle CPUs + 1": 1 + int(max(cpus - load, 0) // runtime.threads)}
    if memory is not None:
        limits["memory"] = int(memory // WORKER_MEMORY_MB)
    n = max(1, min(limits.values()))
    why = f"{len(estimates)} cells, {cpus} CPUs, load {load:.1f}"
    if memory is not None:
        why += f", {memory / 1024:.0f} GiB free"
    return n, f"{why}; limited by {', '.join(k for k, v in limits.items() if v <= n)}"


# How often a worker checks that its driver is still there (a daemon thread; negligible CPU).
PARENT_POLL_S = 1.0


def _worker_init(driver: int) -> None:
    # Ctrl-C in a terminal reaches every process of the group; the driver alone decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(driver,), daemon=True,
                     name="aigc-eval-parent-watch").start()


def _exit_when_orphaned(driver: int) -> None:
    """End this worker once its driver is gone (killed with SIGKILL, or crashed), instead of training
    on for minutes with no one to take the result: a dead parent means this process was re-parented
    (possibly before this worker got here, hence the driver's pid from the driver itself).
    Finished cells and checkpoints are already on disk, so the next run resumes from them."""
    while os.getppid() == driver:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


class _WorkerSlot:
    """One worker process: a ProcessPoolExecutor of one, so that a worker's death is pinned on the
    one cell it was running, and the other slots carry on. The process persists across cells (it
    keeps its dataset contexts) until it dies or the run ends."""

    def __init__(self, mp_context):
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(1, mp_context=mp_context, initializer=_worker_init,
                                        initargs=(os.getpid(),))
        self.process = None

    def submit(self, *args):
        future = self.pool.submit(run_cell_task, *args)
        if self.process is None:  # started by submit(); the pool only exposes it privately
            self.process = next(iter((getattr(self.pool, "_processes", None) or {}).values()), None)
        return future

    def death(self) -> str:
        """Why the worker died, in one line."""
        code = None
        if self.process is not None:
            # The pool's own thread reaps the dead process too; whichever waits second sees no exit
            # status until the first has stored it, so poll for it rather than join once.
            deadline = time.monotonic() + 5
            while (code := self.process.exitcode) is None and time.monotonic() < deadline:
                time.sleep(0.05)
        if code is not None and code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = "exited" if code is None else f"exited with code {code}"
        return (f"worker process died while running this cell ({how}; e.g. out of memory, killed, or a "
                f"crash in native code)")

    def close(self, kill: bool = False) -> None:
        if kill and self.process is not None and self.process.is_alive():
            self.process.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int | str = 1):
        """workers: 1 runs the cells one after another in this process; N > 1 in N worker processes
        (spawned: never forked from a process whose torch threads exist); "auto" picks N when the
        run starts (auto_workers)."""
        if workers != "auto" and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise UserError(f"--workers: expected a positive integer or auto, got {workers!r}")
        self.workers = workers
        self.workers_used: int | None = None  # how many ran the last run's cells; recorded in results.json

    def run(self, jobs, runtime, force=False, progress=True, log=print) -> list[dict]:
        """jobs: list of (spec, ctx, cell_dir). Returns one result dict per job, in job order."""
        if self.workers == 1:
            self.workers_used = 1
            return self._run_here(jobs, runtime, force, progress, log)
        results, todo = cells_to_run(jobs, force, log, "now")
        if not todo:
            self.workers_used = 1
            return results
        estimates = {i: estimated_seconds(jobs[i][0], jobs[i][2]) for i in todo}
        wanted = self.workers
        if wanted == "auto":
            wanted, why = auto_workers(list(estimates.values()), runtime)
            log(f"--workers auto: {wanted} ({why})")
        self.workers_used = max(1, min(wanted, len(todo)))
        if self.workers_used == 1:  # one cell (or one CPU) to use: no process is worth starting
            for i, r in zip(todo, self._run_here([jobs[i] for i in todo], runtime, force, progress, log)):
                results[i] = r
            return results
        self._run_pool(jobs, sorted(todo, key=lambda i: -estimates[i]), results, runtime, force, progress, log)
        return results

    @staticmethod
    def _run_here(jobs, runtime, force, progress, log) -> list[dict]:
        results = []
        for i, (spec, ctx, cell_dir) in enumerate(jobs, 1):
            result = run_cell(spec, ctx, cell_dir, runtime, force=force, progress=progress, log=log)
            state = "cached" if result.get("cached") else result["status"]
            log(f"[{i}/{len(jobs)}] {spec.name}: {state}")
            results.append(result)
        return results

    def _run_pool(self, jobs, order, results, runtime, force, progress, log) -> None:
        """Jobs `order` (longest first) over self.workers_used worker processes; fills results[i]."""
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, wait

        queue = deque(order)
        context = multiprocessing.get_context("spawn")
        slots: list[_WorkerSlot | None] = [None] * self.workers_used
        running: dict = {}  # future -> (job index, slot index, start time)
        status = SuiteProgress(len(order), self.workers_used, progress, log)
        try:
            while queue or running:
                busy = {k for _, k, _ in running.values()}
                for k in range(len(slots)):
                    if queue and k not in busy:
                        slots[k] = slots[k] or _WorkerSlot(context)
                        i = queue.popleft()
                        running[slots[k].submit(*task_args(*jobs[i], runtime, force))] = (i, k, time.perf_counter())
                # A short timeout keeps the driver responsive to Ctrl-C between completions.
                done, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    i, k, t0 = running.pop(future)
                    results[i] = self._collect(future, jobs[i], slots, k, log)
                    status.finished(jobs[i][0].name, results[i], time.perf_counter() - t0)
        except BaseException:  # Ctrl-C, or a UserError from a cell: stop the rest, keep what finished
            for slot in slots:
                if slot is not None:
                    slot.close(kill=True)
            raise
        finally:
            status.close()
        for slot in slots:
            if slot is not None:
                slot.close()

    @staticmethod
    def _collect(future, job, slots, k, log) -> dict:
        from concurrent.futures.process import BrokenProcessPool

        spec, ctx, cell_dir = job
        try:
            result, lines = future.result()
        except BrokenProcessPool:
            error = slots[k].death()
            slots[k].close()
            slots[k] = None  # the next cell of this slot gets a fresh worker
        except UserError:
            raise
        except Exception as exc:  # the cell could not be sent to or returned from the worker
            error = f"could not run in a worker process: {type(exc).__name__}: {exc}".splitlines()[0]
        else:
            for line in lines:
                log(line)
            return result
        log(f"{spec.name}: failed: {error}")
        return lost_cell_result(spec, ctx, Path(cell_dir), error)
