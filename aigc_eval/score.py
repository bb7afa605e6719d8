"""`aigc-eval score`: score samples from any model with the suite's metrics and write the same report.

Images: --generated is a folder of PNGs or an .npz; --reference is a registered dataset (its
reference half of the test split and its domain classifier are used, exactly as in suites) or a
folder of images with class subfolders (loaded as the `folder` dataset, classifier trained on it).
Text: --generated is a .txt/.jsonl corpus; --reference is a dataset name or a .txt/.jsonl corpus.
When both text files have the same number of lines they are also scored as pairs (ROUGE, chrF).
"""
from __future__ import annotations

import time
from pathlib import Path

from .data import DATASETS
from .errors import UserError
from .harness.context import get_context
from .harness.evaluate import evaluate_samples
from .harness.runner import finish_run
from .harness.suite import EVAL_DEFAULTS
from .metrics import TextEvalSet, build_metric
from .runtime import stable_hash

TEXT_SUFFIXES = (".txt", ".jsonl")
MIN_IMAGES = 4  # precision/recall take k = 3 nearest neighbours among the generated images
MIN_SENTENCES = 2  # Self-BLEU scores each sentence against the others
IMAGE_METRICS = [m for m in EVAL_DEFAULTS["image_metrics"] if m != "recon"]  # no model to reconstruct with
TEXT_METRICS = ["bleu", "self_bleu", "rouge", "chrf", "facts_oracle"]


def score_samples(generated, reference, out_root="reports", name=None, seed=0, runtime=None, data_root=None,
                  inception_weights=None, history=True, log=print):
    t_start = time.perf_counter()
    gen_path = Path(generated)
    name = name or gen_path.name
    if gen_path.suffix.lower() in TEXT_SUFFIXES:
        cell, contexts, ref_name = _score_text(gen_path, reference, seed, data_root)
    else:
        cell, contexts, ref_name = _score_images(gen_path, reference, seed, runtime, data_root, inception_weights, log)
    cell.update(model=name, dataset=ref_name, seed=seed, calibration=False, conditional=False, status="done",
                error=None, config={"generated": str(gen_path), "reference": str(reference)},
                config_hash=stable_hash([str(gen_path.resolve()), str(reference), seed]))
    cell["wall"] = {"eval": round(time.perf_counter() - t_start, 3)}
    info = {"name": "score", "path": None, "config_hash": cell["config_hash"]}
    return finish_run(Path(out_root), info, [cell], contexts, runtime, {}, t_start, history=history, log=log)


def _score_images(gen_path, reference, seed, runtime, data_root, inception_weights, log):
    from .samples import load_samples

    if reference in DATASETS:
        ctx = get_context(reference, {}, data_root, runtime.device, inception_weights, log=log)
    else:
        ref_path = Path(reference)
        if not ref_path.is_dir():
            raise UserError(f"--reference {reference}: neither a dataset ({', '.join(DATASETS.names())}) "
                            f"nor a folder of images")
        ctx = get_context("folder", {}, ref_path, runtime.device, inception_weights, log=log)
    if ctx.kind != "image":
        raise UserError(f"--reference {reference} is a text dataset but --generated {gen_path} holds images")
    samples = load_samples(gen_path, min_samples=MIN_IMAGES, image_shape=ctx.dataset.image_shape,
                           why="precision and recall take k = 3 nearest neighbours")
    scores = evaluate_samples(IMAGE_METRICS, ctx, samples, None, seed)
    return ({"kind": "image", "metrics": {s.name: s.to_json() for s in scores},
             "throughput_unit": "images/s"}, {ctx.dataset.name: ctx}, ctx.dataset.name)


def _score_text(gen_path, reference, seed, data_root):
    from .data.corpus import load_corpus

    generated = list(load_corpus(gen_path).sentences)
    if len(generated) < MIN_SENTENCES:
        raise UserError(f"--generated {gen_path}: holds only {len(generated)} sentence; at least {MIN_SENTENCES} are "
                        "needed (Self-BLEU scores each sentence against the others)")
    if reference in DATASETS:
        ctx = get_context(reference, {}, data_root)
        if ctx.kind != "text":
            raise UserError(f"--reference {reference} is an image dataset but --generated {gen_path} is text")
        refs, train, tok, meta, ref_name = list(ctx.reference[0]), list(ctx.dataset.train), \
            ctx.dataset.tokenize, ctx.dataset.meta, reference
    else:
        corpus = load_corpus(reference)
        refs, tok, meta, ref_name = list(corpus.sentences), corpus.tokenize, {}, Path(reference).name
        train = refs
    paired = (refs, generated) if len(refs) == len(generated) else None
    eval_set = TextEvalSet(generated=generated, reference=refs, train=train, tokenize=tok, seed=seed,
                           reconstructions=paired, dataset_meta=meta)
    scores = [s for m in TEXT_METRICS for s in build_metric(m).compute(eval_set)]
    return ({"kind": "text", "metrics": {s.name: s.to_json() for s in scores}, "throughput_unit": "sentences/s"},
            {}, ref_name)
