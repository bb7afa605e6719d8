"""FD-infinity on Gaussian features whose true FD is known in closed form.

Generated features ~ N(0, diag(s1)), reference statistics exactly (mu2, diag(s2)), d = 32, so
FD = |mu2|^2 + sum_i (sqrt(s1_i) - sqrt(s2_i))^2 = 3.8738 (the covariances commute). Measured with
seeds 0..4 at n = 2000 (N from 200 to 2000, 15 points): FD_inf 3.893, 3.947, 3.825, 3.719, 3.892
(mean 3.855, error -0.019); plain FD at N = 200: 5.40-5.97; at N = 2000: 3.95-4.15 (mean 4.045,
error +0.171). Each fd_infinity call takes ~0.2 s here.
"""
import numpy as np
import pytest

from aigc_eval.metrics.fd import covariance, frechet_distance
from aigc_eval.metrics.fd_infinity import NUM_POINTS, fd_infinity, fit_inverse_n

D = 32
_rng = np.random.default_rng(0)
S1, S2 = _rng.uniform(0.5, 2, D), _rng.uniform(0.5, 2, D)
MU2 = np.zeros(D)
MU2[0] = 0.5
TRUE_FD = 0.25 + ((np.sqrt(S1) - np.sqrt(S2)) ** 2).sum()


def generated(seed, n=2000):
    return np.random.default_rng(100 + seed).normal(size=(n, D)) * np.sqrt(S1)


def test_true_fd_is_the_closed_form():
    assert TRUE_FD == pytest.approx(3.873842194724225, rel=1e-12)
    assert frechet_distance(np.zeros(D), np.diag(S1), MU2, np.diag(S2)) == pytest.approx(TRUE_FD, rel=1e-12)


def test_fit_recovers_an_exact_line_in_one_over_n():
    sizes = np.linspace(100, 1000, 15).astype(int)
    assert fit_inverse_n(sizes, 2.5 + 300.0 / sizes) == pytest.approx((2.5, 300.0), rel=1e-12)
    # by hand, two points: (N=1, 3), (N=2, 2) -> 1 + 2/N
    assert fit_inverse_n([1, 2], [3.0, 2.0]) == pytest.approx((1.0, 2.0), rel=1e-12)


def test_protocol_sizes_and_subsets():
    result = fd_infinity(generated(0), (MU2, np.diag(S2)), seed=0)
    assert NUM_POINTS == 15
    assert result.sizes == tuple(np.linspace(200, 2000, 15).astype(int))
    assert len(result.fds) == 15
    # every FD_N is the exact FD of a subset of that size drawn from default_rng(seed)
    rng = np.random.default_rng(0)
    x = generated(0)
    for size, fd in zip(result.sizes, result.fds):
        subset = x[rng.permutation(len(x))[:size]]
        assert fd == pytest.approx(frechet_distance(*covariance(subset), MU2, np.diag(S2)), rel=1e-12)
    assert result.fd_at_max == pytest.approx(frechet_distance(*covariance(x), MU2, np.diag(S2)), rel=1e-10)
    assert result.predict(1e300) == pytest.approx(result.fd_infinity)


def test_fd_infinity_is_closer_to_the_truth_than_plain_fd():
    results = [fd_infinity(generated(seed), (MU2, np.diag(S2)), seed=seed) for seed in range(5)]
    for r in results:
        assert abs(r.fd_infinity - TRUE_FD) < abs(r.fds[0] - TRUE_FD) / 5  # plain FD at N = 200
        assert r.slope > 0  # FD is biased upwards here
    mean_inf = np.mean([r.fd_infinity for r in results])
    mean_plain = np.mean([r.fd_at_max for r in results])  # plain FD of all 2000
    assert abs(mean_inf - TRUE_FD) < abs(mean_plain - TRUE_FD) / 3
    assert abs(mean_inf - TRUE_FD) < 0.05


def test_deterministic_per_seed_and_reference_as_features():
    x = generated(1, n=600)
    ref = np.random.default_rng(7).normal(size=(3000, D)) * np.sqrt(S2) + MU2
    a, b = fd_infinity(x, ref, seed=3), fd_infinity(x, ref, seed=3)
    assert a == b
    assert fd_infinity(x, ref, seed=4).fd_infinity != a.fd_infinity
    assert fd_infinity(x, covariance(ref), seed=3) == a  # features or (mu, sigma): the same
    custom = fd_infinity(x, ref, n_min=100, n_max=500, num_points=5, seed=3)
    assert custom.sizes == (100, 200, 300, 400, 500)


@pytest.mark.parametrize("kwargs, message", [
    (dict(generated=np.zeros((1, D))), "n >= 2"),
    (dict(generated=np.zeros((10, D + 1))), "reference statistics"),
    (dict(generated=np.full((10, D), np.nan)), "NaN"),
    (dict(generated=np.ones((10, D)), reference=np.zeros((1, D))), "reference features"),
    (dict(generated=np.ones((10, D)), reference=(np.zeros(D), np.eye(D + 1))), "reference mu"),
    (dict(generated=np.ones((10, D)), n_min=5, n_max=11), "n_min < n_max <= 10"),
    (dict(generated=np.ones((10, D)), n_min=5, n_max=5), "n_min < n_max"),
    (dict(generated=np.ones((10, D)), num_points=1), "num_points"),
])
def test_bad_input_is_one_line_value_error(kwargs, message):
    kwargs.setdefault("reference", (MU2, np.diag(S2)))
    with pytest.raises(ValueError, match=message) as info:
        fd_infinity(**kwargs)
    assert "\n" not in str(info.value)
