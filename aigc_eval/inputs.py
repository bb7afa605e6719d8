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
import itertools
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
    """Samples read from one input: kind "image" (uint8 N x C x H x W, or a Stream of such batches)
    or "text" (list of str)."""

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
    """Read `obj` (see the module docstring); `n` caps stored samples and is required for generators.
    Generators and DataLoaders give a Stream (its first batch already pulled and checked)."""
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
        # n=None: a DataLoader may hold fewer than n images; it is read to its end or to n
        return Samples("image", Stream(_loader_batches(obj, what, n), None, what, progress), "DataLoader",
                       "DataLoader")
    if isinstance(obj, torch.nn.Module) and callable(getattr(obj, "sample", None)):
        name = type(obj).__name__
        batches = _generator_batches(_module_sampler(obj, seed), what, n, seed, batch_size)
        return Samples("image", Stream(batches, n, what, progress), name, f"{name}.sample")
    if callable(obj) and not isinstance(obj, type):
        name = getattr(obj, "__name__", type(obj).__name__)
        batches = _generator_batches(obj, what, n, seed, batch_size)
        return Samples("image", Stream(batches, n, what, progress), name, f"callable {name}")
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


class Stream:
    """Images from a generator or a DataLoader, seen once, batch by batch (uint8 N x C x H x W each).

    The first batch is pulled when the stream is made, so that a generator that fails or returns
    the wrong thing fails before any reference is loaded; iterating yields it and then the rest.
    `n` is the number of images it will yield (None for a DataLoader read to its end)."""

    def __init__(self, batches, n: int | None, what: str, progress: bool):
        self.what, self.n, self.progress = what, n, progress
        self._batches = iter(batches)
        self.first = next(self._batches, None)
        if self.first is None:
            raise UserError(f"{what}: yielded no images")
        self._used = False

    @property
    def image_shape(self) -> tuple:
        return tuple(self.first.shape[1:])

    def __iter__(self):
        from tqdm.auto import tqdm

        if self._used:
            raise RuntimeError(f"{self.what}: a stream is read once")
        self._used = True
        with tqdm(total=self.n, desc=self.what, unit="img", disable=not self.progress, leave=False) as bar:
            for images in itertools.chain([self.first], self._batches):
                bar.update(len(images))
                yield images

    def collect(self) -> np.ndarray:
        """Every image, in one array (preallocated when n is known)."""
        if self.n is None:
            return np.concatenate(list(self))
        out = np.empty((self.n, *self.image_shape), dtype=np.uint8)
        start = 0
        for images in self:
            out[start:start + len(images)] = images
            start += len(images)
        return out


def _generator_batches(fn, what: str, n: int | None, seed: int, batch_size: int):
    """n images from fn(b, generator), b <= batch_size at a time, from one seeded generator."""
    import torch

    if n is None:
        raise UserError(f"{what}: a generator needs n, the number of samples to draw (e.g. n=10000)")
    generator = torch.Generator().manual_seed(seed)
    shape, value_range = None, None
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        with torch.no_grad():
            out = fn(b, generator)
        batch, value_range = batch_to_uint8_nchw(out, f"{what} (images {start}..{start + b - 1})", value_range)
        if len(batch) != b:
            raise UserError(f"{what}: asked for {b} images, got {len(batch)}")
        shape = _same_shape(batch, shape, what, f"images {start}..")
        yield batch


def _loader_batches(loader, what: str, n: int | None):
    shape, value_range, total = None, None, 0
    for i, batch in enumerate(loader):
        if isinstance(batch, (list, tuple)):
            batch = batch[0]  # (images, labels)
        images, value_range = batch_to_uint8_nchw(batch, f"{what} (batch {i})", value_range)
        if n is not None:
            images = images[:n - total]
        shape = _same_shape(images, shape, what, f"batch {i}")
        total += len(images)
        yield images
        if n is not None and total >= n:
            return


def _same_shape(batch: np.ndarray, shape, what: str, where: str) -> tuple:
    if shape is not None and batch.shape[1:] != shape:
        raise UserError(f"{what}: {where} are {tuple(batch.shape[1:])} (C x H x W), the first ones {shape}")
    return batch.shape[1:]


def check_reference(reference, data_root=None) -> str:
    """Cheap checks of a reference, before any generated sample is read: "dataset" (a registered
    name), "stats" (a statistics file of `aigc-eval stats`), "path" or "memory". A missing path or
    an unknown name is a UserError."""
    from .data import DATASETS

    if isinstance(reference, str) and reference in DATASETS:
        return "dataset"
    if _is_path(reference):
        if isinstance(reference, str) and not Path(reference).exists() and "/" not in reference \
                and "." not in reference:
            raise UserError(f"--reference {reference}: neither a dataset ({', '.join(DATASETS.names())}) "
                            f"nor an existing file or folder")
        path = check_path(reference, "--reference")
        return "stats" if path.suffix.lower() == ".npz" and _is_stats_file(path) else "path"
    return "memory"


def _is_stats_file(path: Path) -> bool:
    from .features.statistics import FORMAT

    try:
        with np.load(path, allow_pickle=False) as data:
            return "format" in data.files and str(data["format"]) == FORMAT
    except Exception:  # noqa: BLE001 - not an .npz numpy reads: load_samples says why, with the file's name
        return False


def find_pairing(generated, reference, reference_is: str, paired: bool | None) -> str | None:
    """How `score` pairs generated with reference images for PSNR and SSIM (metrics.recon).

    "names": both are flat image folders holding the same file names (each read in sorted name
    order, so the i-th files pair up); found without being asked for (paired=None).
    "order": paired=True and the names are not there to match (arrays, .npz files, generators) or
    differ: the i-th generated image pairs with the i-th reference image.
    None: paired=False, or paired=None and the names do not match.
    Counts are checked by check_pair_counts once both sides are read."""
    if paired not in (None, True, False):
        raise UserError(f"paired: expected True, False or None, got {paired!r}")
    if paired is False:
        return None
    names = _image_names(generated)
    if names and names == _image_names(reference):
        return "names"
    if not paired:
        return None
    if reference_is in ("dataset", "stats"):
        kind = "a dataset name" if reference_is == "dataset" else "a statistics file"
        raise UserError(f"--paired: --reference {reference} is {kind}; pairs need reference images "
                        "(a folder, an .npz or an array) in the order of the generated ones")
    return "order"


def check_pair_counts(n_generated: int | None, n_reference: int, pairing: str) -> None:
    if n_generated is not None and n_generated != n_reference:
        raise UserError(f"--paired: {n_generated} generated images but {n_reference} reference images; "
                        f"pairs by {pairing} need as many of each")


def _image_names(obj) -> list[str] | None:
    """The file names a flat folder's images are read in (samples.load_samples), else None."""
    from .data.image_folder import list_images

    if _is_path(obj) and Path(obj).is_dir():
        return [p.name for p in list_images(Path(obj))]
    return None
