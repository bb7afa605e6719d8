"""Peers side by side in one run: our implementation against the library a user would call directly.

Each bench records `extra_info["peer"] = {comparison, ours_s, peer_s, speedup, max_rel_diff}` so
that aigc_eval.performance can put every comparison into the report's performance table.
Times are the best of interleaved repeats, so machine noise hits both sides alike.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import sacrebleu
import torch
from rouge_score import rouge_scorer
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from aigc_eval.metrics import TextEvalSet, build_metric
from aigc_eval.metrics.fd import frechet_distance_from_features
from aigc_eval.metrics.recon import psnr_per_image, ssim_per_image
from aigc_eval.metrics.self_bleu import SelfBLEU
from aigc_eval.tokenize import tokenize

REPEATS = 3


def best_times(*fns):
    best = [float("inf")] * len(fns)
    out = [None] * len(fns)
    for _ in range(REPEATS):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            out[i] = fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best, out


def record(bench, comparison, ours_s, peer_s, ours, peer):
    ours, peer = np.atleast_1d(np.asarray(ours, np.float64)), np.atleast_1d(np.asarray(peer, np.float64))
    rel = float(np.max(np.abs(ours - peer) / np.maximum(np.abs(peer), 1e-12)))
    bench.extra_info["peer"] = {"comparison": comparison, "ours_s": round(ours_s, 5), "peer_s": round(peer_s, 5),
                                "speedup": round(peer_s / ours_s, 2), "max_rel_diff": rel}
    bench.pedantic(lambda: None, rounds=1)


@pytest.mark.parametrize("n", [500, 2500])
def test_fd_vs_torch_fidelity(pinned_benchmark, n):
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    rng = np.random.default_rng(0)
    x = np.maximum(rng.normal(size=(n, 2048)), 0)
    y = np.maximum(rng.normal(0.1, 1.0, size=(n, 2048)), 0)

    def peer():
        stats = [fid_features_to_statistics(torch.from_numpy(f)) for f in (x, y)]
        return fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]

    (ours_s, peer_s), (ours, theirs) = best_times(lambda: frechet_distance_from_features(x, y), peer)
    record(pinned_benchmark, f"FD d=2048 n={n} vs torch-fidelity 0.4 FID", ours_s, peer_s, ours, theirs)


def _image_pairs(n=500, shape=(16, 16)):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(n, 1, *shape), dtype=np.uint8)
    noise = rng.normal(0, 20, size=a.shape)
    return a, np.clip(a + noise, 0, 255).astype(np.uint8)


def test_ssim_vs_scikit_image(pinned_benchmark):
    a, b = _image_pairs()

    def peer():
        return [structural_similarity(x[0], y[0], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                      data_range=255) for x, y in zip(a, b)]

    (ours_s, peer_s), (ours, theirs) = best_times(lambda: ssim_per_image(a, b), peer)
    record(pinned_benchmark, "SSIM 500x16x16 vs scikit-image", ours_s, peer_s, ours, theirs)


def test_ssim_vs_torchmetrics(pinned_benchmark):
    tm = pytest.importorskip("torchmetrics.functional.image")
    a, b = _image_pairs()

    def peer():
        ta, tb = (torch.from_numpy(v).double() for v in (a, b))
        return tm.structural_similarity_index_measure(tb, ta, gaussian_kernel=True, sigma=1.5, kernel_size=11,
                                                     data_range=255.0, reduction="none").numpy()

    (ours_s, peer_s), (ours, theirs) = best_times(lambda: ssim_per_image(a, b), peer)
    # torchmetrics pads the borders where scikit-image crops them, so values differ slightly by design.
    record(pinned_benchmark, "SSIM 500x16x16 vs torchmetrics", ours_s, peer_s, ours, theirs)


def test_psnr_vs_scikit_image(pinned_benchmark):
    a, b = _image_pairs()
    (ours_s, peer_s), (ours, theirs) = best_times(
        lambda: psnr_per_image(a, b), lambda: [peak_signal_noise_ratio(x, y, data_range=255) for x, y in zip(a, b)])
    record(pinned_benchmark, "PSNR 500x16x16 vs scikit-image", ours_s, peer_s, ours, theirs)


def _facts_sentences():
    from aigc_eval.data import load_dataset

    ds = load_dataset("facts")
    return list(ds.train), list(ds.test)


def test_bleu_vs_sacrebleu(pinned_benchmark):
    train, test = _facts_sentences()
    hyps, refs = train[:300], test[:200]
    eval_set = TextEvalSet(generated=hyps, reference=refs, train=train)
    ours_metric = build_metric("bleu", orders=(4,))

    def peer():  # every hypothesis against the whole test set: K = |test| reference streams
        return sacrebleu.BLEU(tokenize="none").corpus_score(hyps, [[r] * len(hyps) for r in refs]).score

    (ours_s, peer_s), (ours, theirs) = best_times(lambda: ours_metric.compute(eval_set)[0].value, peer)
    record(pinned_benchmark, "BLEU-4 300 hyps x 200 refs vs sacrebleu", ours_s, peer_s, ours, theirs)


def test_rouge_vs_rouge_score(pinned_benchmark):
    train, _ = _facts_sentences()
    targets, outputs = train[:2000], train[1:2001]
    eval_set = TextEvalSet(generated=outputs, reference=targets, train=train, reconstructions=(targets, outputs))
    ours_metric = build_metric("rouge")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])

    def peer():
        scores = [scorer.score(t, o) for t, o in zip(targets, outputs)]
        return [np.mean([s[k].fmeasure for s in scores]) for k in ("rouge1", "rouge2", "rougeL")]

    (ours_s, peer_s), (ours, theirs) = best_times(lambda: [s.value for s in ours_metric.compute(eval_set)], peer)
    record(pinned_benchmark, "ROUGE-1/2/L 2000 pairs vs rouge-score", ours_s, peer_s, ours, theirs)


def test_self_bleu_vs_naive(pinned_benchmark):
    train, _ = _facts_sentences()
    sents = train[:200]
    bleu = sacrebleu.BLEU(tokenize="none", effective_order=True)
    joined = [" ".join(tokenize(s)) for s in sents]

    def naive():
        return np.mean([bleu.sentence_score(h, joined[:i] + joined[i + 1:]).score for i, h in enumerate(joined)])

    ours_metric = SelfBLEU(orders=(4,))
    (ours_s, peer_s), (ours, theirs) = best_times(lambda: np.mean(ours_metric.per_sentence(sents)[4]), naive)
    record(pinned_benchmark, "Self-BLEU-4 N=200 vs naive sacrebleu", ours_s, peer_s, ours, theirs)
