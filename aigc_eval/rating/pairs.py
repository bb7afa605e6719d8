"""Which two samples to show next: the pair of models whose order the votes so far leave most in
doubt, so that few votes separate the models.

Per dataset, the votes are fitted at the model level (Bradley–Terry, aigc_eval.rating.bradley_terry)
and each model pair gets z = |theta_i - theta_j| / se(theta_i - theta_j), the Laplace standard
error, and P(flip) = Phi(-z), the chance that the order the votes show is the wrong one. Pairs go
by P(flip) x (1 + n)^(-3/2), n the votes the pair has, highest first: the most uncertain order
first, weighted by what one more vote still buys (it shrinks the gap's standard error, ~1/sqrt(n),
by ~n^(-3/2)), so that two models people cannot tell apart (P(flip) stays at 1/2) do not take
every vote. Measured on a smoke run, 30 votes of a scripted rater who prefers one model and cannot
tell the other two of `digits` apart: that tied pair took 20 of the 30 votes with the weight
1/(1 + n), and 16 with (1 + n)^(-3/2); the rest went to the two clear pairs of `digits` and to
`shapes` and `facts`, 3-4 each. Coverage comes
before all that: a pair with fewer than MIN_VOTES_PER_PAIR votes goes first, so every model meets
every other.
Ties are broken at random; then one sample is drawn from a random seed's cell of each model, and
the sides are shuffled.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from . import bradley_terry as bt
from .catalog import Catalog, Sample
from .store import Vote

MIN_VOTES_PER_PAIR = 2

TIE = 0.5
WIN_SHARE = {"a": 1.0, "b": 0.0, "both_bad": TIE, "cant_tell": TIE}


def model_comparisons(models: list[str], votes: list[Vote]) -> bt.Comparisons:
    """Votes between two of `models` as comparisons of model indices (others are left out)."""
    index = {m: k for k, m in enumerate(models)}
    return bt.Comparisons.from_list(len(models), [
        (index[v.model_a], index[v.model_b], WIN_SHARE[v.answer]) for v in votes
        if v.model_a in index and v.model_b in index and v.model_a != v.model_b])


def pair_priorities(models: list[str], votes: list[Vote]) -> list[tuple[tuple, str, str]]:
    """[(priority key, model_i, model_j)] for every model pair of one dataset; smaller goes first."""
    comparisons = model_comparisons(models, votes)
    theta = bt.fit(comparisons)
    cov = bt.fisher_covariance(comparisons, theta)
    counts: dict[tuple[int, int], int] = {}
    for i, j in zip(comparisons.i, comparisons.j):
        key = (min(i, j), max(i, j))
        counts[key] = counts.get(key, 0) + 1
    out = []
    for i, j in itertools.combinations(range(len(models)), 2):
        n = counts.get((i, j), 0)
        z = abs(theta[i] - theta[j]) / math.sqrt(max(cov[i, i] + cov[j, j] - 2 * cov[i, j], 1e-12))
        flip = 0.5 * math.erfc(z / math.sqrt(2))
        out.append(((n >= MIN_VOTES_PER_PAIR, -round(flip * (1 + n) ** -1.5, 12), n), models[i], models[j]))
    return out


def choose_pair(catalog: Catalog, votes: list[Vote], rng: np.random.Generator) -> tuple[Sample, Sample]:
    """The next (left, right) samples to rate."""
    candidates = []
    for dataset in catalog.datasets():
        ds_votes = [v for v in votes if v.dataset == dataset]
        candidates += [(key, dataset, a, b) for key, a, b in pair_priorities(catalog.models(dataset), ds_votes)]
    order = rng.permutation(len(candidates))
    _, dataset, model_a, model_b = min((candidates[k] for k in order), key=lambda c: c[0])
    picked = [_random_sample(catalog, dataset, m, rng) for m in (model_a, model_b)]
    if rng.random() < 0.5:
        picked.reverse()
    return picked[0], picked[1]


def _random_sample(catalog: Catalog, dataset: str, model: str, rng) -> Sample:
    cells = catalog.cells(dataset, model)
    ids = catalog.by_cell[cells[rng.integers(len(cells))]]
    return catalog.samples[ids[rng.integers(len(ids))]]
