"""Our FD, KID and precision/recall equal torch-fidelity's on the same network and the same images.

The suite's digits classifier is registered with torch-fidelity (aigc_eval.features.fidelity), and
torch_fidelity.calculate_metrics runs end to end on uint8 image Datasets, against our metrics on
the same images.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch_fidelity
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from aigc_eval.features.fidelity import TensorImages, register_with_torch_fidelity
from aigc_eval.metrics import ImageEvalSet, build_metric

SEED = 7


def test_registration_is_once_per_weights_hash_and_keeps_the_requested_feature_order(digits_extractor, digits):
    name = register_with_torch_fidelity(digits_extractor)
    assert register_with_torch_fidelity(digits_extractor) == name
    assert digits_extractor.weights_hash in name
    cls = FEATURE_EXTRACTORS_REGISTRY[name]
    batch = torch.from_numpy(digits.test_x[:5])
    expected = digits_extractor.extract(digits.test_x[:5])
    for order in (["features", "logits"], ["logits", "features"], ["logits"]):
        outputs = cls(name, order).eval()(batch)
        assert len(outputs) == len(order)
        for layer, out in zip(order, outputs):
            np.testing.assert_array_equal(out.numpy(), expected[layer])


def degraded(images, seed):
    """Real digits with noise and a shift: a plausible imperfect 'model'."""
    rng = np.random.default_rng(seed)
    noisy = images.astype(int) + rng.integers(-60, 61, images.shape)
    return np.clip(np.roll(noisy, 1, axis=-1), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("case", ["train-vs-test", "degraded-vs-test"])
def test_fd_kid_prc_equal_torch_fidelity_calculate_metrics(digits_extractor, digits, case):
    generated = digits.train_x[:400] if case == "train-vs-test" else degraded(digits.train_x[:300], 1)
    reference = digits.test_x
    eval_set = ImageEvalSet(generated=generated, reference=reference, train=digits.train_x, extractor=digits_extractor, seed=SEED)
    # KID on raw features, as on Inception's (kid.py: other extractors' features are rescaled by default)
    metrics = [build_metric("fd"), build_metric("kid", feature_scale="raw"), build_metric("prc")]
    ours = {s.name: s.value for metric in metrics for s in metric.compute(eval_set)}
    subset_size = min(1000, len(generated), len(reference))
    theirs = torch_fidelity.calculate_metrics(
        input1=TensorImages(generated), input2=TensorImages(reference),
        feature_extractor=register_with_torch_fidelity(digits_extractor), fid=True, kid=True, prc=True,
        kid_subset_size=subset_size, rng_seed=SEED, batch_size=500, cuda=False, save_cpu_ram=True,
        cache=False, verbose=False)
    assert ours["fd_digits-cnn"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)
    assert ours["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-6)
    # kid_std is over subsets of half the smaller side (its own signature says so): as torch-fidelity's
    # KID std with that subset size.
    theirs_std = torch_fidelity.calculate_metrics(
        input1=TensorImages(generated), input2=TensorImages(reference),
        feature_extractor=register_with_torch_fidelity(digits_extractor), kid=True,
        kid_subset_size=min(len(generated), len(reference)) // 2, rng_seed=SEED, batch_size=500, cuda=False,
        save_cpu_ram=True, cache=False, verbose=False)
    assert ours["kid_std"] == pytest.approx(theirs_std["kernel_inception_distance_std"], rel=1e-6)
    assert ours["precision"] == pytest.approx(theirs["precision"], rel=1e-6)
    assert ours["recall"] == pytest.approx(theirs["recall"], rel=1e-6)
    assert ours["fd_digits-cnn"] > 1e-3 and 0.0 < ours["precision"] < 1.0  # not a degenerate comparison
