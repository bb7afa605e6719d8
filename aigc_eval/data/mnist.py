"""MNIST and Fashion-MNIST from their IDX files, in torchvision's layout, never downloaded.

    DIR/MNIST/raw/{train-images-idx3-ubyte, train-labels-idx1-ubyte,
                   t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte}   (each may also be .gz)
    DIR/FashionMNIST/raw/...                                         (same four names)

IDX (http://yann.lecun.com/exdb/mnist/): a big-endian magic number 0x0000TTNN (TT the element
type, 0x08 for unsigned bytes; NN the number of dimensions), NN big-endian uint32 sizes, then
the elements. Images are 1 x 28 x 28, labels 0..9.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import UserError
from .base import ImageDataset
from .local import check_limit, limit_train, one_line, require_root

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
IMAGE_SIZE = 28
UBYTE = 0x08
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def load_mnist(data_root=None, limit: int | None = None) -> ImageDataset:
    return _load_idx_dataset("mnist", "MNIST", tuple(str(d) for d in range(10)), data_root, limit)


def load_fashion_mnist(data_root=None, limit: int | None = None) -> ImageDataset:
    return _load_idx_dataset("fashion_mnist", "FashionMNIST", FASHION_CLASSES, data_root, limit)


def _load_idx_dataset(name, folder, class_names, data_root, limit) -> ImageDataset:
    check_limit(name, limit)
    files_description = f"the four {folder} IDX files"
    root = require_root(name, data_root, f"{files_description} in DIR/{folder}/raw/ (torchvision layout)")
    raw = root / folder / "raw"
    files = _find_files(name, raw, files_description)
    splits = {split: _read_split(name, files[images], files[labels], len(class_names))
              for split, (images, labels) in FILES.items()}
    train_x, train_y = limit_train(*splits["train"], limit)
    test_x, test_y = splits["test"]
    return ImageDataset(name, train_x, train_y, test_x, test_y, class_names=class_names,
                        meta={"source": str(raw), "files": sorted(p.name for p in files.values()),
                              "train_size": len(splits["train"][0]), "limit": limit})


def _find_files(name: str, raw: Path, files_description: str) -> dict[str, Path]:
    """Each IDX file, uncompressed if both are there (torchvision keeps the .gz beside it)."""
    found, missing = {}, []
    for stem in (stem for pair in FILES.values() for stem in pair):
        candidates = [raw / stem, raw / f"{stem}.gz"]
        present = [p for p in candidates if p.is_file()]
        if present:
            found[stem] = present[0]
        else:
            missing.append(f"{raw / stem}[.gz]")
    if missing:
        raise UserError(f"{name}: missing {', '.join(missing)}; put {files_description} there "
                        "(torchvision layout) or pass another --data-root")
    return found


def _read_split(name: str, images_path: Path, labels_path: Path, num_classes: int):
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise UserError(f"{name}: {images_path} holds {images.shape[1]}x{images.shape[2]} images; "
                        f"expected {IMAGE_SIZE}x{IMAGE_SIZE}")
    if len(labels) != len(images):
        raise UserError(f"{name}: {labels_path} has {len(labels)} labels but {images_path} has "
                        f"{len(images)} images; they must be the same count")
    if len(labels) and labels.max() >= num_classes:
        raise UserError(f"{name}: {labels_path} has label {int(labels.max())}; expected 0..{num_classes - 1}")
    return images[:, None].copy(), labels.astype(np.int64)


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes with `ndim` dimensions; gzip if the name ends in .gz."""
    data = _read_bytes(path)
    header = 4 + 4 * ndim
    expected_magic = (UBYTE << 8) | ndim
    if len(data) < header:
        raise UserError(f"{path}: {len(data)} bytes, too short for an IDX header; expected an IDX file")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise UserError(f"{path}: IDX magic number {magic:#010x}, expected {expected_magic:#010x} "
                        f"(unsigned bytes, {ndim} dimension{'s' if ndim > 1 else ''}); is it the right file?")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected_size = header + int(np.prod(shape))
    if len(data) != expected_size:
        raise UserError(f"{path}: {len(data)} bytes but its header {shape} needs {expected_size}; "
                        "the file is truncated or corrupt")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _read_bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise UserError(f"{path}: not a readable gzip file ({one_line(exc)})") from None
