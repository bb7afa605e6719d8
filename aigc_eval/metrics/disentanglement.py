"""Disentanglement against ground-truth factors: MIG, DCI and SAP, as pure functions.

Inputs everywhere: `latents`, an N x L float array (one code vector per sample: a VAE's posterior
mean, an InfoGAN's codes), and `factors`, an N x K array of discrete factor indices (the shapes
world's shape, colour, size and position: sizes 4, 5, 2 and 9). Every function validates both
(one-line ValueError: shapes, N < MIN_SAMPLES, NaN or inf, non-integer or constant factors) and is
deterministic given `seed` (MIG uses no randomness at all).

- `mutual_information_gap` -- MIG (Chen et al. 2018, "Isolating Sources of Disentanglement in
  VAEs", sec. 4.1), estimated as disentanglement_lib's `discrete_mig` does: each latent
  discretised by a histogram of `num_bins` equal-width bins (20 by default), the discrete mutual
  information I(z_i; v_k) in nats, and per factor (I_top1 - I_top2) / H(v_k), averaged over
  factors. 1 when each factor is captured by one latent alone; 0 for noise or for a factor copied
  into two latents.
- `dci` -- disentanglement, completeness and informativeness (Eastwood & Williams 2018, "A
  Framework for the Quantitative Evaluation of Disentangled Representations", sec. 2). One
  classifier per factor predicts it from all L latents; its feature importances form column k of
  the L x K importance matrix R. Disentanglement: per code 1 - H_K(R[i, :] / sum), weighted by the
  code's share of all importance. Completeness: per factor 1 - H_L(R[:, k] / sum), weighted by the
  factor's share. Informativeness: the classifiers' accuracy on held-out samples, averaged over
  factors (disentanglement_lib's "informativeness_test"; the paper states it as a prediction
  error, i.e. 1 - this).
- `sap` -- the Separated Attribute Predictability score (Kumar et al. 2018, "Variational Inference
  of Disentangled Latent Concepts from Unlabeled Observations", sec. 3), for discrete factors: for
  each latent i and factor k, a one-dimensional classifier predicts v_k from z_i alone and is
  scored on held-out samples; per factor the gap between the two best latents, averaged.

Train/test split (DCI and SAP): one seeded random permutation of the N samples, the first
`train_fraction` (0.8 by default, rounded up) for fitting, the rest for scoring.

Estimator choices, measured at N = 5000 (4000 train), L = 10, K = 4 factors of sizes 4, 5, 2, 9 on
one thread (scikit-learn 1.9; bench/test_bench_disentanglement.py, its `large` bench for the
gradient-boosting reference):
- DCI: disentanglement_lib's GradientBoostingClassifier() (100 stages of depth-3 trees per class)
  took 17-23 s on identity latents plus 6 noise codes and 32-34 s on rotated ones, too slow for the
  suite. ExtraTreesClassifier(50 trees, max_features=None, min_samples_leaf=20) takes 0.42 s and
  0.88 s (25-50x faster) and agrees: identity + noise codes D 0.9996, C 0.9995, test accuracy 1.000
  (gradient boosting 1.000, 1.000, 1.000); rotated D 0.45, C 0.35, accuracy 0.73 (gradient
  boosting 0.41, 0.32, 0.76). max_features=None matters: with scikit-learn's default sqrt(L)
  candidate features per split, a tree must often split on a wrong code, which leaks importance and
  gave D ~ 0.83-0.91 on identity latents. min_samples_leaf=20 keeps deep splits on noise codes
  from collecting importance. MIG takes ~5 ms, SAP 0.14-0.26 s.
- SAP: disentanglement_lib fits LinearSVC(C=0.01) per (latent, factor). A linear one-vs-rest
  classifier on one feature cannot isolate the middle values of a factor (a 9-valued position
  encoded by one latent scores far below 1), so here the 1-D classifier is a decision tree of
  thresholds (at most 2 x (number of values) leaves, min_samples_leaf=20), which can. Scores are
  balanced accuracy adjusted for chance, (bal_acc - 1/C) / (1 - 1/C) with C the number of values
  present in the test split, so a perfect latent scores 1 and an unrelated one ~0 whatever the
  factor's cardinality; plain accuracy (disentanglement_lib) caps the gap at 1 - the majority
  share (0.5 for a binary factor). `chance_adjusted=False` gives plain accuracy.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import UserError
from ..signature import DETAIL, Score, Signature
from ..worlds.shapes import ShapesWorld
from .base import Metric

MIN_SAMPLES = 50
DEFAULT_BINS = 20  # disentanglement_lib's histogram discretiser for MIG
DEFAULT_TRAIN_FRACTION = 0.8
DCI_TREES = 50
DCI_MIN_SAMPLES_LEAF = 20
SAP_MIN_SAMPLES_LEAF = 20


# -- validation and shared pieces ------------------------------------------------------------------

def validate(latents, factors, min_latents: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(latents as float64 N x L, factors re-indexed to 0..C_k-1 as int64 N x K), or ValueError."""
    z = np.asarray(latents)
    v = np.asarray(factors)
    if z.ndim != 2:
        raise ValueError(f"latents must be a 2-D array (N x L), got shape {z.shape}")
    if v.ndim != 2:
        raise ValueError(f"factors must be a 2-D array (N x K), got shape {v.shape}")
    if len(z) != len(v):
        raise ValueError(f"latents and factors differ in N: {len(z)} vs {len(v)} samples")
    if len(z) < MIN_SAMPLES:
        raise ValueError(f"too few samples: N={len(z)}, need at least {MIN_SAMPLES}")
    if z.shape[1] < min_latents:
        raise ValueError(f"need at least {min_latents} latent dimensions, got {z.shape[1]}")
    if v.shape[1] < 1:
        raise ValueError("factors has no columns (K=0)")
    if not (np.issubdtype(z.dtype, np.number) or z.dtype == bool) or np.iscomplexobj(z):
        raise ValueError(f"latents must be real numbers, got dtype {z.dtype}")
    z = z.astype(np.float64)
    if not np.isfinite(z).all():
        raise ValueError(f"latents hold {int((~np.isfinite(z)).sum())} NaN or infinite values")
    if not (np.issubdtype(v.dtype, np.integer) or v.dtype == bool):
        if not np.issubdtype(v.dtype, np.floating) or not np.isfinite(v).all() or (v != np.round(v)).any():
            raise ValueError(f"factors must be integer factor indices, got dtype {v.dtype} with non-integer values")
    codes = np.empty(v.shape, dtype=np.int64)
    for k in range(v.shape[1]):
        values, codes[:, k] = np.unique(v[:, k], return_inverse=True)
        if len(values) < 2:
            raise ValueError(f"factor {k} takes a single value; every factor needs at least two")
    return z, codes


def train_test_split(n: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) of one seeded random permutation; train is ceil(n * train_fraction)."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    n_train = math.ceil(n * train_fraction)
    if n_train < 2 or n - n_train < 2:
        raise ValueError(f"train_fraction={train_fraction} leaves fewer than 2 samples on one side of N={n}")
    order = np.random.default_rng(seed).permutation(n)
    return order[:n_train], order[n_train:]


def top_two_gap(scores: np.ndarray) -> np.ndarray:
    """Per column of an L x K score matrix: best minus second-best row."""
    ordered = np.sort(scores, axis=0)
    return ordered[-1] - ordered[-2]


# -- MIG ------------------------------------------------------------------------------------------

def histogram_discretize(latents: np.ndarray, num_bins: int = DEFAULT_BINS) -> np.ndarray:
    """N x L bin indices in 0..num_bins-1: equal-width bins over each latent's own range."""
    if num_bins < 2:
        raise ValueError(f"num_bins must be at least 2, got {num_bins}")
    binned = np.empty(latents.shape, dtype=np.int64)
    for i in range(latents.shape[1]):
        edges = np.histogram_bin_edges(latents[:, i], bins=num_bins)
        # Inner edges only: values at the top edge fall in the last bin, as np.histogram counts them.
        binned[:, i] = np.digitize(latents[:, i], edges[1:-1])
    return binned


def discrete_entropy(labels: np.ndarray) -> float:
    """Empirical entropy in nats of labels in 0..C-1."""
    p = np.bincount(labels) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def discrete_mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Empirical (plug-in) mutual information in nats of two label arrays in 0..A-1 and 0..B-1."""
    n_b = int(b.max()) + 1
    joint = np.bincount(a * n_b + b, minlength=(int(a.max()) + 1) * n_b).reshape(-1, n_b) / len(a)
    pa, pb = joint.sum(axis=1, keepdims=True), joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float(max(0.0, (joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum()))


def mutual_information_gap(latents, factors, num_bins: int = DEFAULT_BINS) -> dict:
    """MIG (Chen et al. 2018) with disentanglement_lib's histogram estimator.

    Returns {"mig": mean over factors, "mig_per_factor": K values, "mutual_information": L x K
    matrix in nats, "factor_entropy": K values in nats}.
    """
    z, v = validate(latents, factors, min_latents=2)
    binned = histogram_discretize(z, num_bins)
    mi = np.array([[discrete_mutual_information(binned[:, i], v[:, k]) for k in range(v.shape[1])]
                   for i in range(z.shape[1])])
    entropy = np.array([discrete_entropy(v[:, k]) for k in range(v.shape[1])])
    per_factor = top_two_gap(mi) / entropy
    return {"mig": float(per_factor.mean()), "mig_per_factor": per_factor, "mutual_information": mi,
            "factor_entropy": entropy}


# -- DCI ------------------------------------------------------------------------------------------

def _one_minus_entropy(weights: np.ndarray, base: int) -> np.ndarray:
    """Per row of non-negative weights: 1 - entropy (log base `base`) of the row normalised to sum 1.

    A row of zeros (a code no classifier used) scores 0; its weight in the average is 0 anyway.
    """
    totals = weights.sum(axis=1, keepdims=True)
    p = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    scores = 1.0 + plogp.sum(axis=1) / math.log(base)
    return np.where(totals[:, 0] > 0, scores, 0.0)


def dci_from_importance(importance: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(disentanglement, completeness, per-code D, per-factor C) of an L x K importance matrix."""
    importance = np.abs(np.asarray(importance, dtype=np.float64))
    n_codes, n_factors = importance.shape
    total = importance.sum()
    per_code = _one_minus_entropy(importance, n_factors) if n_factors > 1 else np.ones(n_codes)
    per_factor = _one_minus_entropy(importance.T, n_codes) if n_codes > 1 else np.ones(n_factors)
    if total == 0:
        return 0.0, 0.0, per_code, per_factor
    code_weight = importance.sum(axis=1) / total
    factor_weight = importance.sum(axis=0) / total
    return float(per_code @ code_weight), float(per_factor @ factor_weight), per_code, per_factor


def dci(latents, factors, seed: int = 0, train_fraction: float = DEFAULT_TRAIN_FRACTION,
        n_estimators: int = DCI_TREES) -> dict:
    """DCI (Eastwood & Williams 2018) with extremely randomised trees' impurity importances.

    One ExtraTreesClassifier(n_estimators, max_features=None, min_samples_leaf=20, seeded) per
    factor on the train split (see the module docstring for why not gradient boosting). Returns
    {"disentanglement", "completeness", "informativeness_test", "informativeness_train" (mean
    accuracies over factors), "importance": L x K, "disentanglement_per_code": L,
    "completeness_per_factor": K, "accuracy_test_per_factor": K}.
    """
    from sklearn.ensemble import ExtraTreesClassifier

    z, v = validate(latents, factors)
    train, test = train_test_split(len(z), train_fraction, seed)
    importance = np.zeros((z.shape[1], v.shape[1]))
    acc_train, acc_test = np.zeros(v.shape[1]), np.zeros(v.shape[1])
    for k in range(v.shape[1]):
        model = ExtraTreesClassifier(n_estimators=n_estimators, max_features=None,
                                     min_samples_leaf=DCI_MIN_SAMPLES_LEAF, random_state=seed, n_jobs=1)
        model.fit(z[train], v[train, k])
        importance[:, k] = model.feature_importances_
        acc_train[k] = np.mean(model.predict(z[train]) == v[train, k])
        acc_test[k] = np.mean(model.predict(z[test]) == v[test, k])
    d, c, per_code, per_factor = dci_from_importance(importance)
    return {"disentanglement": d, "completeness": c, "informativeness_test": float(acc_test.mean()),
            "informativeness_train": float(acc_train.mean()), "importance": importance,
            "disentanglement_per_code": per_code, "completeness_per_factor": per_factor,
            "accuracy_test_per_factor": acc_test}


# -- SAP ------------------------------------------------------------------------------------------

def _chance_adjusted_balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    classes = np.unique(y_true)
    recall = np.mean([np.mean(y_pred[y_true == c] == c) for c in classes])
    chance = 1.0 / len(classes)
    return float((recall - chance) / (1.0 - chance))


def sap(latents, factors, seed: int = 0, train_fraction: float = DEFAULT_TRAIN_FRACTION,
        chance_adjusted: bool = True) -> dict:
    """SAP (Kumar et al. 2018) for discrete factors, with 1-D threshold trees as the classifiers.

    Returns {"sap": mean over factors, "sap_per_factor": K gaps, "score_matrix": L x K held-out
    scores (chance-adjusted balanced accuracy, or plain accuracy with chance_adjusted=False)}.
    """
    from sklearn.tree import DecisionTreeClassifier

    z, v = validate(latents, factors, min_latents=2)
    train, test = train_test_split(len(z), train_fraction, seed)
    scores = np.zeros((z.shape[1], v.shape[1]))
    for k in range(v.shape[1]):
        y_train, y_test = v[train, k], v[test, k]
        if chance_adjusted and len(np.unique(y_test)) < 2:
            raise ValueError(f"factor {k} takes a single value in the test split; use more samples")
        leaves = max(2, 2 * len(np.unique(y_train)))
        for i in range(z.shape[1]):
            tree = DecisionTreeClassifier(max_leaf_nodes=leaves, min_samples_leaf=SAP_MIN_SAMPLES_LEAF,
                                          random_state=seed)
            pred = tree.fit(z[train, i:i + 1], y_train).predict(z[test, i:i + 1])
            scores[i, k] = (_chance_adjusted_balanced_accuracy(y_test, pred) if chance_adjusted
                            else float(np.mean(pred == y_test)))
    per_factor = top_two_gap(scores)
    return {"sap": float(per_factor.mean()), "sap_per_factor": per_factor, "score_matrix": scores}


def disentanglement_scores(latents, factors, seed: int = 0, num_bins: int = DEFAULT_BINS,
                           train_fraction: float = DEFAULT_TRAIN_FRACTION) -> dict[str, float]:
    """The headline numbers of all three: mig, dci_disentanglement, dci_completeness,
    dci_informativeness (held-out accuracy) and sap."""
    d = dci(latents, factors, seed=seed, train_fraction=train_fraction)
    return {"mig": mutual_information_gap(latents, factors, num_bins)["mig"],
            "dci_disentanglement": d["disentanglement"], "dci_completeness": d["completeness"],
            "dci_informativeness": d["informativeness_test"],
            "sap": sap(latents, factors, seed=seed, train_fraction=train_fraction)["sap"]}


# -- the registered metric --------------------------------------------------------------------------

class Disentanglement(Metric):
    """MIG, DCI and SAP of a latent-variable model's codes against the world's factors.

    Applies where the track found latents (ImageEvalSet.latents): a model with an encoder on a
    dataset with factors, or a model with codes on an oracle world. Factors that take a single value
    among the examples (an oracle that reads every sample as small) carry no information and are
    left out; the signature names the factors scored.
    """

    name = "disentanglement"

    def __init__(self, num_bins: int = DEFAULT_BINS, train_fraction: float = DEFAULT_TRAIN_FRACTION):
        if not isinstance(num_bins, int) or num_bins < 2:
            raise UserError(f"disentanglement: num_bins must be an integer >= 2, got {num_bins!r}")
        if not 0 < train_fraction < 1:
            raise UserError(f"disentanglement: train_fraction must lie in (0, 1), got {train_fraction!r}")
        self.num_bins, self.train_fraction = num_bins, train_fraction

    def compute(self, eval_set) -> list[Score]:
        latents = getattr(eval_set, "latents", None)
        if latents is None:
            return []
        names = list(eval_set.dataset_meta.get("factor_names") or range(latents.factors.shape[1]))
        varying = [k for k in range(latents.factors.shape[1]) if len(np.unique(latents.factors[:, k])) > 1]
        if not varying or len(latents.codes) < MIN_SAMPLES:
            return []
        scores = disentanglement_scores(latents.codes, latents.factors[:, varying], seed=eval_set.seed,
                                        num_bins=self.num_bins, train_fraction=self.train_fraction)
        # Encoder codes are of real renderings (n_real), read by the model's own encoder; generated
        # codes (n_gen) have their factors read by the world's oracle.
        n = len(latents.codes)
        where = {"ext": "encoder", "n_real": n, "n_gen": 0} if latents.source == "encoder" else \
            {"oracle": ShapesWorld.from_meta(eval_set.dataset_meta).oracle().tag, "n_gen": n}
        sig = Signature.build(self.name, libs=("scikit-learn",), src=latents.source, **where,
                              dims=latents.codes.shape[1], factors="+".join(str(names[k]) for k in varying),
                              bins=self.num_bins, split=f"{self.train_fraction:g}",
                              dci=f"extratrees{DCI_TREES}", seed=eval_set.seed)
        what = ("the posterior means of real renderings" if latents.source == "encoder"
                else "the codes of generated samples, factors read by the oracle")
        descriptions = {
            "mig": "mutual information gap (Chen et al. 2018): per factor, the top latent's lead over the second",
            "dci_disentanglement": "DCI disentanglement (Eastwood & Williams 2018): each code explains one factor",
            "dci_completeness": "DCI completeness: each factor is explained by one code",
            "dci_informativeness": "DCI informativeness: held-out accuracy of predicting the factors from all codes",
            "sap": "SAP (Kumar et al. 2018): per factor, the best single code's lead in predictability",
        }
        return [self.score(name, value, sig, True, f"{descriptions[name]}; on {what}, in [0, 1]", DETAIL)
                for name, value in scores.items()]
