"""What the datasets read from local files (mnist, fashion_mnist, cifar10, folder) share.

Nothing is ever downloaded: `data_root` (the CLI's --data-root DIR) names the folder, and a
missing file is a UserError that says where to put it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from .base import DATA_SPLIT_SEED  # every split and subsample here: the data never depends on a run's seed


def require_root(dataset: str, data_root, layout: str, subdir: str | None = None) -> Path:
    """The --data-root folder (or its `subdir`, so that one root can hold several datasets);
    `layout` says what the dataset expects inside it."""
    if data_root is None:
        raise UserError(f"{dataset}: needs --data-root DIR with {layout}; nothing is downloaded")
    root = Path(data_root)
    if not root.is_dir():
        raise UserError(f"{dataset}: --data-root {root} is not a folder; expected a folder with {layout}")
    if subdir is not None:
        root = root / subdir
        if not root.is_dir():
            raise UserError(f"{dataset}: {root} (--data-root plus option subdir) is not a folder")
    return root


def check_limit(dataset: str, limit) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UserError(f"{dataset}: option limit must be a positive integer, got {limit!r}")


def limit_train(x: np.ndarray, y: np.ndarray, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """A fixed random subset of `limit` training images, kept in file order; all of them if fewer."""
    if limit is None or limit >= len(x):
        return x, y
    keep = np.sort(np.random.default_rng(DATA_SPLIT_SEED).permutation(len(x))[:limit])
    return x[keep], y[keep]


def stratified_split(y: np.ndarray, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with every class in both, each class split by `test_fraction`.

    Written out rather than sklearn's train_test_split, which raises when the test split is
    smaller than the number of classes, as it is for the tiny folders users try first.
    """
    rng = np.random.default_rng(DATA_SPLIT_SEED)
    train, test = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_test = min(max(1, round(test_fraction * len(members))), len(members) - 1)
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def one_line(exc: BaseException) -> str:
    """A library's error message, cut to its first line so that UserErrors stay one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
