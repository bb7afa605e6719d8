"""What every metric receives and returns.

A metric is a small object that owns its configuration (like sacrebleu's BLEU) and has one
method, `compute(eval_set) -> list[Score]`. Image metrics get an ImageEvalSet, text metrics a
TextEvalSet. Features are extracted once per sample set (lazily, on first use) and shared by
every metric that reads them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable
from functools import cached_property

import numpy as np

from ..signature import PROXY, Score, Signature


@dataclass(frozen=True, eq=False)
class LatentFactors:
    """Latent codes and the true factors of the same N examples, for disentanglement metrics.

    source "encoder": a model's posterior means of real renderings, whose factors the dataset
    knows; "codes": the codes a model generated from, and the factors an oracle read from the
    samples.
    """

    codes: np.ndarray    # N x L float
    factors: np.ndarray  # N x K int
    source: str


@dataclass(eq=False)
class ImageEvalSet:
    """Generated images, with everything a metric may compare them against.

    generated: uint8 N x C x H x W. labels: the labels requested from a conditional model (or
    None). reference: held-out real test images (uint8). train: training images, for memorization.
    reconstructions: uint8 reconstructions of `reference` (VAEs only). latents: a latent-variable
    model's codes against the world's factors (LatentFactors), on datasets with factors.
    """

    generated: np.ndarray | None  # None when only their features were kept (streamed, see generated_features)
    reference: np.ndarray
    train: np.ndarray
    extractor: "object"  # aigc_eval.features.FeatureExtractor
    seed: int = 0
    labels: np.ndarray | None = None
    reconstructions: np.ndarray | None = None
    # Per-sample columns ({column: values over the generated samples}) that metrics add with
    # add_per_sample when the caller collects them (score --per-sample); None: not collected.
    per_sample: dict | None = None
    # How `reconstructions` pair with `reference`, for the signature: None for a model's own
    # reconstructions; "names" or "order" for images scored as pairs (score --paired, score.py).
    pairing: str | None = None
    latents: LatentFactors | None = None
    dataset_meta: dict = field(default_factory=dict)
    # Features of the reference and train sets are shared across models: pass them in when known.
    # The train set's may be a zero-argument callable, so that they are extracted only when a metric
    # asks (memorization in feature space) — the training set can be 60k images.
    reference_features_cache: dict | None = None
    train_features_cache: "dict | Callable[[], dict] | None" = None
    generated_features: dict | None = None  # extracted batch by batch as the images streamed past
    # A statistics file given as the reference (aigc-eval stats): the reference's feature mean,
    # covariance and count only; `reference` is then empty and only FD applies.
    reference_stats: "object | None" = None  # aigc_eval.features.statistics.FeatureStats

    @cached_property
    def gen(self) -> dict:
        """{'features': N x D float32, 'logits': N x K float32} of the generated images."""
        return self.generated_features or self.extractor.extract(self.generated)

    @property
    def n_generated(self) -> int:
        return len(self.gen["features"]) if self.generated is None else len(self.generated)

    @cached_property
    def ref(self) -> dict:
        return self.reference_features_cache or self.extractor.extract(self.reference)

    @cached_property
    def train_feats(self) -> dict:
        cache = self.train_features_cache
        if callable(cache):
            cache = cache()
        return cache or self.extractor.extract(self.train)

    def add_per_sample(self, rows, **columns) -> None:
        """Set `columns` at generated-sample indices `rows` (all samples: slice(None)); rows not set
        stay blank (NaN, or None for text and booleans)."""
        n = self.n_generated
        for name, values in columns.items():
            values = np.asarray(values)
            if name not in self.per_sample:
                self.per_sample[name] = np.full(n, np.nan) if values.dtype.kind == "f" else np.full(n, None, object)
            self.per_sample[name][rows] = values

    def signature(self, metric: str, **extra) -> Signature:
        n_ref = len(self.reference) if self.reference_stats is None else self.reference_stats.n
        return Signature.build(metric, libs=("torch-fidelity", "torch", *self.extractor.libs), ext=self.extractor.tag,
                               n_gen=self.n_generated, n_ref=n_ref, seed=self.seed,
                               **extra)


@dataclass(eq=False)
class TextEvalSet:
    """Generated sentences with test references, training sentences and model-side numbers.

    nll_per_token: the model's test-set NLL per token (the ELBO bound for VAEs), if it has one.
    reconstructions: (targets, outputs) pairs for ROUGE, for models that reconstruct or condition.
    """

    generated: list[str]
    reference: list[str]
    train: list[str]
    tokenize: str = "space"
    seed: int = 0
    labels: np.ndarray | None = None
    nll_per_token: float | None = None
    nll_is_bound: bool = False  # True when nll_per_token is an ELBO bound (VAEs), not an exact NLL
    reconstructions: tuple[list[str], list[str]] | None = None
    dataset_meta: dict = field(default_factory=dict)

    def signature(self, metric: str, libs=("sacrebleu",), **extra) -> Signature:
        return Signature.build(metric, libs=libs, n_gen=len(self.generated), n_ref=len(self.reference),
                               tok=self.tokenize, seed=self.seed, **extra)


class Metric:
    """Base class: subclasses set `name`, `kind` ("image" or "text") and implement compute()."""

    name = ""
    kind = "image"
    reads_reference_stats = False  # True when compute() works from a reference's mean and covariance alone

    def compute(self, eval_set) -> list[Score]:
        raise NotImplementedError

    def needs_pixels(self, dataset_meta: dict) -> bool:
        """True when compute() reads the generated images themselves, not only their features: then
        `evaluate` keeps a generator's images instead of streaming them through the extractor."""
        return False

    @staticmethod
    def score(name, value, signature, higher_is_better, description, role=PROXY) -> Score:
        return Score(name, float(value), signature, higher_is_better, description, role)


def as_float64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)
