"""Samples -> scores: draw a model's samples reproducibly and run the suite's metrics on them."""
from __future__ import annotations

import io

import numpy as np
import torch

from ..metrics import ImageEvalSet, TextEvalSet, build_metric
from ..signature import Score, Signature


def requested_labels(model, ctx, n: int, seed: int):
    """Balanced labels for conditional models (every class equally often, seeded order), else None.

    With fewer samples than classes the classes are evenly spaced over the label range: the shapes
    world's 180 default requests are every other of its 360 combinations, which asks for every
    factor value and for 13 of the 27 held-out combinations (the first 180 would ask for none).
    """
    if not getattr(model, "conditional", False) or not ctx.dataset.num_classes:
        return None
    classes = ctx.dataset.num_classes
    labels = np.arange(n) % classes if n >= classes else np.arange(n) * classes // n
    return np.random.default_rng([seed, 1]).permutation(labels).astype(np.int64)


def sample_model(model, ctx, n: int, seed: int, temperature: float | None = None):
    """n samples (uint8 N x C x H x W, or a list of str) and the labels they were asked for."""
    labels = requested_labels(model, ctx, n, seed)
    kwargs = {"labels": labels, "generator": torch.Generator().manual_seed(seed)}
    if temperature is not None:
        kwargs["temperature"] = temperature
    out = model.sample(n, **kwargs)
    if ctx.kind == "text":
        return list(out), labels
    out = out.numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
    expected = (n, *ctx.dataset.image_shape)
    if out.dtype != np.uint8 or out.shape != expected:
        raise ValueError(f"sample() returned {out.dtype} {out.shape}; expected uint8 {expected}")
    return out, labels


def _reconstructions(model, ctx):
    if not hasattr(model, "reconstruct"):
        return None
    x, y = ctx.reference
    if getattr(model, "conditional", False):
        out = model.reconstruct(x, torch.from_numpy(np.asarray(y)))
    else:
        out = model.reconstruct(x)
    if ctx.kind == "text":
        return (list(x), list(out))
    return out.numpy() if isinstance(out, torch.Tensor) else np.asarray(out)


def evaluate_samples(names, ctx, samples, labels, seed: int, model=None, spec=None) -> list:
    """Run metrics `names` on `samples`. Reconstruction and NLL metrics also use `model`."""
    ds = ctx.dataset
    metrics = [build_metric(n) for n in names]
    if ctx.kind == "image":
        recon = _reconstructions(model, ctx) if model is not None and "recon" in names else None
        scores = []
        for i, ext in enumerate(ctx.extractors):
            eval_set = ImageEvalSet(
                generated=samples, reference=ctx.reference[0], reference_labels=ctx.reference[1],
                train=ds.train_x, extractor=ext, seed=seed, labels=labels, reconstructions=recon,
                dataset_meta=ds.meta, reference_features_cache=ctx.features(ext, "reference"),
                train_features_cache=lambda ext=ext: ctx.features(ext, "train"))
            # The first extractor is the primary one; extra extractors (Inception) add FD/FID only.
            for metric in metrics if i == 0 else [m for m in metrics if m.name == "fd"]:
                scores += metric.compute(eval_set)
        return scores
    nll = None
    ref_x, ref_y = ctx.reference
    if model is not None and hasattr(model, "nll"):
        nll = model.nll(ref_x, None if ref_y is None or not getattr(model, "conditional", False)
                        else torch.from_numpy(np.asarray(ref_y)))
    eval_set = TextEvalSet(
        generated=samples, reference=list(ref_x), train=list(ds.train), tokenize=ds.tokenize, seed=seed,
        labels=labels, nll_per_token=nll, nll_is_bound=getattr(model, "nll_is_bound", False),
        reconstructions=_reconstructions(model, ctx) if model is not None else None,
        dataset_meta=ds.meta)
    return [s for m in metrics for s in m.compute(eval_set)]


SAMPLING_SEEDS = 3  # extra sampling seeds for the controllability spread of conditional models


def sampling_spread(model, ctx, spec) -> list:
    """Seed sensitivity of controllability: the std over sampling seeds of conditional accuracy
    (and, on shapes, of oracle controllability) for one trained model. The spread over training
    seeds is the leaderboard's ± column; this one isolates the sampler."""
    names = [m for m in ("cond_accuracy", "shapes_oracle") if m in spec.eval["image_metrics"]]
    if ctx.kind != "image" or not getattr(model, "conditional", False) or not names:
        return []
    n = min(spec.eval["n_samples"], len(ctx.holdout[0]))
    seeds = [spec.seed * 1000 + k for k in range(1, SAMPLING_SEEDS + 1)]
    per_metric: dict[str, list] = {}
    for s in seeds:
        samples, labels = sample_model(model, ctx, n, seed=s)
        for score in evaluate_samples(names, ctx, samples, labels, s):
            if score.name in ("cond_accuracy", "controllability"):
                per_metric.setdefault(score.name, []).append(score)
    out = []
    for name, scores in per_metric.items():
        fields = dict(scores[0].signature.fields, seed=spec.seed, sampling_seeds=",".join(map(str, seeds)))
        out.append(Score(f"{name}_sampling_std", float(np.std([x.value for x in scores], ddof=1)),
                         Signature(f"{name}_sampling_std", fields), False,
                         f"Std of {name} over {len(seeds)} sampling seeds of the same trained model "
                         f"(lower is better: a controllable model does not swing with the seed)"))
    return out


def quality_diversity_curve(model, ctx, spec) -> list[dict]:
    """BLEU-5 (quality) against Self-BLEU-5 (diversity) across sampling temperatures (Caccia et al. 2020)."""
    points = []
    n = min(spec.eval["n_samples"], len(ctx.holdout[0]))
    for t in spec.eval["text_temperatures"]:
        samples, labels = sample_model(model, ctx, n, seed=spec.seed, temperature=t)
        scores = {s.name: s.value for s in evaluate_samples(["bleu", "self_bleu"], ctx, samples, labels, spec.seed)}
        points.append({"temperature": t, "bleu5": scores["bleu5"], "self_bleu5": scores["self_bleu5"]})
    return points


def make_grid_png(samples: np.ndarray, labels=None, rows: int = 8, cols: int = 8, scale: int = 2) -> bytes:
    """A PNG grid of samples; for conditional samples one row per requested label.

    When no label was requested twice (shapes: 180 requests over 360 combinations) one row per
    label would be one thin column, so the grid is filled row by row in label order instead, with
    samples picked evenly over that order so that the grid spans every factor value.
    """
    from PIL import Image

    if labels is not None and np.bincount(labels).max() < 2:
        order = np.argsort(labels, kind="stable")
        picked = np.unique(np.linspace(0, len(order) - 1, min(len(order), rows * cols)).round().astype(int))
        samples, labels = samples[order[picked]], None
    if labels is not None:
        picked = []
        for lab in sorted(set(labels.tolist()))[:rows]:
            picked.append(np.flatnonzero(labels == lab)[:cols])
        grid_rows = [samples[idx] for idx in picked]
    else:
        grid_rows = [samples[r * cols:(r + 1) * cols] for r in range(min(rows, -(-len(samples) // cols)))]
    c, h, w = samples.shape[1:]
    canvas = np.full((len(grid_rows) * (h + 1), cols * (w + 1), c), 255, np.uint8)
    for r, row in enumerate(grid_rows):
        for k, img in enumerate(row):
            canvas[r * (h + 1):r * (h + 1) + h, k * (w + 1):k * (w + 1) + w] = img.transpose(1, 2, 0)
    image = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
