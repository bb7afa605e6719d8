"""Exact hallucination, novelty, coverage, memorization and controllability on the `shapes` world.

The world's oracle (aigc_eval.worlds.shapes, v2) judges every generated image by its structure, as
a person would, and reads its factors (shape, colour, size, position). A sample hallucinates when
it shows content the world does not contain: no object, more than one object, a shape with parts
missing or added, a colour off the palette (such as one between two palette colours) or a
background that is not the world's; it is ambiguous when its one object sits near half-way between
two shapes, sizes or positions. Softness, noise and a uniform tint are quality, not hallucination:
`oracle_rms`, FD and precision measure them. The checks, thresholds, the probe sets that set them and
the known limits are in aigc_eval/worlds/shapes.py; `judge(images, world)` gives per-sample
verdicts ("valid", "ambiguous", "hallucinated") and reasons for reports.

Rates are shares of all generated samples, so they share one denominator:

- hallucination_rate: not valid -- hallucinated or ambiguous;
- ambiguous_rate: ambiguous (a part of hallucination_rate);
- oracle_rms: the median RMS distance (0-255 units) from a sample to its nearest clean rendering
  (whatever the verdict). Real data sits at ~noise_sigma (6). Unlike the rates it ranks models
  whose samples are all invalid, and it measures softness and noise, which v2 leaves to quality.
- novelty: a valid sample of a held-out combination (one no training image shows);
- oracle_memorization: valid and within `memorization_rms` (default noise_sigma / 2) RMS of some
  training image. Two independent renderings of one combination and jitter are ~sqrt(2) x
  noise_sigma apart, so a sample that close is a copy, not a fresh draw.
- factor_coverage: share of the 333 training combinations that at least one valid sample shows;
  factor_coverage_all: the same over all 360 (held-out combinations can only add to it).
  Both grow with n_gen, which is in the signature.
- controllability (conditional models): valid and showing exactly the requested combination;
  controllability_heldout: the same over requests for held-out combinations only (omitted when
  none were requested); controllability_trained: over requests for training combinations only,
  what a model can be expected to have learnt.
- factor_match (conditional models): the share of requested factor values (shape, colour, size,
  position) that the oracle reads from the sample, valid or not, averaged over factors;
  factor_match_<factor> per factor, factor_match_heldout over held-out requests. Where most
  samples are invalid these still say which factors a model obeys (chance: 1/4, 1/5, 1/2, 1/9).

Other datasets get no scores. The signature's `oracle` field names the canvas, noise, oracle
version and key thresholds (e.g. shapes16-s6-v2.1@bg40,col50,ray25,...): v1 numbers (RMS threshold,
shapes16-s6@8.110) never compare with v2's.
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..signature import DETAIL, TRUTH, Signature
from ..worlds.shapes import FACTORS, NUM_COMBINATIONS, OracleResult, ShapesWorld
from .base import ImageEvalSet, Metric
from .neighbours import as_tensor, distance_blocks


class ShapesOracle(Metric):
    name = "shapes_oracle"
    kind = "image"

    def __init__(self, memorization_rms: float | None = None):
        if memorization_rms is not None and memorization_rms < 0:
            raise UserError(f"shapes_oracle: memorization_rms must be >= 0 (0-255 units), got {memorization_rms!r}")
        self.memorization_rms = memorization_rms

    def needs_pixels(self, dataset_meta: dict) -> bool:
        return dataset_meta.get("world") == "shapes"

    def compute(self, eval_set: ImageEvalSet):
        meta = eval_set.dataset_meta
        if meta.get("world") != "shapes":
            return []
        world = ShapesWorld.from_meta(meta)
        n = world.image_size
        if eval_set.generated.ndim != 4 or eval_set.generated.shape[1:] != (3, n, n):
            raise UserError(f"shapes_oracle: generated images are {eval_set.generated.shape[1:]}, expected "
                            f"(3, {n}, {n}) as in the shapes dataset (image_size={n})")
        if len(eval_set.generated) == 0:
            raise ValueError("shapes_oracle: no generated images to judge")
        oracle = world.oracle()
        found = oracle.recover(eval_set.generated)
        if eval_set.per_sample is not None:
            eval_set.add_per_sample(slice(None), oracle_verdict=found.verdict, oracle_reason=found.reason,
                                    oracle_read=np.asarray(ShapesWorld.class_names(), object)[found.labels],
                                    oracle_rms=found.rms)
        heldout = np.asarray(meta["heldout_labels"], np.int64)
        train_combos = np.setdiff1d(np.arange(NUM_COMBINATIONS), heldout)
        shown = np.unique(found.labels[found.valid])
        eps = world.noise_sigma / 2 if self.memorization_rms is None else self.memorization_rms
        copied = np.zeros(len(found.valid), bool)
        copied[found.valid] = self._nearest_train_rms(eval_set.generated[found.valid], eval_set.train) <= eps

        sig = Signature.build(self.name, libs=(), oracle=oracle.tag,
                              n_gen=len(found.labels), n_train=len(eval_set.train), mem=f"{eps:g}",
                              seed=eval_set.seed)
        scores = [
            self.score("hallucination_rate", np.mean(~found.valid), sig, False,
                       "share of samples that are not one unambiguous world object (ambiguous ones included)", TRUTH),
            self.score("ambiguous_rate", np.mean(found.ambiguous), sig, False,
                       "share of samples showing one object whose shape, size or position sits half-way between two",
                       DETAIL),
            self.score("oracle_rms", np.median(found.rms), sig, False,
                       "median RMS distance (0-255) from a sample to its nearest clean rendering", TRUTH),
            self.score("novelty", np.mean(found.valid & np.isin(found.labels, heldout)), sig, True,
                       "share of samples that validly render a combination held out of training", DETAIL),
            self.score("factor_coverage", np.isin(train_combos, shown).mean(), sig, True,
                       "share of training factor combinations rendered validly at least once", DETAIL),
            self.score("factor_coverage_all", len(shown) / NUM_COMBINATIONS, sig, True,
                       "share of all factor combinations (held-out included) rendered validly at least once", DETAIL),
            self.score("oracle_memorization", np.mean(copied), sig, False,
                       "share of samples that are valid and within noise_sigma/2 RMS of a training image", DETAIL),
        ]
        if eval_set.labels is not None:
            requested = np.asarray(eval_set.labels, np.int64)
            if len(requested) != len(found.labels) or requested.min() < 0 or requested.max() >= NUM_COMBINATIONS:
                raise ValueError(f"shapes_oracle: expected {len(found.labels)} requested labels in "
                                 f"[0, {NUM_COMBINATIONS}), got {len(requested)} outside that range or count")
            hit = found.valid & (found.labels == requested)
            scores.append(self.score("controllability", hit.mean(), sig, True,
                                     "share of samples that validly render exactly the requested combination", TRUTH))
            asked_heldout = np.isin(requested, heldout)
            if asked_heldout.any():
                scores.append(self.score("controllability_heldout", hit[asked_heldout].mean(), sig, True,
                                         "controllability over requests for combinations held out of training", DETAIL))
            if not asked_heldout.all():
                scores.append(self.score("controllability_trained", hit[~asked_heldout].mean(), sig, True,
                                         "controllability over requests for training combinations", DETAIL))
            matched = ShapesWorld.factors_of(found.labels) == ShapesWorld.factors_of(requested)  # N x 4
            scores.append(self.score("factor_match", matched.mean(), sig, True,
                                     "share of requested factor values that the oracle reads from the sample", TRUTH))
            scores += [self.score(f"factor_match_{factor}", matched[:, i].mean(), sig, True,
                                  f"share of samples from which the oracle reads the requested {factor}", DETAIL)
                       for i, factor in enumerate(FACTORS)]
            if asked_heldout.any():
                scores.append(self.score("factor_match_heldout", matched[asked_heldout].mean(), sig, True,
                                         "factor_match over requests for combinations held out of training", DETAIL))
        return scores

    @staticmethod
    def _nearest_train_rms(images: np.ndarray, train: np.ndarray) -> np.ndarray:
        """RMS pixel distance (0-255 units) from each image to its nearest training image."""
        if len(images) == 0:
            return np.zeros(0)
        x, y = (as_tensor(a.reshape(len(a), -1)) for a in (images, train))
        nearest = np.empty(len(images))
        for rows, d in distance_blocks(x, y):
            nearest[rows] = d.min(dim=1).values.numpy()
        return nearest / np.sqrt(x.shape[1])


def judge(images: np.ndarray, world: "ShapesWorld | dict") -> OracleResult:
    """Per-sample verdicts of the shapes oracle (v2): labels read, RMS, valid, ambiguous, verdict, reason.

    `world` is a ShapesWorld or a shapes dataset's meta dict; images are uint8 N x 3 x H x W. A
    report can list each sample's verdict ("valid", "ambiguous", "hallucinated") and reason (e.g.
    "extra object", "off-palette colour", "ambiguous shape square/circle"; "" when valid).
    """
    if isinstance(world, dict):
        world = ShapesWorld.from_meta(world)
    return world.oracle().recover(np.asarray(images))
