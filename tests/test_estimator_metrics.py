"""Vendi, CMMD and FD-infinity as registered metrics, and KID's feature scale (issue 14 §5).

The estimators themselves are checked against published and hand-computed values in test_vendi.py,
test_cmmd.py and test_fd_infinity.py; here: the metric objects compute exactly those functions on
the extractor's features, with their rules in the signature, and KID reads on a non-Inception extractor."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

import aigc_eval
from aigc_eval.harness.tracks import get_context
from aigc_eval.metrics import ImageEvalSet, build_metric
from aigc_eval.metrics.cmmd import cmmd
from aigc_eval.metrics.fd_infinity import fd_infinity
from aigc_eval.metrics.kid import kernel_inception_distance
from aigc_eval.metrics.vendi import vendi_of_features, vendi_of_ngrams


@pytest.fixture(scope="module")
def ctx():
    return get_context("digits", {}, log=lambda m: None)


def blurred(images, sigma):
    return np.stack([np.asarray(Image.fromarray(x[0]).filter(ImageFilter.GaussianBlur(sigma)))[None] for x in images])


def scores_of(ctx, name, generated, **options):
    ext = ctx.extractors[0]
    eval_set = ImageEvalSet(generated=generated, reference=ctx.reference[0], train=ctx.dataset.train_x,
                            extractor=ext, seed=3)
    return {s.name: s for s in build_metric(name, **options).compute(eval_set)}, eval_set


def test_vendi_cmmd_and_fd_infinity_metrics_are_the_estimators_on_features(ctx):
    generated = blurred(ctx.real_test[0], 1)
    found, es = scores_of(ctx, "vendi", generated)
    (vendi,) = found.values()
    gen, ref = es.gen["features"], es.ref["features"]
    assert vendi.value == vendi_of_features(gen, kernel="cosine") and "kernel:cosine" in str(vendi.signature)
    (score,) = scores_of(ctx, "cmmd", generated)[0].values()
    assert score.value == cmmd(gen, ref, normalize=True)
    assert "sigma:10.0|scale:1000.0|norm:l2|est:unbiased" in str(score.signature)
    (inf,) = scores_of(ctx, "fd_infinity", generated)[0].values()
    fit = fd_infinity(gen, ref, seed=3)
    assert inf.name == "fd_digits-cnn_inf" and inf.value == fit.fd_infinity
    assert f"points:15|n_min:{len(gen) // 10}|n_max:{len(gen)}" in str(inf.signature)


def test_ngram_vendi_on_sentences():
    results = aigc_eval.evaluate(["a b c", "a b c", "x y z"], ["a b c"], metrics=["vendi_ngram"], log=lambda m: None)
    assert results["vendi_ngram2"] == pytest.approx(vendi_of_ngrams(["a b c", "a b c", "x y z"], 2))
    # two identical sentences and one with no shared bigram: the effective number is 2^(h) with
    # eigenvalues 2/3 and 1/3
    assert results["vendi_ngram2"] == pytest.approx(np.exp(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3))))


def test_kid_is_readable_on_the_domain_cnn_and_raw_on_inception(ctx):
    kid = {}
    noise = np.random.default_rng(0).integers(0, 256, ctx.real_test[0].shape, np.uint8)
    for name, images in [("real", ctx.real_test[0]), ("blur1", blurred(ctx.real_test[0], 1)),
                         ("blur2", blurred(ctx.real_test[0], 2)), ("noise", noise)]:
        scores, eval_set = scores_of(ctx, "kid", images)
        kid[name] = scores["kid"].value
        assert "feat:rms" in str(scores["kid"].signature)
    assert abs(kid["real"]) < 0.1 < kid["blur1"] < kid["blur2"] < kid["noise"] < 10, kid
    # the rule: one factor from the reference, 1 / RMS of its feature entries, on both sides
    gen, ref = eval_set.gen["features"].astype(np.float64), eval_set.ref["features"].astype(np.float64)
    c = 1 / np.sqrt(np.mean(ref ** 2))
    assert kid["noise"] == kernel_inception_distance(gen * c, ref * c, 100, 1000, 3)["mean"]
    # Inception ("fid") features stay raw, so KID is torch-fidelity's
    inception_like = type(eval_set.extractor)("inception-v3-compat", "0" * 12, eval_set.extractor.module, "fid")
    raw = build_metric("kid").compute(ImageEvalSet(generated=noise, reference=ctx.reference[0], train=noise,
                                                   extractor=inception_like, seed=3))[0]
    assert "feat:raw" in str(raw.signature)
    assert raw.value == kernel_inception_distance(eval_set.gen["features"], eval_set.ref["features"], 100, 1000,
                                                  3)["mean"]
