"""Calibration rows: fixed "models" that give each metric a floor and a ceiling.

- real-test: held-out real data (the harness's holdout half of the test split), scored as a model.
  Its scores are the best a perfect model can expect at this sample count.
- copy-train: returns training examples verbatim. Near-perfect FD/BLEU, but memorization ~1 and
  novelty 0: a metric that rewards it is blind to copying.
- noise: uniform pixel noise (images). The worst case for every quality metric.
- unigram: sentences of the right length whose words are drawn independently by training
  frequency (text). Fluent-looking word statistics, no grammar.

They share the model interface (sample) and need no training (`steps = 0`).
"""
from __future__ import annotations

import numpy as np

from .tokenize import detokenize, tokenize


class CalibrationRow:
    calibration = True
    conditional = False

    def __init__(self, dataset, holdout, seed: int):
        self.dataset = dataset
        self.holdout = holdout  # (x_or_sentences, labels) the harness keeps out of the reference set
        self.kind = dataset.kind
        self.rng = np.random.default_rng(seed)

    def _pick(self, pool, n):
        if n > len(pool):
            raise ValueError(f"{type(self).__name__}: asked for {n} samples but only {len(pool)} are available")
        return self.rng.choice(len(pool), size=n, replace=False)


class RealTest(CalibrationRow):
    def sample(self, n, labels=None, **_):
        pool = self.holdout[0]
        idx = self._pick(pool, n)
        return pool[idx] if self.kind == "image" else [pool[i] for i in idx]


class CopyTrain(CalibrationRow):
    def sample(self, n, labels=None, **_):
        pool = self.dataset.train_x if self.kind == "image" else self.dataset.train
        idx = self._pick(pool, n)
        return pool[idx] if self.kind == "image" else [pool[i] for i in idx]


class UniformNoise(CalibrationRow):
    def __init__(self, dataset, holdout, seed):
        if dataset.kind != "image":
            raise ValueError("the noise calibration row is for image datasets; use unigram for text")
        super().__init__(dataset, holdout, seed)

    def sample(self, n, labels=None, **_):
        return self.rng.integers(0, 256, size=(n, *self.dataset.image_shape), dtype=np.uint8)


class Unigram(CalibrationRow):
    def __init__(self, dataset, holdout, seed):
        if dataset.kind != "text":
            raise ValueError("the unigram calibration row is for text datasets; use noise for images")
        super().__init__(dataset, holdout, seed)
        self.sentences = [tokenize(s, dataset.tokenize) for s in dataset.train]
        words, counts = np.unique(np.array([w for s in self.sentences for w in s], dtype=object),
                                  return_counts=True)
        self.words, self.p = words, counts / counts.sum()

    def sample(self, n, labels=None, **_):
        lengths = [len(self.sentences[i]) for i in self.rng.integers(0, len(self.sentences), n)]
        return [detokenize(list(self.rng.choice(self.words, size=k, p=self.p)), self.dataset.tokenize)
                for k in lengths]


def is_calibration(model_cls) -> bool:
    return getattr(model_cls, "calibration", False)


