"""Calibration rows: fixed "models" that give each metric a floor and a ceiling.

- real-test: held-out real data (the real-test half of the test split), scored as a model.
  Its scores are the best a perfect model can expect at this sample count.
- copy-train: returns training examples verbatim. Near-perfect FD/BLEU, but memorization ~1 and
  novelty 0: a metric that rewards it is blind to copying.
- noise: uniform pixel noise (images). The worst case for every quality metric.
- unigram: sentences of the right length whose words are drawn independently by training
  frequency (text). Fluent-looking word statistics, no grammar.

They share the model interface (sample) and need no training (`steps = 0`). `kind` says which
data a row applies to (None: any); the model factory checks it like a reference model's.
"""
from __future__ import annotations

import numpy as np

from .tokenize import detokenize, tokenize


class CalibrationRow:
    calibration = True
    conditional = False
    kind: str | None = None  # the data it applies to; None: images and text alike

    def __init__(self, dataset, real_test, seed: int):
        self.dataset = dataset
        self.real_test = real_test  # (images or sentences, labels) the harness keeps out of the reference set
        self.rng = np.random.default_rng(seed)

    def _take(self, pool, n):
        """n distinct examples of `pool` (an array of images or a list of sentences)."""
        if n > len(pool):
            raise ValueError(f"{type(self).__name__}: asked for {n} samples but only {len(pool)} are available")
        idx = self.rng.choice(len(pool), size=n, replace=False)
        return pool[idx] if isinstance(pool, np.ndarray) else [pool[i] for i in idx]


class RealTest(CalibrationRow):
    def sample(self, n, labels=None, **_):
        return self._take(self.real_test[0], n)


class CopyTrain(CalibrationRow):
    def sample(self, n, labels=None, **_):
        return self._take(self.dataset.train_examples, n)


class UniformNoise(CalibrationRow):
    kind = "image"

    def sample(self, n, labels=None, **_):
        return self.rng.integers(0, 256, size=(n, *self.dataset.image_shape), dtype=np.uint8)


class Unigram(CalibrationRow):
    kind = "text"

    def __init__(self, dataset, real_test, seed):
        super().__init__(dataset, real_test, seed)
        self.sentences = [tokenize(s, dataset.tokenize) for s in dataset.train]
        words, counts = np.unique(np.array([w for s in self.sentences for w in s], dtype=object),
                                  return_counts=True)
        self.words, self.p = words, counts / counts.sum()

    def sample(self, n, labels=None, **_):
        lengths = [len(self.sentences[i]) for i in self.rng.integers(0, len(self.sentences), n)]
        return [detokenize(list(self.rng.choice(self.words, size=k, p=self.p)), self.dataset.tokenize)
                for k in lengths]
