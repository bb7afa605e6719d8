"""The `shapes` world as a dataset: noisy renderings labelled by their factor combination.

Train: `train_per_combo` images of each of the 333 training combinations (the 27 held-out ones --
red triangles, large blue crosses -- never appear). Test: `test_per_combo` images of all 360
combinations, held-out ones included, so a conditional model can be asked for combinations it
never saw. Both splits are shuffled (the harness halves the test split) and drawn from independent
streams of `seed`. Labels are combination indices; `meta` describes the factors (see
aigc_eval.worlds.shapes) and `ShapesWorld.factors_of(labels)` decodes them.
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..worlds.shapes import NUM_COMBINATIONS, ShapesWorld, get_world
from .base import ImageDataset


def _positive_int(option: str, value) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise UserError(f"shapes: {option} must be a positive integer, got {value!r}")
    return int(value)


def load_shapes(data_root=None, image_size: int = 16, train_per_combo: int = 10, test_per_combo: int = 4,
                noise_sigma: float = 6.0, seed: int = 0) -> ImageDataset:
    train_per_combo = _positive_int("train_per_combo", train_per_combo)
    test_per_combo = _positive_int("test_per_combo", test_per_combo)
    world = get_world(image_size, noise_sigma)
    train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    train_combos = np.setdiff1d(np.arange(NUM_COMBINATIONS), world.heldout_labels())
    train_y = train_rng.permutation(np.repeat(train_combos, train_per_combo))
    test_y = test_rng.permutation(np.repeat(np.arange(NUM_COMBINATIONS), test_per_combo))
    meta = world.meta() | {"split_seed": seed, "train_per_combo": train_per_combo,
                           "test_per_combo": test_per_combo, "test_includes_heldout": True}
    return ImageDataset("shapes", world.sample(train_y, train_rng), train_y, world.sample(test_y, test_rng),
                        test_y, class_names=ShapesWorld.class_names(), meta=meta)
