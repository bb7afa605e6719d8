"""CMMD-style MMD: a hand-computed 3-vs-3 value, the reference code's biased estimator, ~0 for one
distribution, growth with a mean shift, and the bandwidth options."""
import math

import numpy as np
import pytest
import torch

from aigc_eval.metrics.cmmd import CMMD_SCALE, CMMD_SIGMA, cmmd, mmd2_rbf

E = math.exp


def test_constants_are_the_papers():
    assert (CMMD_SIGMA, CMMD_SCALE) == (10.0, 1000.0)


def test_hand_computed_3_vs_3():
    """x = {0, 1, 2}, y = {3, 4, 5} on a line, sigma = 1, so k = exp(-d^2 / 2).

    x pairs and y pairs: d^2 = 1, 4, 1; cross d^2 = 1 (x1), 4 (x2), 9 (x3), 16 (x2), 25 (x1). MMD^2_u = 0.6964415.
    """
    x, y = np.array([[0.0], [1.0], [2.0]]), np.array([[3.0], [4.0], [5.0]])
    kxx = kyy = (2 * E(-0.5) + E(-2)) / 3
    kxy = (E(-0.5) + 2 * E(-2) + 3 * E(-4.5) + 2 * E(-8) + E(-12.5)) / 9
    unbiased = kxx + kyy - 2 * kxy
    assert unbiased == pytest.approx(0.6964415, abs=1e-7)
    # two close sets, x vs {0, 1, 3}: the unbiased estimate is legitimately negative
    near = (E(-0.5) + E(-4.5) + E(-2)) / 3 + kxx - 2 * (2 + 4 * E(-0.5) + 2 * E(-2) + E(-4.5)) / 9
    assert near == pytest.approx(-0.3457433, abs=1e-7)
    assert mmd2_rbf(x, np.array([[0.0], [1.0], [3.0]]), sigma=1.0) == pytest.approx(near, rel=1e-13)
    assert mmd2_rbf(x, y, sigma=1.0) == pytest.approx(unbiased, rel=1e-13)
    assert cmmd(x, y, sigma=1.0) == pytest.approx(1000 * unbiased, rel=1e-13)
    # V-statistic: the diagonals (three 1s per side) are in the means
    biased = (3 + 2 * 3 * kxx) / 9 + (3 + 2 * 3 * kyy) / 9 - 2 * kxy
    assert mmd2_rbf(x, y, sigma=1.0, unbiased=False) == pytest.approx(biased, rel=1e-13)


def reference_code_cmmd(x, y, sigma=10.0, scale=1000.0):
    """The formula of google-research cmmd/distance.py (plain means over all pairs), in torch."""
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    gamma = 1 / (2 * sigma**2)
    xs, ys = (x * x).sum(1), (y * y).sum(1)
    kxx = torch.exp(-gamma * (-2 * x @ x.T + xs[:, None] + xs[None, :])).mean()
    kxy = torch.exp(-gamma * (-2 * x @ y.T + xs[:, None] + ys[None, :])).mean()
    kyy = torch.exp(-gamma * (-2 * y @ y.T + ys[:, None] + ys[None, :])).mean()
    return float(scale * (kxx + kyy - 2 * kxy))


def unit_rows(n, d, seed, shift=0.0):
    z = np.random.default_rng(seed).normal(size=(n, d))
    z[:, 0] += shift
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def test_biased_option_reproduces_reference_code_and_blocks_do_not_matter():
    x, y = unit_rows(1500, 16, 1), unit_rows(1100, 16, 2, shift=0.5)  # > 1 row block
    assert cmmd(x, y, unbiased=False) == pytest.approx(reference_code_cmmd(x, y), rel=1e-9)
    # V - U = scale * ((1 - mean k_xx off-diagonal)/m + (1 - mean k_yy off-diagonal)/n): O(1/n), and
    # for unit rows k >= exp(-4/200); here 0.0155 beside a value of 0.167 (9%: small n matters)
    gap = cmmd(x, y, unbiased=False) - cmmd(x, y)
    assert 0 < gap < 1000 * (1 - E(-0.02)) * (1 / 1500 + 1 / 1100)


def test_same_distribution_is_about_zero():
    x, y = unit_rows(400, 16, 3), unit_rows(400, 16, 4)
    shifted = unit_rows(400, 16, 5, shift=1.0)
    same = cmmd(x, y)
    assert abs(same) < 0.05 * cmmd(x, shifted)
    # a set against itself: unbiased gives 2 scale (mean off-diagonal - 1) / n, in (-2 scale (1 - e^-0.02) / n, 0]
    self_value = cmmd(x, x)
    assert -2000 * (1 - E(-0.02)) / 400 < self_value <= 0.0


def test_grows_with_mean_shift():
    x = unit_rows(300, 8, 6)
    values = [cmmd(x, unit_rows(300, 8, 7, shift=s)) for s in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert all(a < b for a, b in zip(values, values[1:])), values


def test_other_extractor_options():
    rng = np.random.default_rng(8)
    x, y = 50.0 * rng.normal(size=(200, 32)), 50.0 * rng.normal(size=(200, 32)) + 20.0
    # raw large-scale features with sigma = 10: the kernel is ~0 off the diagonal, so the value reads ~0
    assert abs(cmmd(x, y)) < 1e-6
    # normalize=True: the same as feeding unit rows
    xn, yn = x / np.linalg.norm(x, axis=1, keepdims=True), y / np.linalg.norm(y, axis=1, keepdims=True)
    assert cmmd(x, y, normalize=True) == pytest.approx(cmmd(xn, yn), rel=1e-12)
    assert cmmd(x, y, normalize=True) > 1.0
    # sigma="median": the median pairwise distance of the pooled sets
    pooled = np.concatenate([x, y])
    d = np.sqrt(((pooled[:, None] - pooled[None]) ** 2).sum(-1))
    median = np.median(d[np.triu_indices(len(pooled), 1)])
    assert cmmd(x, y, sigma="median") == pytest.approx(cmmd(x, y, sigma=median), rel=1e-10)


@pytest.mark.parametrize("kwargs, message", [
    (dict(x=np.zeros((3, 2)), y=np.zeros((3, 3))), "equal width"),
    (dict(x=np.zeros(3), y=np.zeros(3)), "equal width"),
    (dict(x=np.zeros((1, 2)), y=np.zeros((3, 2))), "at least 2 rows"),
    (dict(x=np.full((2, 2), np.nan), y=np.zeros((3, 2))), "NaN"),
    (dict(x=np.ones((2, 2)), y=np.ones((2, 2)), sigma=0.0), "positive number"),
    (dict(x=np.ones((2, 2)), y=np.ones((2, 2)), sigma="mean"), "positive number or 'median'"),
    (dict(x=np.ones((2, 2)), y=np.ones((2, 2)), sigma="median"), "median' is 0"),
    (dict(x=np.zeros((2, 2)), y=np.ones((2, 2)), normalize=True), "not all zero"),
    (dict(x=np.ones((2, 2)), y=np.ones((2, 2)), scale=-1), "scale"),
])
def test_bad_input_is_one_line_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        cmmd(**kwargs)
    assert "\n" not in str(info.value)
