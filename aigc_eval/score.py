"""`aigc-eval score`: score samples from any model with the suite's metrics and write the same report.

Images: --generated is a folder of PNGs or an .npz; --reference is a registered dataset (its
reference half of the test split and its domain classifier are used, exactly as in suites) or a
folder of images with class subfolders (loaded as the `folder` dataset, classifier trained on it).
Text: --generated is a .txt/.jsonl corpus; --reference is a dataset name or a .txt/.jsonl corpus.
When both text files have the same number of lines they are also scored as pairs (ROUGE, chrF).

The samples go through the same evaluation path as a suite's cells (harness.evaluate with the
dataset's track); what differs between images and text is the track's (`score_inputs`).
"""
from __future__ import annotations

import time
from pathlib import Path

from .data.corpus import SUFFIXES as TEXT_SUFFIXES
from .harness.evaluate import evaluate_samples
from .harness.runner import finish_run
from .features import EXTRACTORS
from .harness.tracks import DEFAULT_EXTRACTOR, TRACKS
from .metrics import METRICS
from .results import CellResult
from .runtime import stable_hash


def score_samples(generated, reference, out_root="reports", name=None, seed=0, runtime=None, data_root=None,
                  inception_weights=None, history=True, metrics=None, extractor=DEFAULT_EXTRACTOR, log=print):
    """metrics: registered metric names (default: the track's score_metrics); extractor: the registered
    feature extractor of image metrics (aigc_eval.features)."""
    t_start = time.perf_counter()
    gen_path = Path(generated)
    name = name or gen_path.name
    track = TRACKS["text" if gen_path.suffix.lower() in TEXT_SUFFIXES else "image"]
    for metric in metrics or ():
        METRICS.get(metric)  # an unknown name is a one-line error before any data is read
    EXTRACTORS.get(extractor)
    ctx, samples, pairs = track.score_inputs(gen_path, reference, runtime.device, data_root, inception_weights, log,
                                             extractor)
    cell = CellResult(name, ctx.dataset.name, seed, track.kind, throughput_unit=track.throughput_unit,
                      config={"generated": str(gen_path), "reference": str(reference)},
                      config_hash=stable_hash([str(gen_path.resolve()), str(reference), seed]))
    cell.set_scores(evaluate_samples(metrics or track.score_metrics, ctx, samples, None, seed, reconstructions=pairs))
    cell.wall = {"eval": round(time.perf_counter() - t_start, 3)}
    info = {"name": "score", "path": None, "config_hash": cell.config_hash}
    return finish_run(Path(out_root), info, [cell.to_json()], {ctx.dataset.name: ctx}, runtime, {}, t_start,
                      history=history, log=log)
