"""Streaming Gaussian feature statistics, and reference-statistics files (issue 14 §2-3).

`RunningStats` accumulates the mean and covariance of features batch by batch in float64, so that
only a d-vector and a d x d matrix are kept, never the features. Each batch's own mean and
centred scatter matrix are merged with the running ones by Chan, Golub & LeVeque's pairwise update
("Updating formulae and a pairwise algorithm for computing sample variances", 1979/1983), in its
multivariate form: for parts A (n_A, mean_A, M_A) and B, with M the sum of centred outer products,

    n = n_A + n_B,   delta = mean_B - mean_A,
    mean = mean_A + delta n_B / n,
    M = M_A + M_B + delta delta^T n_A n_B / n,          cov = M / (n - 1)   (as np.cov).

No sum of squares of uncentred values is ever formed, so the result equals np.cov / mean of all
features to ~1e-12 relative for any batch split (tests/test_feature_statistics.py).

`save_stats(path, stats, signature_fields)` writes mean, covariance and sample count to an .npz,
atomically (aigc_eval.atomic.save_with: a temporary file in the same folder, fsynced, then
os.replace), with the format name, a format version and the signature fields as JSON: at least the
extractor tag `name@weights-hash`, since statistics from other weights cannot be compared.
`load_stats(path, expect=...)` reads it back (allow_pickle=False) and checks it; a missing,
corrupt or foreign file, a newer format, or a signature that differs from `expect` raises
aigc_eval.errors.UserError with one line naming the file and what was expected.
"""
from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import save_with
from ..data.local import one_line
from ..errors import UserError

FORMAT = "aigc-eval-feature-stats"
FORMAT_VERSION = 1
_TAG = re.compile(r"^[^@\s|]+@[^@\s|]+$")  # name@weights-hash, as FeatureExtractor.tag


def _as_batch(batch) -> np.ndarray:
    if hasattr(batch, "detach"):  # a torch tensor, possibly on a GPU
        batch = batch.detach().cpu().numpy()
    return np.asarray(batch, dtype=np.float64)


class RunningStats:
    """Mean and covariance of feature batches (b x d each), merged in float64 as they arrive."""

    def __init__(self):
        self.n = 0
        self._mean: np.ndarray | None = None
        self._scatter: np.ndarray | None = None  # sum of centred outer products, d x d

    @property
    def dim(self) -> int | None:
        return None if self._mean is None else len(self._mean)

    def update(self, batch) -> "RunningStats":
        """Merge a b x d batch (numpy or torch, any float dtype); returns self."""
        x = _as_batch(batch)
        if x.ndim != 2 or x.shape[1] == 0:
            raise ValueError(f"RunningStats.update: a batch must be a b x d matrix, got shape {x.shape}")
        if self.dim is not None and x.shape[1] != self.dim:
            raise ValueError(f"RunningStats.update: batch is {x.shape[1]}-d, earlier batches were {self.dim}-d")
        if not np.isfinite(x).all():
            raise ValueError("RunningStats.update: batch has NaN or infinite entries")
        if len(x) == 0:
            return self
        mean = x.mean(axis=0)
        centred = x - mean
        self._merge(len(x), mean, centred.T @ centred)
        return self

    def merge(self, other: "RunningStats") -> "RunningStats":
        """Merge another accumulator (e.g. from another process or GPU); returns self."""
        if not isinstance(other, RunningStats):
            raise ValueError(f"RunningStats.merge: expected a RunningStats, got {type(other).__name__}")
        if other.n == 0:
            return self
        if self.dim is not None and other.dim != self.dim:
            raise ValueError(f"RunningStats.merge: other is {other.dim}-d, this is {self.dim}-d")
        self._merge(other.n, other._mean, other._scatter)
        return self

    def _merge(self, n_b: int, mean_b: np.ndarray, scatter_b: np.ndarray) -> None:
        if self.n == 0:
            self.n, self._mean, self._scatter = n_b, mean_b.copy(), scatter_b.copy()
            return
        n_a, n = self.n, self.n + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._scatter = self._scatter + scatter_b + np.outer(delta, delta) * (n_a * n_b / n)
        self.n = n

    @property
    def mean(self) -> np.ndarray:
        if self.n == 0:
            raise ValueError("RunningStats.mean: no features have been added")
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        """Unbiased covariance, as np.cov(features, rowvar=False)."""
        if self.n < 2:
            raise ValueError(f"RunningStats.cov: needs at least 2 features, has {self.n}")
        return self._scatter / (self.n - 1)

    @classmethod
    def from_features(cls, features, batch_size: int | None = None) -> "RunningStats":
        stats = cls()
        x = _as_batch(features)
        step = len(x) if not batch_size else int(batch_size)
        for start in range(0, max(len(x), 1), max(step, 1)):
            stats.update(x[start:start + step])
        return stats


@dataclass(frozen=True)
class FeatureStats:
    """Statistics read from a file: mean (d,), cov (d, d), n, and the signature fields they carry."""

    mean: np.ndarray
    cov: np.ndarray
    n: int
    signature: dict = field(default_factory=dict)
    path: str = ""


def save_stats(path, stats, signature_fields: dict) -> Path:
    """Write `stats` (anything with mean, cov and n: a RunningStats, a FeatureStats) to `path`.

    signature_fields: str -> str/int/float, with at least "extractor": "name@weights-hash".
    The sample count is stored as the field "n" (it may not be given separately).
    """
    if not isinstance(signature_fields, dict) or not isinstance(signature_fields.get("extractor"), str) \
            or not _TAG.match(signature_fields["extractor"]):
        raise ValueError("save_stats: signature_fields must hold 'extractor': 'name@weights-hash', got "
                         f"{signature_fields.get('extractor') if isinstance(signature_fields, dict) else signature_fields!r}")
    if "n" in signature_fields:
        raise ValueError("save_stats: the sample count comes from stats.n; do not pass 'n' in signature_fields")
    for key, value in signature_fields.items():
        if not isinstance(key, str) or not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError(f"save_stats: signature field {key!r} must map a string to a str, int or float, got {value!r}")
    mean, cov, n = np.asarray(stats.mean, dtype=np.float64), np.asarray(stats.cov, dtype=np.float64), int(stats.n)
    if mean.ndim != 1 or cov.shape != (len(mean), len(mean)) or n < 2:
        raise ValueError(f"save_stats: need mean (d,), cov (d, d) and n >= 2, got {mean.shape}, {cov.shape}, n={n}")
    if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
        raise ValueError("save_stats: mean or cov has NaN or infinite entries")
    signature = json.dumps({**signature_fields, "n": n}, sort_keys=True)

    def write(tmp):
        with open(tmp, "wb") as fh:  # a file object, so numpy does not append ".npz" to the name
            np.savez(fh, format=np.array(FORMAT), version=np.array(FORMAT_VERSION), signature=np.array(signature),
                     mean=mean, cov=cov, n=np.array(n, dtype=np.int64))
            fh.flush()
            os.fsync(fh.fileno())

    return save_with(path, write)


def _describe(fields: dict) -> str:
    return ", ".join(f"{k}:{v}" for k, v in fields.items())


def load_stats(path, expect: dict | None = None) -> FeatureStats:
    """Read statistics written by save_stats; `expect` (e.g. {"extractor": tag}) must match the
    stored signature field by field ("n" checks the sample count). Raises UserError otherwise."""
    path = Path(path)
    expected_what = f"an {FORMAT} .npz (version {FORMAT_VERSION})" + (f" with {_describe(expect)}" if expect else "")
    if not path.is_file():
        raise UserError(f"stats: {path} does not exist or is not a file; expected {expected_what}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # a plain .npy array
            raise UserError(f"stats: {path} is not an aigc-eval statistics file; expected {expected_what}")
        with data:
            if "format" not in data.files or str(data["format"]) != FORMAT:
                raise UserError(f"stats: {path} is not an aigc-eval statistics file; expected {expected_what}")
            version = int(data["version"])
            if version != FORMAT_VERSION:
                raise UserError(f"stats: {path} has format version {version}; this aigc-eval reads version "
                                f"{FORMAT_VERSION} (recompute the statistics)")
            signature = json.loads(str(data["signature"]))
            mean, cov, n = np.asarray(data["mean"], np.float64), np.asarray(data["cov"], np.float64), int(data["n"])
    except UserError:
        raise
    except (OSError, ValueError, KeyError, EOFError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise UserError(f"stats: cannot read {path} ({one_line(exc)}); expected {expected_what}") from None
    if not isinstance(signature, dict) or mean.ndim != 1 or cov.shape != (len(mean), len(mean)) or n < 2 \
            or signature.get("n") != n or not (np.isfinite(mean).all() and np.isfinite(cov).all()):
        raise UserError(f"stats: {path} is corrupt (inconsistent mean {mean.shape}, cov {cov.shape}, n {n}); "
                        f"expected {expected_what}")
    if expect:
        wrong = {k: v for k, v in expect.items() if signature.get(k) != v}
        if wrong:
            found = _describe({k: signature.get(k, "(missing)") for k in wrong})
            raise UserError(f"stats: {path} was computed with {found}; expected {_describe(wrong)} "
                            "(recompute the statistics with these settings)")
    return FeatureStats(mean, cov, n, signature, str(path))
