"""Bradley–Terry: hand-worked examples, agreement with choix, and recovery of simulated strengths."""
from __future__ import annotations

import math

import numpy as np
import pytest

from aigc_eval.rating import bradley_terry as bt


def test_two_items_three_wins_in_four_is_log_three():
    # P(A beats B) = 3/4 maximises 3 log p + log(1 - p), so theta_A - theta_B = logit(3/4) = ln 3.
    c = bt.Comparisons.from_list(2, [(0, 1, 1), (0, 1, 1), (1, 0, 0), (0, 1, 0)])
    theta = bt.fit(c, alpha=0)
    assert theta[0] - theta[1] == pytest.approx(math.log(3), abs=1e-6)
    assert theta.sum() == pytest.approx(0, abs=1e-9)


def test_saturated_three_items_recover_strengths_four_two_one():
    # Strengths pi = (4, 2, 1): P(A>B) = 2/3, P(B>C) = 2/3, P(A>C) = 4/5. With counts in exactly those
    # proportions (A-B 2:1, B-C 2:1, A-C 4:1) every pair's observed share equals the model's, so the
    # score equations hold at log(4, 2, 1), centred: (ln 4 - ln 8 / 3, ...).
    outcomes = [(0, 1, 1)] * 2 + [(1, 0, 1)] + [(1, 2, 1)] * 2 + [(2, 1, 1)] + [(0, 2, 1)] * 4 + [(2, 0, 1)]
    theta = bt.fit(bt.Comparisons.from_list(3, outcomes), alpha=0)
    expected = np.log([4.0, 2.0, 1.0])
    np.testing.assert_allclose(theta, expected - expected.mean(), atol=1e-6)


def test_a_tie_is_half_a_win_each():
    # A wins once, two ties: A has 1 + 2 x 1/2 = 2 of 3 wins, so P(A>B) = 2/3 and the gap is ln 2.
    theta = bt.fit(bt.Comparisons.from_list(2, [(0, 1, 1), (0, 1, 0.5), (1, 0, 0.5)]), alpha=0)
    assert theta[0] - theta[1] == pytest.approx(math.log(2), abs=1e-6)


def test_the_prior_keeps_a_clean_sweep_finite_and_centred():
    theta = bt.fit(bt.Comparisons.from_list(3, [(0, 1, 1)] * 5 + [(0, 2, 1)] * 5), alpha=0.1)
    assert np.isfinite(theta).all() and theta[0] > 2 and theta.sum() == pytest.approx(0, abs=1e-9)


def test_weights_count_comparisons_as_repeats():
    once = bt.Comparisons.from_list(3, [(0, 1, 1), (1, 2, 1), (2, 0, 1), (0, 2, 1)])
    repeated = bt.Comparisons.from_list(3, [(0, 1, 1), (1, 2, 1), (2, 0, 1), (0, 2, 1), (0, 2, 1), (0, 2, 1)])
    np.testing.assert_allclose(bt.fit(once, 0.1, weights=[1, 1, 1, 3]), bt.fit(repeated, 0.1), atol=1e-7)


def test_agrees_with_choix_without_ties():
    choix = pytest.importorskip("choix")
    rng = np.random.default_rng(3)
    true = np.array([1.0, 0.3, -0.2, -1.1])
    pairs = [tuple(rng.choice(4, 2, replace=False)) for _ in range(400)]
    data = [(i, j) if rng.random() < 1 / (1 + math.exp(true[j] - true[i])) else (j, i) for i, j in pairs]
    ours = bt.fit(bt.Comparisons.from_list(4, [(w, l, 1) for w, l in data]), alpha=0.02)
    theirs = choix.opt_pairwise(4, data, alpha=0.01)  # choix penalises alpha |theta|^2, ours alpha/2 |theta|^2
    np.testing.assert_allclose(ours, theirs - theirs.mean(), atol=1e-4)


def test_rejects_bad_comparisons():
    with pytest.raises(ValueError, match="two different items"):
        bt.Comparisons.from_list(2, [(0, 0, 1)])
    with pytest.raises(ValueError, match="win share"):
        bt.Comparisons.from_list(2, [(0, 1, 2)])


def test_simulated_strengths_are_recovered_within_their_intervals():
    """Votes drawn from known strengths, 10% of them ties: each true (centred) strength lies inside
    its 95% bootstrap interval, and the fitted order is the true one. A tie counts as half a win, so
    the decisive votes are drawn to keep i's expected share at sigma(theta_i - theta_j)."""
    rng = np.random.default_rng(0)
    true = np.array([1.2, 0.5, 0.0, -0.6, -1.1])
    true -= true.mean()
    outcomes = []
    for _ in range(1500):
        i, j = rng.choice(5, 2, replace=False)
        p = 1 / (1 + math.exp(true[j] - true[i]))
        if rng.random() < 0.1:
            outcomes.append((i, j, 0.5))
        else:
            outcomes.append((i, j, float(rng.random() < (p - 0.05) / 0.9)))
    c = bt.Comparisons.from_list(5, outcomes)
    theta = bt.fit(c, alpha=0.01)
    low, high = bt.percentile_interval(bt.bootstrap(c, lambda t: t, n_boot=300, alpha=0.01, seed=1))
    assert ((low <= true) & (true <= high)).all(), (low, true, high)
    assert list(np.argsort(-theta)) == [0, 1, 2, 3, 4]
    assert (high - low).max() < 0.5  # 1,500 votes pin each strength to a few tenths


def test_bootstrap_is_deterministic_for_a_seed():
    c = bt.Comparisons.from_list(3, [(0, 1, 1), (1, 2, 1), (0, 2, 0.5), (2, 1, 1)])
    a = bt.bootstrap(c, lambda t: t, n_boot=20, seed=5)
    np.testing.assert_array_equal(a, bt.bootstrap(c, lambda t: t, n_boot=20, seed=5))


def test_a_clean_sweep_keeps_an_interval_only_the_parametric_bootstrap_gives():
    """12 votes, all for item 0: every resample of the votes is the same sweep, so the plain
    bootstrap's interval is the point; redrawn votes include the upsets the fit expects (measured:
    item 0 at 2.03, interval [1.14, 2.03]), and 12 votes still place it above item 1."""
    c = bt.Comparisons.from_list(2, [(0, 1, 1)] * 12)
    theta = bt.fit(c)
    plain = bt.percentile_interval(bt.bootstrap(c, lambda t: t, n_boot=200, seed=0))
    np.testing.assert_allclose(plain[0], plain[1])  # collapsed
    low, high = bt.percentile_interval(bt.bootstrap(c, lambda t: t, n_boot=200, seed=0, parametric=True))
    assert high[0] == pytest.approx(theta[0]) and high[0] - low[0] > 0.5
    assert low[0] > 0 > high[1]
