"""CIFAR-10 from the "python version" batches, in torchvision's layout, never downloaded.

    DIR/cifar-10-batches-py/{data_batch_1, ..., data_batch_5, test_batch, batches.meta}

Each batch is a Python 2 pickle of a dict: b"data" uint8 N x 3072 (1024 red, 1024 green, 1024
blue values, rows top to bottom) and b"labels", N ints 0..9; batches.meta holds b"label_names".

Pickles can run arbitrary code when loaded. Like torchvision we read them only from the folder
the user names, as trusted input; unlike it, the unpickler below also refuses everything but
numpy arrays, so a tampered file fails with a UserError instead of running.
"""
from __future__ import annotations

import codecs
import pickle
from pathlib import Path

import numpy as np

from ..errors import UserError
from .base import ImageDataset
from .local import check_limit, limit_train, one_line, require_root

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
NUM_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)
FILES = "the CIFAR-10 python batches"


def load_cifar10(data_root=None, limit: int | None = None) -> ImageDataset:
    check_limit("cifar10", limit)
    folder = require_root("cifar10", data_root, f"{FILES} in DIR/{FOLDER}/ (torchvision layout)") / FOLDER
    missing = [str(folder / n) for n in (*TRAIN_BATCHES, TEST_BATCH, META) if not (folder / n).is_file()]
    if missing:
        raise UserError(f"cifar10: missing {', '.join(missing)}; "
                        f"put {FILES} there (torchvision layout) or pass another --data-root")
    batches = [_read_batch(folder / n) for n in TRAIN_BATCHES]
    train_x = np.concatenate([x for x, _ in batches])
    train_y = np.concatenate([y for _, y in batches])
    test_x, test_y = _read_batch(folder / TEST_BATCH)
    class_names = _read_class_names(folder / META)
    meta = {"source": str(folder), "train_size": len(train_x), "limit": limit}
    return ImageDataset("cifar10", *limit_train(train_x, train_y, limit), test_x, test_y,
                        class_names=class_names, meta=meta)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    data, labels = batch.get(b"data"), batch.get(b"labels")
    size = int(np.prod(IMAGE_SHAPE))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != size:
        found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise UserError(f"cifar10: {path} b'data' is {found}; expected uint8 N x {size}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        labels = None
    if labels is None or labels.shape != (len(data),):
        raise UserError(f"cifar10: {path} b'labels' must be {len(data)} ints, one per image")
    if len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise UserError(f"cifar10: {path} has labels {labels.min()}..{labels.max()}; "
                        f"expected 0..{NUM_CLASSES - 1}")
    return data.reshape(len(data), *IMAGE_SHAPE).copy(), labels


def _read_class_names(path: Path) -> tuple[str, ...]:
    names = _unpickle(path).get(b"label_names")
    if not isinstance(names, list) or len(names) != NUM_CLASSES or not all(isinstance(n, bytes) for n in names):
        raise UserError(f"cifar10: {path} b'label_names' must list {NUM_CLASSES} class names")
    return tuple(n.decode("utf-8") for n in names)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            obj = _ArraysOnlyUnpickler(fh, encoding="bytes").load()
    except _ForbiddenGlobal as exc:
        raise UserError(f"cifar10: {path} refers to {exc}; a CIFAR-10 batch holds only numpy arrays "
                        "and lists, so it was not loaded") from None
    except Exception as exc:  # a corrupt pickle can fail with almost any exception type
        raise UserError(f"cifar10: {path} is not a CIFAR-10 python batch ({one_line(exc)})") from None
    if not isinstance(obj, dict):
        raise UserError(f"cifar10: {path} holds a {type(obj).__name__}; "
                        "expected a dict with b'data' and b'labels'")
    return obj


def _allowed_globals() -> dict:
    # The functions numpy pickles arrays and scalars with, taken from numpy itself so the table
    # holds on numpy 1 and 2. The real files, written by Python 2 and numpy 1, name them under
    # numpy.core; numpy 2 moved them to numpy._core.
    reconstruct = np.zeros(1).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]  # protocol 5, for batches re-saved by Python 3
    scalar = np.int64(0).__reduce__()[0]
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): codecs.encode}  # how Python 3 writes bytes at protocol 2
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


class _ForbiddenGlobal(pickle.UnpicklingError):
    pass


class _ArraysOnlyUnpickler(pickle.Unpickler):
    ALLOWED = _allowed_globals()

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise _ForbiddenGlobal(f"{module}.{name}")
        return self.ALLOWED[(module, name)]
