"""Streaming feature statistics equal np.cov / mean for any batch split; statistics files round-trip,
and a mismatched, foreign or corrupt file is a one-line UserError naming the file."""
import json
import zipfile

import numpy as np
import pytest
import torch

from aigc_eval.errors import UserError
from aigc_eval.features.statistics import FORMAT, FORMAT_VERSION, RunningStats, load_stats, save_stats

TAG = "digits-cnn@3f2a1c9d0b1e"


def features(n=1000, d=24, seed=0):
    rng = np.random.default_rng(seed)
    # a large common offset and correlated columns: the case where sum-of-squares formulas lose digits
    return (rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 1e4).astype(np.float32)


def assert_matches_numpy(stats, x):
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(stats.mean, x64.mean(axis=0), rtol=1e-12, atol=0)
    reference = np.cov(x64, rowvar=False)
    assert np.abs(stats.cov - reference).max() <= 1e-10 * np.abs(reference).max()
    assert stats.n == len(x)


@pytest.mark.parametrize("split", ["one", "equal", "ragged", "singletons"])
def test_batch_split_invariance(split):
    x = features()
    rng = np.random.default_rng(1)
    cuts = {"one": [], "equal": list(range(100, 1000, 100)),
            "ragged": sorted(rng.choice(np.arange(1, 1000), 17, replace=False)),
            "singletons": list(range(1, 1000))}[split]
    stats = RunningStats()
    for batch in np.split(x, cuts):
        stats.update(batch)
    assert_matches_numpy(stats, x)


def test_torch_batches_empty_batches_and_merge():
    x = features(n=500, d=8, seed=2)
    stats = RunningStats().update(np.zeros((0, 8)))
    for batch in torch.from_numpy(x).split(64):
        stats.update(batch)
    assert_matches_numpy(stats, x)
    # two accumulators (two processes, say) merged: the same as one
    a = RunningStats.from_features(x[:123], batch_size=50)
    b = RunningStats.from_features(x[123:], batch_size=7)
    assert_matches_numpy(a.merge(b), x)
    assert_matches_numpy(RunningStats.from_features(x), x)


def test_running_stats_errors():
    with pytest.raises(ValueError, match="no features"):
        RunningStats().mean
    with pytest.raises(ValueError, match="at least 2"):
        RunningStats().update(np.ones((1, 3))).cov
    with pytest.raises(ValueError, match="3-d"):
        RunningStats().update(np.ones((2, 3))).update(np.ones((2, 4)))
    with pytest.raises(ValueError, match="b x d"):
        RunningStats().update(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        RunningStats().update(np.full((2, 3), np.inf))


def test_round_trip(tmp_path):
    x = features(n=300, d=16, seed=3)
    stats = RunningStats.from_features(x, batch_size=64)
    path = save_stats(tmp_path / "ref.npz", stats, {"extractor": TAG, "dataset": "digits", "seed": 0})
    assert path == tmp_path / "ref.npz" and sorted(p.name for p in tmp_path.iterdir()) == ["ref.npz"]  # no temp left
    loaded = load_stats(path, expect={"extractor": TAG, "n": 300})
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    np.testing.assert_array_equal(loaded.cov, stats.cov)
    assert loaded.n == 300
    assert loaded.signature == {"extractor": TAG, "dataset": "digits", "seed": 0, "n": 300}
    with np.load(path, allow_pickle=False) as raw:
        assert str(raw["format"]) == FORMAT and int(raw["version"]) == FORMAT_VERSION == 1
    # overwriting is atomic too, and a name without .npz keeps its name
    save_stats(tmp_path / "ref.stats", stats, {"extractor": TAG})
    assert load_stats(tmp_path / "ref.stats").n == 300


def one_line_user_error(path, expect=None, match=None):
    with pytest.raises(UserError, match=match) as info:
        load_stats(path, expect=expect)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_signature_mismatch(tmp_path):
    path = save_stats(tmp_path / "ref.npz", RunningStats.from_features(features(n=50, d=4)), {"extractor": TAG})
    message = one_line_user_error(path, {"extractor": "inception-v3-compat@abc123"}, "computed with")
    assert f"extractor:{TAG}" in message and "expected extractor:inception-v3-compat@abc123" in message
    message = one_line_user_error(path, {"extractor": TAG, "n": 10000, "dataset": "shapes"})
    assert "n:50, dataset:(missing)" in message and "expected n:10000, dataset:shapes" in message


def test_wrong_and_corrupt_files(tmp_path):
    good = save_stats(tmp_path / "good.npz", RunningStats.from_features(features(n=50, d=4)), {"extractor": TAG})
    one_line_user_error(tmp_path / "missing.npz", match="does not exist")
    (tmp_path / "text.npz").write_text("not a zip\n")
    one_line_user_error(tmp_path / "text.npz", match="cannot read")
    np.save(tmp_path / "array.npy", np.ones(3))
    one_line_user_error(tmp_path / "array.npy", match="not an aigc-eval statistics file")
    np.savez(tmp_path / "samples.npz", samples=np.zeros((2, 8, 8, 3), np.uint8))
    one_line_user_error(tmp_path / "samples.npz", match="not an aigc-eval statistics file")
    # truncated mid-file
    data = good.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    one_line_user_error(tmp_path / "truncated.npz", match="cannot read")
    # one byte of the covariance flipped: zip's CRC-32 catches it
    flipped = bytearray(data)
    flipped[data.index(b"cov.npy") + 200] ^= 0xFF
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    one_line_user_error(tmp_path / "flipped.npz", match="cannot read")
    # a well-formed zip whose arrays disagree with each other
    with np.load(good) as raw:
        arrays = {k: raw[k] for k in raw.files}
    np.savez(tmp_path / "inconsistent.npz", **{**arrays, "cov": np.eye(5)})
    one_line_user_error(tmp_path / "inconsistent.npz", match="corrupt")
    np.savez(tmp_path / "future.npz", **{**arrays, "version": np.array(2)})
    one_line_user_error(tmp_path / "future.npz", match="format version 2")
    np.savez(tmp_path / "badjson.npz", **{**arrays, "signature": np.array("{not json")})
    one_line_user_error(tmp_path / "badjson.npz", match="cannot read")
    with np.load(good) as raw:
        assert zipfile.is_zipfile(good) and json.loads(str(raw["signature"]))["n"] == 50


@pytest.mark.parametrize("fields, message", [
    ({}, "name@weights-hash"),
    ({"extractor": "digits-cnn"}, "name@weights-hash"),
    ({"extractor": TAG, "n": 5}, "stats.n"),
    ({"extractor": TAG, "seed": None}, "str, int or float"),
])
def test_save_validates_signature(tmp_path, fields, message):
    with pytest.raises(ValueError, match=message) as info:
        save_stats(tmp_path / "x.npz", RunningStats.from_features(features(n=5, d=2)), fields)
    assert "\n" not in str(info.value) and not (tmp_path / "x.npz").exists()
