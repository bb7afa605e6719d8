"""A realistic run folder and results dict for the report tests, until the smoke suite exists.

`build_run(run_dir)` writes real PNG sample grids made from scikit-learn's digits images and
returns a results dict in the schema of reports/SCHEMA.md: image and text datasets, calibration
rows, a conditional model, a diverged cell, training curves, checkpoint metrics, a
quality-diversity sweep, an oracle world with hallucination/precision, validity and performance
tables. Metric values are drawn from a seeded RNG around plausible levels; the leaderboard is
aggregated from the cells exactly as SCHEMA.md specifies (mean, sample std, per-seed values).
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest

from aigc_eval.runtime import git_commit, library_versions, stable_hash

HOSTILE_NAME = "<script>alert(1)</script>"
EXTRACTOR_TAG = "digits-cnn@dbba583b874b"

# (name, higher_is_better, description, signature template)
_METRICS = {
    "fd_digits-cnn": (False, "Fréchet distance between Gaussians fitted to classifier features",
                      f"fd|ext:{EXTRACTOR_TAG}|n_gen:1000|n_ref:360|seed:{{seed}}|tf:0.4.0"),
    "kid_digits-cnn": (False, "Kernel inception distance (unbiased MMD², cubic kernel)",
                       f"kid|ext:{EXTRACTOR_TAG}|n_gen:1000|n_ref:360|subsets:50|seed:{{seed}}"),
    "precision_digits-cnn": (True, "Share of generated samples inside the real manifold (k=3)",
                             f"prc|ext:{EXTRACTOR_TAG}|k:3|n_gen:1000|seed:{{seed}}"),
    "mode_coverage": (True, "Share of the 10 classes the domain classifier finds in samples",
                      f"modes|ext:{EXTRACTOR_TAG}|n_gen:1000|seed:{{seed}}"),
    "bleu4": (True, "Corpus BLEU-4 of samples against the test split",
              "bleu|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|n:500|seed:{seed}|sb:2.6.0"),
    "self_bleu4": (False, "BLEU-4 of each sample against the other samples (diversity)",
                   "self_bleu|tok:13a|n:500|seed:{seed}|sb:2.6.0"),
    "nll": (False, "Negative log-likelihood per token on the test split",
            "nll|unit:nats/token|seed:{seed}"),
    "hallucination_rate": (False, "Share of generated facts that are false in the oracle world",
                           "facts_oracle|world:facts-v1|n_gen:500|seed:{seed}"),
    "precision": (True, "Share of generated facts that are true in the oracle world",
                  "facts_oracle|world:facts-v1|n_gen:500|seed:{seed}"),
}

# model -> dataset -> metric levels; calibration rows bound each metric.
_LEVELS = {
    ("dcgan", "digits"): (12.0, 0.011, 0.71, 0.98),
    ("vae", "digits"): (21.0, 0.024, 0.83, 1.0),
    ("cgan", "digits"): (9.5, 0.008, 0.76, 1.0),
    ("wgan_gp", "digits"): (15.0, 0.015, 0.66, 0.97),
    ("real-test", "digits"): (0.9, 0.0004, 0.94, 1.0),
    ("copy-train", "digits"): (1.1, 0.0006, 0.95, 1.0),
    ("noise", "digits"): (310.0, 0.52, 0.0, 0.2),
    ("lm", "captions"): (0.31, 0.62, 3.1),
    ("sentence_vae", "captions"): (0.22, 0.48, 3.6),
    ("unigram", "captions"): (0.05, 0.21, 5.9),
    ("lm", "facts"): (0.12, 0.88),
    ("unigram", "facts"): (0.71, 0.29),
}
_DATASET_METRICS = {
    "digits": ["fd_digits-cnn", "kid_digits-cnn", "precision_digits-cnn", "mode_coverage"],
    "captions": ["bleu4", "self_bleu4", "nll"],
    "facts": ["hallucination_rate", "precision"],
}
_CALIBRATION = {"real-test", "copy-train", "noise", "unigram"}
_CONDITIONAL = {"cgan"}
_COST = {"dcgan": (1300.0, 512.0), "vae": (2100.0, 300.0), "cgan": (1100.0, 540.0),
         "wgan_gp": (700.0, 610.0), "lm": (52000.0, 420.0), "sentence_vae": (38000.0, 380.0)}
_CURVES = {"dcgan": ("loss_d", "loss_g"), "cgan": ("loss_d", "loss_g"),
           "wgan_gp": ("loss_critic", "loss_g"), "vae": ("loss_recon", "loss_kl"),
           "lm": ("loss",), "sentence_vae": ("loss_recon", "loss_kl")}


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()  # 1797 images of 8 x 8, values 0..16
    return (digits.images / 16.0).astype(np.float32), digits.target


def _grid_png(path: Path, tiles: np.ndarray, ncols: int) -> None:
    """Tile N x 8 x 8 float images (0..1) into a grid, upscale, and save as PNG."""
    from PIL import Image

    pad, scale = 1, 3
    n = len(tiles)
    nrows = math.ceil(n / ncols)
    canvas = np.ones((nrows * (8 + pad) + pad, ncols * (8 + pad) + pad), np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncols)
        canvas[pad + r * (8 + pad):pad + r * (8 + pad) + 8,
               pad + c * (8 + pad):pad + c * (8 + pad) + 8] = tile
    image = Image.fromarray((255 * (1 - canvas.clip(0, 1))).astype(np.uint8), mode="L")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.resize((image.width * scale, image.height * scale), Image.NEAREST).save(path)


def _samples(path: Path, model: str, seed: int, images, labels) -> None:
    rng = np.random.default_rng([seed, len(model)])
    if model == "noise":
        _grid_png(path, rng.uniform(size=(64, 8, 8)), ncols=8)
    elif model in _CONDITIONAL:  # one row per condition (class 0..9)
        rows = [images[rng.choice(np.flatnonzero(labels == k), 8)] for k in range(10)]
        tiles = np.concatenate(rows) + rng.normal(0, 0.08, (80, 8, 8))
        _grid_png(path, tiles, ncols=8)
    else:
        blur = 0.0 if model in _CALIBRATION else 0.15
        _grid_png(path, images[rng.choice(len(images), 64)] + rng.normal(0, blur, (64, 8, 8)),
                  ncols=8)


def _curves(model: str, seed: int, rng) -> dict:
    steps = np.linspace(1, 1500, 150).round().astype(int)
    curves = {"step": steps.tolist()}
    for k, name in enumerate(_CURVES[model]):
        level = 0.7 + 0.5 * k
        values = level + 1.5 * np.exp(-steps / (300 + 50 * seed)) + rng.normal(0, 0.05, len(steps))
        curves[name] = values.round(4).tolist()
    return curves


def _cell(model, dataset, seed, images, labels, run_dir: Path, status="done") -> dict:
    rng = np.random.default_rng([seed, len(model), len(dataset)])
    kind = "image" if dataset == "digits" else "text"
    names = _DATASET_METRICS[dataset]
    metrics = {}
    if status == "done":
        for name, level in zip(names, _LEVELS[(model, dataset)]):
            hib, description, signature = _METRICS[name]
            value = float(level * (1 + 0.04 * rng.normal()))
            if hib and level <= 1:  # rates stay rates
                value = min(value, 1.0)
            metrics[name] = {"value": value, "higher_is_better": hib,
                             "signature": signature.format(seed=seed), "description": description}
    config = {"model": model, "dataset": dataset, "steps": 1500}
    cell = {
        "model": model, "dataset": dataset, "seed": seed, "kind": kind,
        "calibration": model in _CALIBRATION, "conditional": model in _CONDITIONAL,
        "config": config, "config_hash": stable_hash(config), "status": status,
        "error": None if status == "done" else "loss became NaN at step 812 (lr 2e-4)",
        "wall": {"train": 0.0 if model in _CALIBRATION else round(20 + 5 * rng.random(), 2),
                 "sample": 0.3, "eval": 1.2},
        "train_images_per_s": None, "peak_memory_mb": None,
        "throughput_unit": "images/s" if kind == "image" else "tokens/s",
        "metrics": metrics,
    }
    if model in _COST:
        throughput, memory = _COST[model]
        cell["train_images_per_s"] = round(throughput * (1 + 0.03 * rng.normal()), 1)
        cell["peak_memory_mb"] = round(memory * (1 + 0.01 * rng.normal()), 1)
    if model in _CURVES and dataset != "facts":
        cell["curves"] = _curves(model, seed, rng)
    if kind == "image" and model not in _CALIBRATION and status == "done":
        final = metrics["fd_digits-cnn"]["value"]
        cell["checkpoint_metrics"] = [{"step": s, "fd_digits-cnn": round(final * (1 + 6 / k), 3)}
                                      for k, s in enumerate(range(300, 1501, 300), start=1)]
    if dataset == "captions" and model not in _CALIBRATION:
        bleu, self_bleu = metrics["bleu4"]["value"], metrics["self_bleu4"]["value"]
        cell["qd_curve"] = [{"temperature": t, "bleu5": round(bleu * 0.7 / t ** 0.8, 4),
                             "self_bleu5": round(min(1.0, self_bleu * 0.8 / t ** 1.2), 4)}
                            for t in (0.5, 0.7, 1.0, 1.3)]
    if kind == "image" and status == "done":
        rel = f"samples/{model}-{dataset}-s{seed}.png"
        _samples(run_dir / rel, model, seed, images, labels)
        cell["samples_png"] = rel
    return cell


def aggregate(cells) -> list[dict]:
    """Leaderboard rows over seeds, per SCHEMA.md (sample std, values in seed order)."""
    groups: dict[tuple, list] = {}
    for cell in cells:
        if cell["status"] == "done":
            groups.setdefault((cell["model"], cell["dataset"]), []).append(cell)
    rows = []
    for (model, dataset), group in groups.items():
        group = sorted(group, key=lambda c: c["seed"])
        metrics = {}
        for name, first in group[0]["metrics"].items():
            values = [c["metrics"][name]["value"] for c in group]
            metrics[name] = {"mean": float(np.mean(values)),
                             "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                             "values": values, "higher_is_better": first["higher_is_better"],
                             "signature": first["signature"], "description": first["description"]}
        rows.append({"model": model, "dataset": dataset, "kind": group[0]["kind"],
                     "calibration": group[0]["calibration"], "n_seeds": len(group),
                     "seeds": [c["seed"] for c in group], "metrics": metrics})
    return rows


def build_run(run_dir, n_seeds: int = 2) -> dict:
    """Write sample grids under `run_dir` and return the run's results dict."""
    run_dir = Path(run_dir)
    images, labels = _digits()
    cells = []
    for model, dataset in _LEVELS:
        seeds = [0] if model in _CALIBRATION else list(range(n_seeds))
        for seed in seeds:
            status = "diverged" if (model == "wgan_gp" and seed == 0) else "done"
            cells.append(_cell(model, dataset, seed, images, labels, run_dir, status))
    return {
        "schema_version": 1,
        "run_id": run_dir.name,
        "created": "2026-11-28T13:05:01Z",
        "suite": {"name": "smoke", "path": "aigc_eval/suites/smoke.toml",
                  "config_hash": stable_hash(sorted(_LEVELS))},
        "git_commit": git_commit(),
        "versions": dict(library_versions()),
        "machine": {"host": "ci-runner", "platform": "Linux-6.1-x86_64", "cpu_count": 2},
        "runtime": {"device": "cpu", "threads": 1, "amp": False, "channels_last": False},
        "phases": {"data": 1.2, "extractors": 4.0, "cells": 300.1, "report": 2.0},
        "extractors": {"digits": {"tag": EXTRACTOR_TAG, "metric_name": "fd_digits-cnn",
                                  "test_accuracy": 0.978}},
        "cells": cells,
        "leaderboard": aggregate(cells),
        "validity": [
            {"proxy": "fd_digits-cnn", "true_rate": "mode_coverage", "spearman": -0.93, "n": 8,
             "ci": [-0.99, -0.71], "p": 0.001},
            {"proxy": "precision_digits-cnn", "true_rate": "oracle_precision", "spearman": 0.81,
             "n": 8, "ci": [0.42, 0.96], "p": 0.015},
        ],
        "performance": [
            {"operation": "fd trace term, d=2048, n=500", "method": "nuclear norm",
             "seconds": 0.03, "speedup": 65.0},
            {"operation": "corpus BLEU, 10k hypotheses", "method": "sacrebleu warm",
             "seconds": 0.6, "speedup": 8.0},
        ],
    }


def with_hostile_model(results) -> dict:
    """A copy of `results` with one more model whose name is a script tag (copied from a row)."""
    out = copy.deepcopy(results)
    row = next(r for r in out["leaderboard"] if not r["calibration"])
    twin = copy.deepcopy(row)
    twin["model"] = HOSTILE_NAME
    out["leaderboard"].append(twin)
    for cell in [c for c in out["cells"] if (c["model"], c["dataset"]) == (row["model"],
                                                                            row["dataset"])]:
        out["cells"].append({**copy.deepcopy(cell), "model": HOSTILE_NAME})
    return out


def build_baseline(results, model: str = "dcgan", factor: float = 1.25) -> dict:
    """A baseline in which the mean of every metric of `model` was `factor` times smaller, each seed
    shifted by the same amount (so the paired difference has no noise): the current run regresses on
    its lower-is-better metrics and improves on its higher-is-better ones beyond noise. Every other
    value is unchanged."""
    base = copy.deepcopy(results)
    base["run_id"] = "baseline-run"
    for row in base["leaderboard"]:
        if row["model"] == model:
            for stat in row["metrics"].values():
                shift = stat["mean"] * (1 - 1 / factor)
                stat["values"] = [v - shift for v in stat["values"]]
                stat["mean"] -= shift
    return base


def build_history(results, n_runs: int = 5) -> dict:
    """{metric: [{run_id, created, model, dataset, value}]} for `n_runs` earlier runs, drifting
    towards the current values."""
    history: dict[str, list] = {}
    for k in range(n_runs):
        run_id = f"2026112{k}-120000-{k:06x}"
        for row in results["leaderboard"]:
            if row["calibration"] or row["kind"] != "image":
                continue
            for name in ("fd_digits-cnn", "mode_coverage"):
                if name in row["metrics"]:
                    drift = 1 + 0.1 * (n_runs - k) / n_runs
                    history.setdefault(name, []).append(
                        {"run_id": run_id, "created": f"2026-11-2{k}T12:00:00Z",
                         "model": row["model"], "dataset": row["dataset"],
                         "value": row["metrics"][name]["mean"] * drift})
    return history


@pytest.fixture(scope="session")
def report_source(tmp_path_factory):
    """(run_dir, results) that the report tests render. The single place to swap in a real run
    (e.g. the smoke suite's session fixture) once one exists."""
    run_dir = tmp_path_factory.mktemp("reports") / "20261128-130501-3f2a1c"
    return run_dir, build_run(run_dir)
