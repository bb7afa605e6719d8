"""One (model, dataset, seed) cell: train with checkpoints, sample, evaluate. Independent and resumable.

A cell lives in its own folder named by its config hash:
    checkpoint.pt   model + optimizer state, torch RNG state, step, loss curve (weights_only-loadable)
    cell.json       the finished result (status done | diverged | failed); its presence means "done"
    samples.npz / samples.txt, grid.png
    per_sample.csv  the metrics' per-sample columns (memorization, the oracle); offenders.png their worst
Re-running a finished cell with the same hash does no work. A killed cell resumes from its last
checkpoint and reaches exactly the numbers of an uninterrupted run: batch indices depend only on
(seed, step), and the torch RNG state is restored.
"""
from __future__ import annotations

import json
import math
import os
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from ..atomic import save_with, write_json, write_text
from ..data.local import one_line
from ..errors import UserError
from ..models import MODELS, apply_overrides, default_config
from ..per_sample import write_per_sample_csv
from ..results import CellResult
from .evaluate import evaluate_samples, sample_model
from .tracks import TRACKS
from .memory import peak_mb, reset_peak

MAX_CURVE_POINTS = 200


class Diverged(Exception):
    pass


def resolve_config(spec, ds):
    """The model's documented default for this data shape with the suite's overrides (None: calibration)."""
    cls = MODELS.get(spec.model)
    if cls.kind not in (None, ds.kind):
        raise UserError(f"model {spec.model} is a {cls.kind} model but dataset {ds.name} is {ds.kind} data")
    if cls.calibration:
        return None
    return apply_overrides(default_config(cls, TRACKS[ds.kind].config_key(ds)), spec.model_config,
                           f"[models.{spec.model}]")


def build_model(spec, ctx, runtime):
    cls = MODELS.get(spec.model)
    ds = ctx.dataset
    config = resolve_config(spec, ds)
    if config is None:
        return cls(ds, ctx.real_test, spec.seed), None
    torch.manual_seed(spec.seed)
    model = TRACKS[ds.kind].new_model(cls, config, ds)
    model.setup(runtime.device, amp=runtime.amp, channels_last=runtime.channels_last, compile=runtime.compile)
    return model, config


def batch_for_step(ctx, seed: int, step: int, batch_size: int):
    """The training batch of `step`: a function of (seed, step) only, so resume is exact."""
    return ctx.track.batch(ctx.dataset, np.random.default_rng([seed, step]), batch_size)


def _thin(curves: dict) -> dict:
    n = len(curves.get("step", []))
    if n <= MAX_CURVE_POINTS:
        return curves
    keep = np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS).round().astype(int))
    return {k: [v[i] for i in keep] for k, v in curves.items()}


def train(model, spec, ctx, cell_dir: Path, runtime, progress=True, stop_at_step=None, log=print):
    """Run the training loop from the last checkpoint.

    Returns (curves, checkpoint_metrics, checkpoint_seconds, seconds). checkpoint_seconds holds
    [step, training seconds so far] per checkpoint: the time axis of time to quality, kept apart
    from the metrics because wall time is not reproducible and the metrics are.
    """
    steps, batch_size = spec.train["steps"], spec.train["batch_size"]
    every = spec.train["checkpoint_every"] or steps
    ckpt_path = cell_dir / "checkpoint.pt"
    curves, ckpt_metrics, ckpt_seconds, start, elapsed = {"step": []}, [], [], 0, 0.0
    if ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=True, map_location=runtime.device)
        model.load_checkpoint_state(state["model"])
        torch.set_rng_state(state["rng"])
        curves, start, elapsed = state["curves"], int(state["step"]), float(state["elapsed"])
        ckpt_metrics = json.loads(state["checkpoint_metrics"])
        ckpt_seconds = json.loads(state.get("checkpoint_seconds", "[]"))
        log(f"{spec.name}: resuming from step {start}")
    bar = None
    if progress and steps > start:
        from tqdm import tqdm

        bar = tqdm(total=steps, initial=start, desc=spec.name, leave=False, dynamic_ncols=True)
    t0 = time.perf_counter()
    for step in range(start, steps):
        x, y = batch_for_step(ctx, spec.seed, step, batch_size)
        losses = model.train_step(x, y)
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if bad:
            raise Diverged(f"{bad[0]} became {losses[bad[0]]} at step {step + 1}")
        curves["step"].append(step + 1)
        for k, v in losses.items():
            curves.setdefault(k, []).append(v)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(losses, refresh=False)
        if (step + 1) % every == 0 or step + 1 == steps:
            train_time = elapsed + time.perf_counter() - t0
            point = checkpoint_eval(model, spec, ctx, step + 1)
            if point:
                ckpt_metrics.append(point)
            ckpt_seconds.append([step + 1, round(train_time, 3)])
            state = {"model": model.checkpoint_state(), "rng": torch.get_rng_state(), "step": step + 1,
                     "curves": curves, "elapsed": train_time, "checkpoint_metrics": json.dumps(ckpt_metrics),
                     "checkpoint_seconds": json.dumps(ckpt_seconds)}
            save_with(ckpt_path, lambda tmp: torch.save(state, tmp))
            if stop_at_step is not None and step + 1 >= stop_at_step:
                raise KeyboardInterrupt(f"stopped at step {step + 1} (stop_at_step)")
            elapsed, t0 = train_time, time.perf_counter()
    if bar is not None:
        bar.close()
    return curves, ckpt_metrics, ckpt_seconds, elapsed + time.perf_counter() - t0


def checkpoint_eval(model, spec, ctx, step: int) -> dict:
    """The cheap metrics of a checkpoint (FD by default), for training curves and the validity table."""
    names = [m for m in spec.eval["checkpoint_metrics"] if m in spec.eval[ctx.track.metrics_key]]
    if not names:
        return {}
    n = min(spec.eval["checkpoint_samples"], len(ctx.real_test[0]))
    samples, labels = sample_model(model, ctx, n, seed=spec.seed + 7919 * step)
    scores = evaluate_samples(names, ctx, samples, labels, spec.seed, options=spec.eval["options"])
    return {"step": step, **{s.name: s.value for s in scores}}


def new_result(spec, ctx, cell_dir: Path, status: str = "done", error: str | None = None) -> CellResult:
    """A cell's result before it trains: also all that a cell that never ran reports."""
    model_cls = MODELS.get(spec.model)
    return CellResult(spec.model, spec.dataset, spec.seed, ctx.kind,
                      calibration=model_cls.calibration, conditional=model_cls.conditional,
                      config_hash=Path(cell_dir).name.rsplit("-", 1)[-1], status=status, error=error,
                      throughput_unit=ctx.track.throughput_unit)


CHECKPOINT_KEYS = {"model", "rng", "step", "curves", "elapsed", "checkpoint_metrics"}


def move_aside(path: Path, why: str, what: str, log) -> None:
    """Rename an unreadable file to <name>.corrupt-<n> (kept for a post-mortem) and say so in one line."""
    k = 1
    while path.with_name(f"{path.name}.corrupt-{k}").exists():
        k += 1
    aside = path.with_name(f"{path.name}.corrupt-{k}")
    os.replace(path, aside)
    log(f"warning: {path} is unreadable ({why}); moved to {aside.name}, {what}")


def read_cell_json(cell_dir: Path, log=print) -> dict | None:
    """The stored cell.json, or None when there is none or it is unreadable (then moved aside)."""
    path = Path(cell_dir) / "cell.json"
    if not path.is_file():
        return None
    try:
        return CellResult.from_json(json.loads(path.read_text(encoding="utf-8")), "cell.json").to_json()
    except (OSError, ValueError, UserError) as exc:
        move_aside(path, one_line(exc), "the cell runs again", log)
        return None


def check_checkpoint(cell_dir: Path, log=print) -> None:
    """Move an unreadable or incomplete checkpoint.pt aside, so that the cell restarts from scratch
    instead of failing on it at every run."""
    path = Path(cell_dir) / "checkpoint.pt"
    if not path.is_file():
        return
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
        missing = CHECKPOINT_KEYS - set(state) if isinstance(state, dict) else CHECKPOINT_KEYS
        if missing:
            raise ValueError(f"no {', '.join(sorted(missing))}")
        int(state["step"]), float(state["elapsed"]), json.loads(state["checkpoint_metrics"])
    except Exception as exc:  # torch raises RuntimeError, EOFError, pickle errors, ... on a damaged file
        why = one_line(exc).split(". ")[0][:120]
        move_aside(path, f"{type(exc).__name__}: {why}", "the cell restarts from step 0", log)


def run_cell(spec, ctx, cell_dir, runtime, force=False, progress=True, stop_at_step=None, log=print) -> dict:
    """Train, sample and score one cell; return its result dict (see reports/SCHEMA.md)."""
    cell_dir = Path(cell_dir)
    result_path = cell_dir / "cell.json"
    if not force:
        cached = read_cell_json(cell_dir, log)
        if cached is not None and cached.get("status") == "done":
            cached["cached"] = True
            return cached
    if force:
        for name in ("checkpoint.pt", "cell.json"):
            (cell_dir / name).unlink(missing_ok=True)
    cell_dir.mkdir(parents=True, exist_ok=True)
    check_checkpoint(cell_dir, log)
    result = new_result(spec, ctx, cell_dir)
    reset_peak(runtime.device)
    try:
        model, config = build_model(spec, ctx, runtime)
        result.config = {"train": spec.train, "model": None if config is None else vars(config),
                         "dataset_options": spec.dataset_options}
        steps = spec.train["steps"]
        if steps:
            curves, ckpt_metrics, ckpt_seconds, train_s = train(model, spec, ctx, cell_dir, runtime, progress,
                                                                stop_at_step, log)
            result.curves, result.checkpoint_metrics = _thin(curves), ckpt_metrics
            result.checkpoint_seconds = ckpt_seconds
            result.wall["train"] = round(train_s, 3)
            result.train_images_per_s = round(steps * spec.train["batch_size"] / max(train_s, 1e-9), 1)
        t0 = time.perf_counter()
        n = min(spec.eval["n_samples"], len(ctx.real_test[0]))
        samples, labels = sample_model(model, ctx, n, seed=spec.seed)
        result.wall["sample"] = round(time.perf_counter() - t0, 3)
        ctx.track.save_samples(cell_dir, samples, labels)
        t0 = time.perf_counter()
        per_sample: dict = {}
        scores = evaluate_samples(spec.eval[ctx.track.metrics_key], ctx, samples, labels, spec.seed, model=model,
                                  options=spec.eval["options"], per_sample=per_sample)
        result.set_scores(scores + ctx.track.extra_scores(model, ctx, spec))
        if per_sample:
            write_per_sample_csv(cell_dir / "per_sample.csv", per_sample)
        ctx.track.extras(result, model, ctx, spec, samples, labels, cell_dir, per_sample)
        result.wall["eval"] = round(time.perf_counter() - t0, 3)
    except Diverged as exc:
        result.status, result.error = "diverged", str(exc)
        log(f"{spec.name}: diverged: {exc}")
    except UserError:
        raise
    except Exception as exc:  # a broken cell must not stop the suite; its traceback is kept
        result.status, result.error = "failed", f"{type(exc).__name__}: {exc}".splitlines()[0]
        write_text(cell_dir / "error.log", traceback.format_exc())
        log(f"{spec.name}: failed: {result.error} (traceback in {cell_dir / 'error.log'})")
    result.peak_memory_mb = round(peak_mb(runtime.device), 1)
    doc = result.to_json()
    write_json(result_path, doc)
    return doc
