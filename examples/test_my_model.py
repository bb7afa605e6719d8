"""Gate your own generator in your own test suite with aigc-eval's pytest plugin.

    python examples/test_my_model.py my-baseline.json                   # once: record the baseline
    pytest examples/test_my_model.py --aigc-baseline my-baseline.json   # in CI: gate against it

The "model" is a Parzen window in pixel space (a training digit plus Gaussian pixel noise of
width BANDWIDTH), a real if simple generator that samples in milliseconds; put your own model's
sampler in `sample_my_model`. The test scores three seeds with the suite's Fréchet distance on
its digits classifier and fails, printing the gate's Markdown table, only when FD is worse than
the baseline beyond seed noise.
"""
import os
import sys

import numpy as np

from aigc_eval.data import load_dataset
from aigc_eval.features.classifier import classifier_extractor
from aigc_eval.metrics import ImageEvalSet, build_metric
from aigc_eval.results import RunResults

N_SAMPLES = 720
SEEDS = (0, 1, 2)
BASELINE_SEEDS = (10, 11, 12)  # other seeds than the test's: the gate must see through seed noise


def bandwidth() -> float:
    # Stands in for "which checkpoint": a real project's CI would load its newest model here.
    return float(os.environ.get("MY_MODEL_BANDWIDTH", "40"))


def sample_my_model(train_x: np.ndarray, n: int, seed: int, width: float) -> np.ndarray:
    """n uint8 images: random training digits plus Gaussian pixel noise of std `width`."""
    rng = np.random.default_rng(seed)
    picked = train_x[rng.choice(len(train_x), n, replace=False)].astype(np.float64)
    return np.clip(picked + rng.normal(0.0, width, picked.shape), 0, 255).round().astype(np.uint8)


def score_my_model(seeds=SEEDS) -> dict:
    """A results dict with the FD of each seed's samples against the real digits test split."""
    data = load_dataset("digits")
    extractor = classifier_extractor(data, log=lambda msg: None)  # trained once, then cached
    fd = build_metric("fd")
    width = bandwidth()
    scores = {}
    for seed in seeds:
        eval_set = ImageEvalSet(generated=sample_my_model(data.train_x, N_SAMPLES, seed, width),
                                reference=data.test_x, train=data.train_x,
                                extractor=extractor, seed=seed)
        scores[("my_model", "digits", seed)] = fd.compute(eval_set)
    return RunResults.from_scores(scores, run_id=f"my_model-bandwidth{width:g}").to_json()


def test_my_model_has_not_regressed(aigc_gate):
    aigc_gate(score_my_model(), metrics=["fd_*"])


if __name__ == "__main__":
    from aigc_eval.atomic import write_json

    write_json(sys.argv[1], score_my_model(BASELINE_SEEDS))
