"""The `facts` text dataset: true sentences about a seeded synthetic world (aigc_eval.worlds.facts).

Train and test hold only true sentences and are disjoint, so a generated sentence that is true
and not in train is a measurably novel fact. Labels are the main clause's relation
(lives_in, job, likes, height, age); the small classes stay small (with the defaults, seed 0:
train 183/95/1000/1000/1000, test 21/11/150/150/150 sentences, 70 distinct words, 4-16 tokens).
`meta["world"] == "facts"` and `meta["world_seed"]` let the oracle metric rebuild the world.
"""
from __future__ import annotations

from ..worlds.facts import RELATIONS, FactsWorld, split_corpus
from .base import TextDataset

N_TRAIN_PER_CLASS = 1000
N_TEST_PER_CLASS = 150
TEST_FRACTION = 0.1


def load_facts(data_root=None, seed: int = 0, n_train_per_class: int = N_TRAIN_PER_CLASS,
               n_test_per_class: int = N_TEST_PER_CLASS) -> TextDataset:
    """`seed` picks both the world and the split; data_root is unused (nothing is read)."""
    world = FactsWorld.generate(seed)
    split = split_corpus(world, n_train_per_class, n_test_per_class, TEST_FRACTION, seed)
    (train, train_y), (test, test_y) = split["train"], split["test"]
    return TextDataset("facts", train, test, train_y, test_y, class_names=RELATIONS, tokenize="space",
                       meta={"world": "facts", "world_seed": seed, "world_hash": world.fingerprint,
                             "label": "relation of the main clause", "test_fraction": TEST_FRACTION})
