"""Image metrics on real digits and on seeded random features, against reference libraries.

References: torch-fidelity (FD, KID, precision/recall), prdc (density/coverage), scikit-image
(PSNR/SSIM).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from prdc import compute_prdc
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from aigc_eval.errors import UserError
from aigc_eval.metrics import ImageEvalSet, build_metric
from aigc_eval.metrics.fd import covariance, frechet_distance, frechet_distance_from_features
from aigc_eval.metrics.prc import precision_recall_density_coverage
from aigc_eval.metrics.recon import psnr_per_image, ssim_per_image

IMAGE_METRICS = ["fd", "kid", "prc", "recon", "mode_coverage", "feature_diversity", "memorization", "cond_accuracy"]


@pytest.fixture(scope="module")
def halves(digits):
    """The test split cut in two seeded halves: (reference x, y), (held-out real x, y)."""
    perm = np.random.default_rng(0).permutation(len(digits.test_x))
    ref, held = perm[: len(perm) // 2], perm[len(perm) // 2:]
    return (digits.test_x[ref], digits.test_y[ref]), (digits.test_x[held], digits.test_y[held])


@pytest.fixture(scope="module")
def make_set(digits, digits_extractor, halves):
    (ref_x, ref_y), _ = halves

    def make(generated, **kwargs):
        return ImageEvalSet(generated=generated, reference=ref_x, train=digits.train_x,
                            extractor=digits_extractor, seed=0, **kwargs)

    return make


def values(scores) -> dict:
    return {s.name: s.value for s in scores}


def tf_fid(x, y) -> float:
    stats = [fid_features_to_statistics(torch.from_numpy(f)) for f in (x, y)]
    return fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]


def gaussian_features(rng, n, d, shift=0.0):
    mixing = np.random.default_rng(123).standard_normal((d, d)) / np.sqrt(d)
    return rng.standard_normal((n, d)) @ mixing + shift


# -- registry ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", IMAGE_METRICS)
def test_every_image_metric_scores_real_digits_with_signed_finite_values(name, make_set, halves):
    """Each registered image metric, built by name, scores the held-out real digits: finite numbers whose
    signatures name the metric, the extractor and the sample counts (recon gets reconstructions)."""
    (ref_x, _), (held_x, held_y) = halves
    extra = {"reconstructions": np.clip(ref_x.astype(np.int16) + 8, 0, 255).astype(np.uint8)} if name == "recon" else {}
    extra |= {"labels": held_y[:100]} if name == "cond_accuracy" else {}
    scores = build_metric(name).compute(make_set(held_x[:100], **extra))
    assert scores, name
    for score in scores:
        assert np.isfinite(score.value), (name, score.name)
        sig = str(score.signature)
        assert sig.split("|")[0] == name and "|ext:digits-cnn@" in sig and "|n_gen:100|" in sig, sig


# -- FD ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n1,n2,d", [(60, 90, 40), (130, 70, 64)])  # full-rank covariances
def test_fd_matches_torch_fidelity_from_covariances(n1, n2, d):
    rng = np.random.default_rng(n1)
    x, y = gaussian_features(rng, n1, d), gaussian_features(rng, n2, d, shift=0.3)
    ours = frechet_distance(*covariance(x), *covariance(y))
    assert ours == pytest.approx(tf_fid(x, y), rel=1e-9)


def test_fd_nuclear_norm_route_for_n_below_d_is_exact():
    rng = np.random.default_rng(1)
    x, y = gaussian_features(rng, 50, 200), gaussian_features(rng, 70, 200, shift=0.2)  # n1 != n2 < d
    fast = frechet_distance_from_features(x, y)
    assert fast == pytest.approx(frechet_distance(*covariance(x), *covariance(y)), rel=1e-10)
    # torch-fidelity sums sqrt of ~150 spurious +-1e-16 eigenvalues of the rank-deficient product,
    # so it is only good to ~1e-8 here
    assert fast == pytest.approx(tf_fid(x, y), rel=1e-6)


def test_fd_handles_singular_covariances_like_dead_relu_units():
    rng = np.random.default_rng(2)
    x, y = gaussian_features(rng, 300, 30), gaussian_features(rng, 250, 30, shift=0.5)
    x[:, :4] = 0.0  # dead units in both sets, and different ones
    y[:, 2:6] = 0.0
    (mu1, s1), (mu2, s2) = covariance(x), covariance(y)
    # Tr sqrt(S1 S2) is the nuclear norm of Xc Yc^T / sqrt((n1-1)(n2-1)) for any n (see fd.py)
    product = (x - mu1) @ (y - mu2).T / np.sqrt(299 * 249)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.linalg.norm(product, "nuc")
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_fd_score_ranks_real_data_above_noise(make_set, halves, digits_extractor):
    _, (held_x, _) = halves
    noise = np.random.default_rng(0).integers(0, 256, held_x.shape, dtype=np.uint8)
    real, = build_metric("fd").compute(make_set(held_x))
    bad, = build_metric("fd").compute(make_set(noise))
    assert real.name == bad.name == digits_extractor.metric_name == "fd_digits-cnn"
    assert 0 < real.value < bad.value / 10
    assert not real.higher_is_better and real.description
    fields = real.signature.fields
    assert fields["ext"] == digits_extractor.tag and fields["n_gen"] == len(held_x) and fields["n_ref"] == 180


# -- KID --------------------------------------------------------------------------------------
def test_kid_clamps_its_subset_size_and_is_seeded(make_set, halves):
    _, (held_x, _) = halves
    kid = build_metric("kid", subsets=20, subset_size=1000)
    first = kid.compute(make_set(held_x))
    assert [s.name for s in first] == ["kid", "kid_std"]
    assert first[0].signature.fields["subset_size"] == 180  # min(1000, n_gen, n_ref)
    assert values(kid.compute(make_set(held_x))) == values(first)
    other_seed = make_set(held_x)
    other_seed.seed = 1
    assert values(kid.compute(other_seed))["kid"] != values(first)["kid"]
    noise = np.random.default_rng(0).integers(0, 256, held_x.shape, dtype=np.uint8)
    assert values(kid.compute(make_set(noise)))["kid"] > 100 * abs(values(first)["kid"])


def test_kid_std_is_not_degenerate_when_the_subsets_span_both_sides(make_set, halves):
    """Issue 13: with n_gen = n_ref = subset size, every subset was the whole set and kid_std read ~0
    (0.0016 beside KID 153). Its subsets are now half of each side, and its signature says so."""
    _, (held_x, _) = halves
    noise = np.random.default_rng(0).integers(0, 256, held_x.shape, dtype=np.uint8)
    kid, std = build_metric("kid", subsets=20).compute(make_set(noise))
    assert kid.signature.fields["subset_size"] == 180
    assert std.signature.fields["subset_size"] == 90 and str(std.signature) != str(kid.signature)
    assert std.value > 1e-3 * kid.value


# -- precision / recall / density / coverage ----------------------------------------------------
@pytest.mark.parametrize("block_elems", [2**25, 700])  # one block, and many blocks of a few rows
def test_prc_equals_torch_fidelity_and_prdc(block_elems):
    rng = np.random.default_rng(3)
    gen = rng.standard_normal((300, 32)).astype(np.float32)
    real = (1.2 * rng.standard_normal((260, 32)) + 0.3).astype(np.float32)
    ours = precision_recall_density_coverage(gen, real, k=3, max_block_elems=block_elems)
    tf = prc_features_to_metric(torch.from_numpy(gen), torch.from_numpy(real), prc_neighborhood=3,
                                prc_batch_size=10000, save_cpu_ram=False, verbose=False)
    # torch-fidelity returns float32 means: compare the counts exactly
    assert round(tf["precision"] * 300) == round(ours["precision"] * 300)
    assert round(tf["recall"] * 260) == round(ours["recall"] * 260)
    assert 0.2 < ours["precision"] < 0.99 and 0.2 < ours["recall"] < 0.99
    ours64 = precision_recall_density_coverage(gen.astype(np.float64), real.astype(np.float64), k=3,
                                               max_block_elems=block_elems)
    ref = compute_prdc(real.astype(np.float64), gen.astype(np.float64), nearest_k=3)
    for key in ("precision", "recall", "density", "coverage"):
        assert ours64[key] == pytest.approx(float(ref[key]), rel=1e-12), key


def test_prc_scores_on_digits(make_set, halves, digits):
    _, (held_x, _) = halves
    real = values(build_metric("prc").compute(make_set(held_x)))
    collapsed = values(build_metric("prc").compute(make_set(np.repeat(held_x[:1], len(held_x), axis=0))))
    assert set(real) == {"precision", "recall", "density", "coverage"}
    assert real["precision"] > 0.6 and real["recall"] > 0.6 and real["coverage"] > 0.6
    assert collapsed["recall"] < 0.1 and collapsed["coverage"] < 0.1


def test_prc_rejects_k_larger_than_the_sets(make_set, halves):
    _, (held_x, _) = halves
    with pytest.raises(UserError, match="prc: k=3"):
        build_metric("prc").compute(make_set(held_x[:3]))


# -- PSNR / SSIM ------------------------------------------------------------------------------
def degrade(images, seed, amount=40):
    noise = np.random.default_rng(seed).integers(-amount, amount + 1, images.shape)
    return np.clip(images.astype(int) + noise, 0, 255).astype(np.uint8)


def test_psnr_and_ssim_agree_with_scikit_image_grey_and_rgb(digits):
    grey = digits.test_x[:40]
    rgb = np.random.default_rng(0).integers(0, 256, (6, 3, 20, 13), dtype=np.uint8)
    for originals in (grey, rgb):
        recon = degrade(originals, seed=1)
        expected_ssim = [structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                               data_range=255, channel_axis=0) for a, b in zip(originals, recon)]
        expected_psnr = [peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(originals, recon)]
        np.testing.assert_allclose(ssim_per_image(originals, recon), expected_ssim, rtol=1e-4, atol=1e-10)
        np.testing.assert_allclose(psnr_per_image(originals, recon), expected_psnr, rtol=1e-4)


def test_recon_scores_only_models_with_reconstructions(make_set, halves):
    (ref_x, _), (held_x, _) = halves
    assert build_metric("recon").compute(make_set(held_x)) == []
    perfect = values(build_metric("recon").compute(make_set(held_x, reconstructions=ref_x.copy())))
    noisy = values(build_metric("recon").compute(make_set(held_x, reconstructions=degrade(ref_x, 2))))
    assert perfect == {"psnr": 100.0, "ssim": pytest.approx(1.0)}
    assert 10 < noisy["psnr"] < 40 and 0 < noisy["ssim"] < 0.95


def test_ssim_needs_an_11_pixel_window():
    small = np.zeros((2, 1, 8, 8), dtype=np.uint8)
    with pytest.raises(UserError, match="at least 11x11"):
        ssim_per_image(small, small)


# -- diversity ----------------------------------------------------------------------------------
def test_mode_coverage_and_feature_diversity_see_mode_collapse(make_set, halves, digits):
    (ref_x, _), _ = halves
    same = values(build_metric("mode_coverage").compute(make_set(ref_x)))
    assert same == {"mode_coverage": 1.0, "class_kl": 0.0}
    assert values(build_metric("feature_diversity").compute(make_set(ref_x)))["feature_diversity"] == \
        pytest.approx(1.0)
    sevens = digits.train_x[digits.train_y == 7][:150]
    collapsed = values(build_metric("mode_coverage").compute(make_set(sevens)))
    assert collapsed["mode_coverage"] == pytest.approx(0.1)
    assert collapsed["class_kl"] > 1.0
    assert values(build_metric("feature_diversity").compute(make_set(sevens)))["feature_diversity"] < 0.8


def test_feature_diversity_subsets_are_seeded_and_bounded(make_set, digits):
    metric = build_metric("feature_diversity", max_samples=50)
    first, = metric.compute(make_set(digits.train_x))
    again, = metric.compute(make_set(digits.train_x))
    assert first.value == again.value and first.signature.fields["max_samples"] == 50
    assert 0.7 < first.value < 1.3


# -- memorization --------------------------------------------------------------------------------
@pytest.mark.parametrize("space", ["pixels", "features"])
def test_memorization_is_one_for_copies_and_near_the_quantile_for_real_data(make_set, halves, digits, space):
    _, (held_x, _) = halves
    metric = build_metric("memorization", quantile=0.05, space=space)
    copies, = metric.compute(make_set(digits.train_x[:180]))
    real, = metric.compute(make_set(held_x))
    assert copies.value == 1.0
    assert 0.01 <= real.value <= 0.15  # ~0.05: held-out images, on the same footing as the reference half
    assert copies.signature.fields["space"] == space and copies.signature.fields["q"] == 0.05


def test_memorization_rejects_a_bad_quantile():
    with pytest.raises(UserError, match="quantile"):
        build_metric("memorization", quantile=5)


# -- conditional accuracy -----------------------------------------------------------------------
def test_cond_accuracy_is_the_classifier_accuracy_on_real_images(make_set, digits, digits_extractor):
    assert build_metric("cond_accuracy").compute(make_set(digits.test_x)) == []
    right, = build_metric("cond_accuracy").compute(make_set(digits.test_x, labels=digits.test_y))
    assert right.value == pytest.approx(digits_extractor.info["test_accuracy"])
    wrong, = build_metric("cond_accuracy").compute(make_set(digits.test_x, labels=(digits.test_y + 1) % 10))
    assert wrong.value < 0.05


def test_every_score_has_a_signature_and_a_one_line_description(make_set, halves):
    (ref_x, _), (held_x, held_y) = halves
    eval_set = make_set(held_x, labels=held_y, reconstructions=ref_x)
    for name in IMAGE_METRICS:
        scores = build_metric(name).compute(eval_set)
        assert scores, name
        for score in scores:
            assert score.signature.metric == name and score.signature.fields["ext"] == eval_set.extractor.tag
            assert score.signature.fields["seed"] == 0 and "tf" in score.signature.fields
            assert score.description and "\n" not in score.description
            assert ("higher is better" in score.description) == score.higher_is_better, score.name
