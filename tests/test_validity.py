"""The metric-validity table: Spearman correlations of proxies with exact rates, sign-aware."""
from __future__ import annotations

import numpy as np
import pytest

from aigc_eval.data import load_dataset
from aigc_eval.errors import UserError
from aigc_eval.metrics import ImageEvalSet, build_metric
from aigc_eval.validity import validity_table

TRUTH = {"hallucination_rate": "truth"}  # bare numbers are proxies unless their role is given


def row(rows, proxy, truth="hallucination_rate"):
    (found,) = [r for r in rows if r["proxy"] == proxy and r["true_rate"] == truth]
    return found


def test_monotone_proxies_correlate_perfectly_in_the_expected_direction():
    truth = np.linspace(0.05, 0.9, 12)
    points = [{"hallucination_rate": t, "fd_digits-cnn": np.exp(3 * t), "precision": 1 - t ** 2,
               "recall": t, "model": "dcgan"} for t in truth]
    assert validity_table(points) == []  # without a role every bare number is a proxy: nothing to correlate with
    rows = validity_table(points, roles=TRUTH)
    assert {r["proxy"] for r in rows} == {"fd_digits-cnn", "precision", "recall"}  # strings are ignored
    fd, precision, recall = row(rows, "fd_digits-cnn"), row(rows, "precision"), row(rows, "recall")
    assert fd["spearman"] == pytest.approx(1) and fd["expected_sign"] == 1 and fd["direction"] == "expected"
    assert precision["spearman"] == pytest.approx(-1) and precision["direction"] == "expected"
    # recall rising with hallucinations: improving the proxy goes with a worse truth
    assert recall["spearman"] == pytest.approx(1) and recall["expected_sign"] == -1
    assert recall["direction"] == "opposite"
    assert all(r["n"] == 12 and r["confident"] and r["p"] < 1e-6 for r in rows)
    assert fd["ci"] == pytest.approx([1, 1])


def test_independent_proxy_is_near_zero_and_not_confident():
    rng = np.random.default_rng(0)
    points = [{"hallucination_rate": h, "density": d} for h, d in rng.random((200, 2))]
    r = row(validity_table(points, roles=TRUTH), "density")
    assert abs(r["spearman"]) < 0.15 and r["ci"][0] < 0 < r["ci"][1] and not r["confident"] and r["p"] > 0.05


def test_results_entries_directions_overrides_missing_values_and_determinism():
    truth = [0.9, 0.7, 0.5, 0.3, 0.1]
    points = [{"controllability": {"value": c, "higher_is_better": True, "role": "truth"},
               "my_score": {"value": 10 * c, "higher_is_better": False},
               "bleu4": None if i == 0 else 100 * c, "mystery": c ** 2} for i, c in enumerate(truth)]
    rows = validity_table(points)
    mine, bleu, mystery = row(rows, "my_score", "controllability"), row(rows, "bleu4", "controllability"), \
        row(rows, "mystery", "controllability")
    assert mine["spearman"] == pytest.approx(1) and mine["direction"] == "opposite"  # entry says lower is better
    assert bleu["n"] == 4 and bleu["direction"] == "expected"
    assert mystery["expected_sign"] is None and mystery["direction"] == "unknown"
    overridden = row(validity_table(points, higher_is_better={"mystery": True}), "mystery", "controllability")
    assert overridden["direction"] == "expected"
    assert validity_table(points, seed=3) == validity_table(points, seed=3)


def test_undefined_correlations_are_none():
    rows = validity_table([{"hallucination_rate": 0.1, "kid": 1.0}, {"hallucination_rate": 0.2, "kid": 2.0}],
                          roles=TRUTH)
    assert rows[0]["n"] == 2 and rows[0]["spearman"] is None and rows[0]["direction"] == "none"
    constant = validity_table([{"hallucination_rate": h, "kid": 1.0} for h in (0.1, 0.2, 0.3, 0.4)], roles=TRUTH)
    assert constant[0]["spearman"] is None and constant[0]["ci"] is None and constant[0]["n"] == 4


def test_bad_options_raise_user_errors():
    with pytest.raises(UserError, match="confidence"):
        validity_table([], confidence=95)
    with pytest.raises(UserError, match="n_boot"):
        validity_table([], n_boot=0)


def test_oracle_hallucination_tracks_the_noise_share_of_real_oracle_outputs():
    shapes = load_dataset("shapes")
    rng = np.random.default_rng(0)
    oracle = build_metric("shapes_oracle")
    points = []
    for share in np.linspace(0, 0.9, 7):
        n_noise = int(round(share * 400))
        real = shapes.test_x[rng.choice(len(shapes.test_x), 400 - n_noise, replace=False)]
        noise = rng.integers(0, 256, size=(n_noise, 3, 16, 16), dtype=np.uint8)
        es = ImageEvalSet(generated=np.concatenate([real, noise]), reference=shapes.test_x,
                          train=shapes.train_x, extractor=None,
                          dataset_meta=shapes.meta)
        points.append({s.name: s.to_json() for s in oracle.compute(es)} | {"noise_share": share})
    hallucination = [p["hallucination_rate"]["value"] for p in points]
    assert np.all(np.diff(hallucination) > 0) and hallucination[0] <= 0.01
    rows = validity_table(points, higher_is_better={"noise_share": False})
    assert {r["proxy"] for r in rows} == {"noise_share"}  # the oracle's own outputs are not proxies: their roles
    assert {r["true_rate"] for r in rows} == {"hallucination_rate", "oracle_rms"}
    for truth in ("hallucination_rate", "oracle_rms"):
        r = row(rows, "noise_share", truth)
        assert r["spearman"] == pytest.approx(1) and r["direction"] == "expected" and r["n"] == 7

