"""Samples a user brings: a folder of images or an .npz array, read into uint8 N x C x H x W.

Accepted inputs:
- a folder of PNG/JPEG (also BMP, WebP, TIFF) files, read in sorted file-name order (zero-pad
  numbered names so that 10.png does not come before 2.png); subfolders are not searched;
- an .npz holding one array, or several with the images under `samples`, `images` or `arr_0`
  (an .npy file works too). The array is N x H x W x C with C = 1 or 3, or N x H x W for grey,
  and either uint8 0..255, or floating point in [0, 1] without NaN or inf. Floats are converted
  as torchvision.utils.save_image does, floor(255 x + 0.5) in the array's precision, so an .npz
  of float32 images and the PNGs that save_image writes from them load to the same bytes.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .atomic import save_with
from .data.image_folder import list_images, read_images
from .data.local import one_line
from .errors import UserError

NPZ_KEYS = ("samples", "images", "arr_0")
EXPECTED = "a folder of PNG/JPEG images or an .npz file"


def load_samples(path, min_samples: int = 1, image_shape: tuple[int, int, int] | None = None,
                 why: str = "") -> np.ndarray:
    """uint8 N x C x H x W. `image_shape` (C, H, W), when given, is checked against the dataset's;
    `why` says what needs `min_samples` of them."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"samples: {path} does not exist; expected {EXPECTED}")
    if path.is_dir():
        images = _read_folder(path)
    elif path.suffix.lower() in (".npz", ".npy"):
        images = _read_array(path)
    else:
        raise UserError(f"samples: {path} is neither a folder nor an .npz file; expected {EXPECTED}")
    if len(images) < min_samples:
        raise UserError(f"samples: {path} holds {_images(len(images))}; at least {min_samples} are needed"
                        + (f" ({why})" if why else ""))
    if image_shape is not None and images.shape[1:] != tuple(image_shape):
        raise UserError(f"samples: {path} holds {_chw(images.shape[1:])} images (C x H x W) but the "
                        f"dataset's are {_chw(image_shape)}")
    return images


def save_samples_npz(path, images: np.ndarray, labels: np.ndarray | None = None) -> Path:
    """Write uint8 N x C x H x W images (and the labels they were sampled for) as an .npz that
    load_samples reads back unchanged; `labels` is stored beside them under "labels"."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"save_samples_npz: expected uint8 N x C x H x W with C = 1 or 3, "
                         f"got {images.dtype} {images.shape}")
    arrays = {"samples": images.transpose(0, 2, 3, 1)}
    if labels is not None:
        if len(labels) != len(images):
            raise ValueError(f"save_samples_npz: {len(images)} images but {len(labels)} labels")
        arrays["labels"] = np.asarray(labels, dtype=np.int64)

    def write(tmp):
        # Compressed: 10,000 digit-like 3x32x32 samples take 0.8 MB instead of 30.7 MB, for 0.6 s
        # instead of 0.13 s to save. A file object, so numpy does not append ".npz" to the name.
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    return save_with(path, write)


def _read_folder(folder: Path) -> np.ndarray:
    paths = list_images(folder)
    if not paths:
        subfolders = any(p.is_dir() for p in folder.iterdir())
        raise UserError(f"samples: {folder} has no image files; expected {EXPECTED}"
                        + (" (subfolders are not searched)" if subfolders else ""))
    return read_images(paths)


def _read_array(path: Path) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            where, array = str(path), loaded
        else:
            with loaded:
                key = _pick_key(path, loaded.files)
                where, array = f"{path}[{key}]", loaded[key]
    except UserError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(f"samples: cannot read {path} as .npz ({one_line(exc)})") from None
    return _to_uint8_nchw(array, where)


def _pick_key(path: Path, keys: list[str]) -> str:
    if len(keys) == 1:
        return keys[0]
    for key in NPZ_KEYS:
        if key in keys:
            return key
    raise UserError(f"samples: {path} holds arrays {', '.join(keys) or '(none)'}; expected one array, "
                    f"or the images under one of {', '.join(NPZ_KEYS)}")


def _to_uint8_nchw(array: np.ndarray, where: str) -> np.ndarray:
    """An .npz's array: N x H x W x C or N x H x W, uint8 or floats in [0, 1] (the file format)."""
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        channels_first = array.ndim == 4 and array.shape[1] in (1, 3)
        hint = "; it looks like N x C x H x W, transpose it" if channels_first else ""
        raise UserError(f"samples: {where} has shape {array.shape}; expected N x H x W x C with C = 1 or 3, "
                        f"or N x H x W{hint}")
    return to_uint8(array.transpose(0, 3, 1, 2), where, "unit")


def image_layout(shape: tuple) -> str | None:
    """"nchw", "nhwc" or "nhw" for an in-memory image batch, None when it is none of them. A 4-d batch
    whose axis 1 and last axis could both be channels (3 x 3 images) is read as N x C x H x W."""
    if len(shape) == 3:
        return "nhw"
    if len(shape) != 4:
        return None
    if shape[1] in (1, 3):
        return "nchw"
    return "nhwc" if shape[-1] in (1, 3) else None


def batch_to_uint8_nchw(batch, where: str, value_range: str | None = None) -> tuple[np.ndarray, str]:
    """An in-memory batch (torch or numpy; N x C x H x W, N x H x W x C or N x H x W; uint8, or floats
    in [0, 1] or [-1, 1]) as uint8 N x C x H x W, and the float range it was read with.

    value_range: "unit" or "signed"; None decides from this batch (signed when it holds a negative
    value). A generator's first batch fixes it for the later ones, so that every batch is read alike."""
    if hasattr(batch, "detach"):  # a torch tensor, possibly on a GPU
        batch = batch.detach().cpu().numpy()
    array = np.asarray(batch)
    layout = image_layout(array.shape)
    if layout is None:
        raise UserError(f"{where}: images of shape {tuple(array.shape)}; expected N x C x H x W or N x H x W x C "
                        "with C = 1 or 3, or N x H x W")
    array = array[:, None] if layout == "nhw" else array.transpose(0, 3, 1, 2) if layout == "nhwc" else array
    if value_range is None:
        floating = np.issubdtype(array.dtype, np.floating)
        value_range = "signed" if floating and array.size and array.min() < 0 else "unit"  # NaN: "unit", then refused
    return to_uint8(array, where, value_range), value_range


def to_uint8(array: np.ndarray, where: str, value_range: str = "unit") -> np.ndarray:
    """uint8 N x C x H x W images from uint8 or floats in [0, 1] ("unit") or [-1, 1] ("signed").

    Floats are converted as torchvision.utils.save_image does, floor(255 x + 0.5) in the array's
    precision (signed ones after (x + 1) / 2).
    """
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise UserError(f"samples: {where} contains NaN or inf; samples must be uint8 0..255 "
                            "or floats in [0, 1] without NaN")
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        lowest = -1 if value_range == "signed" else 0
        if low < lowest or high > 1:
            allowed = "[-1, 1] (as the first batch was)" if value_range == "signed" else \
                "[0, 1] (map tanh outputs with (x + 1) / 2)"
            raise UserError(f"samples: {where} has float values {low:g}..{high:g}; floats must lie in {allowed} "
                            "or save uint8 0..255")
        # In the array's own precision, as torch does it: 254.5/255 in float32 rounds up to 255.
        array = array.astype(np.promote_types(array.dtype, np.float32))
        if value_range == "signed":
            array = (array + 1) / 2
        array = np.floor(array * 255 + 0.5).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise UserError(f"samples: {where} has dtype {array.dtype}; expected uint8 0..255 or floats in [0, 1]")
    return np.ascontiguousarray(array)


def _images(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"


def _chw(shape) -> str:
    return "x".join(str(d) for d in shape)
