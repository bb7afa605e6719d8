"""The two dataset shapes that every model, metric and report understands."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..runtime import array_hash, stable_hash

# The seed of the train/test splits that datasets make themselves (digits, a --limit subset of local
# files). It is not the seed of the harness's reference/real-test split of the test set
# (harness.tracks.REFERENCE_SPLIT_SEED), nor that of a world's own split (shapes' split_seed).
DATA_SPLIT_SEED = 0


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """uint8 images N x C x H x W with int64 class labels, already split into train and test.

    `meta` describes the source; for worlds whose ground truth is known it also carries `world`
    (e.g. "shapes") and what the world's oracle needs to rebuild itself.
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    class_names: tuple[str, ...]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if x.dtype != np.uint8 or x.ndim != 4:
                raise ValueError(f"{self.name} {split}: expected uint8 N x C x H x W, got {x.dtype} {x.shape}")
            if len(x) != len(y):
                raise ValueError(f"{self.name} {split}: {len(x)} images but {len(y)} labels")

    kind = "image"

    @property
    def train_examples(self) -> np.ndarray:
        """The training examples as a model sees them (copy-train samples from them)."""
        return self.train_x

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def factor_sizes(self) -> tuple[int, ...] | None:
        """Sizes of the label's factors when a label is a factor tuple's row-major index (shapes:
        4 x 5 x 2 x 9); None when labels are plain classes. Conditional models embed factors."""
        sizes = self.meta.get("factor_sizes")
        return tuple(sizes) if sizes else None

    def fingerprint(self) -> str:
        """Content hash of the data itself: caches and config hashes key on it."""
        return array_hash(self.train_x, self.train_y, self.test_x, self.test_y)


@dataclass(frozen=True, eq=False)
class TextDataset:
    """Sentences (one str each) with optional int labels, split into train and test."""

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    train_y: np.ndarray | None = None
    test_y: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    tokenize: str = "space"  # "space" for space-separated words, "char" for CJK text
    meta: dict = field(default_factory=dict)

    kind = "text"

    @property
    def train_examples(self) -> tuple[str, ...]:
        """The training examples as a model sees them (copy-train samples from them)."""
        return self.train

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def fingerprint(self) -> str:
        labels = [] if self.train_y is None else [self.train_y.tolist(), self.test_y.tolist()]
        return stable_hash([self.train, self.test, labels, self.tokenize])
