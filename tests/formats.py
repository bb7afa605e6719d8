"""Tiny files in each real on-disk format that aigc-eval reads, for tests and end-to-end suites.

Build a --data-root with any mix of:

    write_mnist_idx(root, kind="mnist")       -> root/MNIST/raw/*-ubyte          (IDX)
    write_mnist_idx(root, kind="fashion")     -> root/FashionMNIST/raw/*-ubyte
    write_cifar10(root)                       -> root/cifar-10-batches-py/*      (Python 2 pickles)
    write_image_folder(root / "faces")        -> root/faces/<class>/*.png        (the `folder` dataset)

Each returns what it wrote, in the layout the loaders return (uint8 N x C x H x W, int64 labels),
so a test can compare values exactly. Pass `data=` to write chosen images instead of noise.
"""
from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np


class Split(NamedTuple):
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


class LabelledImages(NamedTuple):
    x: np.ndarray  # in sorted file order, the order the folder loader reads them
    y: np.ndarray
    class_names: tuple[str, ...]
    paths: list[Path]


def random_images(n: int, shape: tuple[int, int, int], num_classes: int = 10, seed: int = 0):
    """Noise images with labels that cover every class once n >= num_classes."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    y = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    return x, y


def random_split(n_train: int, n_test: int, shape, num_classes: int = 10, seed: int = 0) -> Split:
    train_x, train_y = random_images(n_train, shape, num_classes, seed)
    test_x, test_y = random_images(n_test, shape, num_classes, seed + 1)
    return Split(train_x, train_y, test_x, test_y)


# ---------------------------------------------------------------- MNIST / Fashion-MNIST (IDX)

MNIST_FOLDERS = {"mnist": "MNIST", "fashion": "FashionMNIST"}


def write_idx(path, array: np.ndarray) -> Path:
    """An IDX file of unsigned bytes: magic 0x0000 08 NN, NN big-endian uint32 sizes, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    blob = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    blob += array.tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(blob) if path.suffix == ".gz" else blob)
    return path


def write_mnist_idx(root, n_train: int = 40, n_test: int = 20, kind: str = "mnist", seed: int = 0,
                    gz: bool = False, data: Split | None = None) -> Split:
    """The four IDX files in torchvision's layout, gzipped if `gz`."""
    data = data or random_split(n_train, n_test, (1, 28, 28), seed=seed)
    raw = Path(root) / MNIST_FOLDERS[kind] / "raw"
    ext = ".gz" if gz else ""
    for prefix, x, y in (("train", data.train_x, data.train_y), ("t10k", data.test_x, data.test_y)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte{ext}", x[:, 0])
        write_idx(raw / f"{prefix}-labels-idx1-ubyte{ext}", y)
    return data


# ---------------------------------------------------------------- CIFAR-10 (pickled batches)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def write_cifar10(root, n_train: int = 50, n_test: int = 20, seed: int = 0, data: Split | None = None,
                  protocol: int | None = None) -> Split:
    """cifar-10-batches-py/ with five training batches, test_batch and batches.meta.

    protocol=None writes the batches as the real files are: pickled by Python 2 with numpy 1
    (see python2_pickle); an int pickles them with this Python at that protocol instead.
    """
    data = data or random_split(n_train, n_test, (3, 32, 32), seed=seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    batches = zip(np.array_split(data.train_x, 5), np.array_split(data.train_y, 5))
    for i, (x, y) in enumerate(batches, start=1):
        write_cifar_batch(folder / f"data_batch_{i}", x, y, f"training batch {i} of 5", protocol)
    write_cifar_batch(folder / "test_batch", data.test_x, data.test_y, "testing batch 1 of 1", protocol)
    meta = {b"num_cases_per_batch": len(data.test_x), b"label_names": [n.encode() for n in CIFAR10_CLASSES],
            b"num_vis": 3072}
    write_pickle(folder / "batches.meta", meta, protocol)
    return data


def write_cifar_batch(path, x: np.ndarray, y: np.ndarray, batch_label: str = "batch", protocol=None) -> Path:
    batch = {b"batch_label": batch_label.encode(), b"labels": [int(v) for v in y],
             b"data": np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.uint8),
             b"filenames": [f"image_{i:05d}.png".encode() for i in range(len(x))]}
    return write_pickle(path, batch, protocol)


def write_pickle(path, obj, protocol: int | None = None) -> Path:
    path = Path(path)
    path.write_bytes(python2_pickle(obj) if protocol is None else pickle.dumps(obj, protocol=protocol))
    return path


class _Global(NamedTuple):
    module: str
    name: str


class _Reduce(NamedTuple):
    func: _Global
    args: tuple
    state: tuple


def python2_pickle(obj) -> bytes:
    """`obj` pickled as Python 2's cPickle (protocol 2) with numpy 1 pickled it.

    Python 3 cannot write this: its byte strings become _codecs.encode calls where Python 2
    wrote raw BINSTRINGs, and numpy 2 names its functions numpy._core, not numpy.core. Handles
    dict, list, tuple, bytes, int, None and uint8 arrays: what CIFAR-10 batches hold.
    """
    out = bytearray(b"\x80\x02")  # PROTO 2
    _emit(out, obj)
    return bytes(out + b".")  # STOP


def _emit(out: bytearray, obj) -> None:
    if obj is None:
        out += b"N"
    elif isinstance(obj, bool):
        out += b"\x88" if obj else b"\x89"  # NEWTRUE / NEWFALSE
    elif isinstance(obj, int):
        out += b"J" + struct.pack("<i", obj)  # BININT
    elif isinstance(obj, bytes):  # SHORT_BINSTRING / BINSTRING: a Python 2 str
        out += (b"U" + bytes([len(obj)]) if len(obj) < 256 else b"T" + struct.pack("<I", len(obj))) + obj
    elif isinstance(obj, _Global):
        out += f"c{obj.module}\n{obj.name}\n".encode()
    elif isinstance(obj, _Reduce):
        _emit(out, obj.func)
        _emit(out, obj.args)
        out += b"R"
        _emit(out, obj.state)
        out += b"b"  # BUILD: __setstate__(state)
    elif isinstance(obj, tuple):
        out += b"("
        for item in obj:
            _emit(out, item)
        out += b"t"
    elif isinstance(obj, list):
        out += b"]("
        for item in obj:
            _emit(out, item)
        out += b"e"
    elif isinstance(obj, dict):
        out += b"}("
        for key, value in obj.items():
            _emit(out, key)
            _emit(out, value)
        out += b"u"
    elif isinstance(obj, np.ndarray) and obj.dtype == np.uint8:
        # numpy 1's ndarray.__reduce__ and dtype.__reduce__, as Python 2 wrote them.
        dtype = _Reduce(_Global("numpy", "dtype"), (b"u1", 0, 1), (3, b"|", None, None, None, -1, -1, 0))
        _emit(out, _Reduce(_Global("numpy.core.multiarray", "_reconstruct"),
                           (_Global("numpy", "ndarray"), (0,), b"b"),
                           (1, tuple(obj.shape), dtype, False, np.ascontiguousarray(obj).tobytes())))
    else:
        raise TypeError(f"python2_pickle: cannot write {type(obj).__name__}")


# ---------------------------------------------------------------- image files

def write_image_files(folder, images: np.ndarray, fmt: str = "png", names=None) -> list[Path]:
    """One file per uint8 C x H x W image (C = 1 or 3); names default to 00000.png, 00001.png..."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"{i:05d}.{fmt}" for i in range(len(images))]
    paths = []
    for image, name in zip(images, names):
        pixels = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        path = folder / name
        Image.fromarray(np.ascontiguousarray(pixels)).save(path)
        paths.append(path)
    return paths


def write_image_folder(root, n_per_class=(4, 4, 4), shape=(3, 8, 8), class_names=None, fmt: str = "png",
                       flat: bool = False, seed: int = 0) -> LabelledImages:
    """root/<class>/NNNNN.png, one subfolder per class; `flat` puts one class directly in root."""
    root = Path(root)
    if flat:
        n_per_class = n_per_class[:1]
    class_names = tuple(class_names or (f"class_{i}" for i in range(len(n_per_class))))
    rng = np.random.default_rng(seed)
    xs, ys, paths = [], [], []
    for label, (name, n) in enumerate(sorted(zip(class_names, n_per_class))):
        x = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
        paths += write_image_files(root if flat else root / name, x, fmt)
        xs.append(x)
        ys.append(np.full(n, label, dtype=np.int64))
    return LabelledImages(np.concatenate(xs), np.concatenate(ys), tuple(sorted(class_names)), paths)
