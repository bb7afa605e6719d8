"""What `aigc_eval.evaluate` accepts as generated samples and as a reference, read or checked
before anything expensive happens.

generated (read first, in full, into uint8 N x C x H x W images or a list of sentences):
    fn(n, generator) -> images   a callable, pulled in batches of `batch_size` from one seeded
                                 torch.Generator; images are torch or numpy, N x C x H x W or
                                 N x H x W x C (or N x H x W grey), uint8, or floats in [0, 1] or
                                 [-1, 1] (the first batch decides: [-1, 1] when it holds a negative value)
    nn.Module with `sample`      called as module.sample(b, generator=g) when it takes a generator,
                                 else module.sample(b) under torch.manual_seed(seed) (the global RNG
                                 state is restored afterwards)
    tensor or array              the images themselves
    torch DataLoader             its batches (or the first element of each (x, y) batch)
    folder, .npz or .npy         aigc_eval.samples.load_samples
    .txt, .jsonl, list of str    sentences
reference (checked first, loaded only after the generated samples are read):
    a registered dataset name, or any of the above
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.corpus import SUFFIXES as TEXT_SUFFIXES
from .errors import UserError
from .samples import batch_to_uint8_nchw, load_samples

IMAGE_FILE_SUFFIXES = (".npz", ".npy")
KINDS = ("a callable fn(n, generator), an nn.Module with sample(), a tensor or array, a DataLoader, "
         "a folder of images, an .npz, a .txt/.jsonl file or a list of strings")


@dataclass
class Samples:
    """Samples read from one input: kind "image" (uint8 N x C x H x W) or "text" (list of str)."""

    kind: str
    data: object
    name: str  # a default row name: the file's name, or what kind of object it came from
    source: str  # how it is recorded in the cell's config


def _is_text_list(obj) -> bool:
    return isinstance(obj, (list, tuple)) and len(obj) > 0 and all(isinstance(s, str) for s in obj)


def _is_path(obj) -> bool:
    return isinstance(obj, (str, Path))


def check_path(path, what: str) -> Path:
    """A generated or reference path must exist and be a folder, an .npz/.npy or a .txt/.jsonl file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} {path} does not exist; expected {KINDS}")
    if not path.is_dir() and path.suffix.lower() not in IMAGE_FILE_SUFFIXES + TEXT_SUFFIXES:
        raise UserError(f"{what} {path}: expected a folder of images, an .npz/.npy, or a .txt/.jsonl file")
    return path


def read_samples(obj, what: str, n: int | None = None, seed: int = 0, batch_size: int = 500,
                 progress: bool = False) -> Samples:
    """Read `obj` (see the module docstring); `n` caps stored samples and is required for generators."""
    import torch

    if _is_path(obj):
        path = check_path(obj, what)
        if path.suffix.lower() in TEXT_SUFFIXES:
            from .data.corpus import load_corpus

            return Samples("text", list(load_corpus(path).sentences)[:n], path.name, str(path))
        return Samples("image", _first(load_samples(path), n), path.name, str(path))
    if _is_text_list(obj):
        return Samples("text", list(obj)[:n], "sentences", f"list of {len(obj)} sentences")
    if isinstance(obj, (np.ndarray, torch.Tensor)):
        images, _ = batch_to_uint8_nchw(obj[:n] if n else obj, what)
        return Samples("image", images, type(obj).__name__, f"{type(obj).__name__} {tuple(obj.shape)}")
    if isinstance(obj, torch.utils.data.DataLoader):
        return Samples("image", _from_loader(obj, what, n, progress), "DataLoader", "DataLoader")
    if isinstance(obj, torch.nn.Module) and callable(getattr(obj, "sample", None)):
        name = type(obj).__name__
        return Samples("image", _pull(_module_sampler(obj, seed), what, n, seed, batch_size, progress), name,
                       f"{name}.sample")
    if callable(obj) and not isinstance(obj, type):
        name = getattr(obj, "__name__", type(obj).__name__)
        return Samples("image", _pull(obj, what, n, seed, batch_size, progress), name, f"callable {name}")
    raise UserError(f"{what}: got {type(obj).__name__}; expected {KINDS}")


def _first(images: np.ndarray, n: int | None) -> np.ndarray:
    return images if n is None else images[:n]


def _module_sampler(module, seed: int):
    import torch

    params = inspect.signature(module.sample).parameters
    if "generator" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return lambda b, generator: module.sample(b, generator=generator)

    def sample(b, generator):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
            return module.sample(b)

    return sample


def _pull(fn, what: str, n: int | None, seed: int, batch_size: int, progress: bool) -> np.ndarray:
    """n images from fn(b, generator), b <= batch_size at a time, into one preallocated array."""
    import torch
    from tqdm.auto import tqdm

    if n is None:
        raise UserError(f"{what}: a generator needs n, the number of samples to draw (e.g. n=10000)")
    generator = torch.Generator().manual_seed(seed)
    out, value_range = None, None
    with torch.no_grad(), tqdm(total=n, desc=what, unit="img", disable=not progress, leave=False) as bar:
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            batch, value_range = batch_to_uint8_nchw(fn(b, generator), f"{what} (images {start}..{start + b - 1})",
                                                     value_range)
            if len(batch) != b:
                raise UserError(f"{what}: asked for {b} images, got {len(batch)}")
            if out is None:
                out = np.empty((n, *batch.shape[1:]), dtype=np.uint8)
            elif batch.shape[1:] != out.shape[1:]:
                raise UserError(f"{what}: images {start}.. are {tuple(batch.shape[1:])} (C x H x W), "
                                f"the first ones {tuple(out.shape[1:])}")
            out[start:start + b] = batch
            bar.update(b)
    return out


def _from_loader(loader, what: str, n: int | None, progress: bool) -> np.ndarray:
    from tqdm.auto import tqdm

    parts, value_range, total = [], None, 0
    with tqdm(total=n, desc=what, unit="img", disable=not progress, leave=False) as bar:
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]  # (images, labels)
            images, value_range = batch_to_uint8_nchw(batch, f"{what} (batch {len(parts)})", value_range)
            if parts and images.shape[1:] != parts[0].shape[1:]:
                raise UserError(f"{what}: batch {len(parts)} holds {tuple(images.shape[1:])} images (C x H x W), "
                                f"the first {tuple(parts[0].shape[1:])}")
            parts.append(images)
            total += len(images)
            bar.update(len(images))
            if n is not None and total >= n:
                break
    if not parts:
        raise UserError(f"{what}: the DataLoader yielded no batches")
    return _first(np.concatenate(parts), n)


def check_reference(reference, data_root=None) -> str:
    """Cheap checks of a reference, before any generated sample is read: "dataset" (a registered
    name), "path" or "memory". A missing path or an unknown name is a UserError."""
    from .data import DATASETS

    if isinstance(reference, str) and reference in DATASETS:
        return "dataset"
    if _is_path(reference):
        if isinstance(reference, str) and not Path(reference).exists() and "/" not in reference \
                and "." not in reference:
            raise UserError(f"--reference {reference}: neither a dataset ({', '.join(DATASETS.names())}) "
                            f"nor an existing file or folder")
        check_path(reference, "--reference")
        return "path"
    return "memory"
