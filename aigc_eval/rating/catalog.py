"""What raters see: every sample of every finished model cell of a run, under an opaque id, and
the question asked of each dataset.

The samples are read once, when the app starts, from the files the run wrote: each cell's
`samples.npz` (images) or `samples.txt` (sentences) in the cell folder that results.json names.
A request names a sample only by its id, a keyed hash looked up in this catalog; no part of a
request ever becomes a path. The key (a salt kept in the votes database) makes ids opaque: a rater
cannot tell from an id which model drew the sample.
"""
from __future__ import annotations

import hashlib
import hmac
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..samples import load_samples

MAX_PER_CELL = 200  # samples read per cell: plenty for pairs, bounded memory for large runs


@dataclass(frozen=True)
class Question:
    id: str  # in the score's signature: no spaces, '|' or ':'
    text: str


# One question per task: the dataset's own where it has one, else the kind's.
QUESTIONS = {
    "digits": Question("digit-real", "Which looks more like a real handwritten digit?"),
    "mnist": Question("digit-real", "Which looks more like a real handwritten digit?"),
    "fashion_mnist": Question("clothing-real", "Which looks more like a real photo of clothing?"),
    "cifar10": Question("photo-real", "Which looks more like a real photo?"),
    "shapes": Question("shape-clean", "Which shows one clean shape, with nothing extra?"),
    "facts": Question("sentence-true-fluent", "Which sentence is a true, fluent statement?"),
    "image": Question("image-real", "Which image looks more real?"),
    "text": Question("sentence-fluent", "Which sentence reads more like natural, fluent text?"),
}


def question_for(dataset: str, kind: str) -> Question:
    return QUESTIONS.get(dataset) or QUESTIONS[kind]


@dataclass(frozen=True)
class Sample:
    id: str
    dataset: str
    model: str
    seed: int
    index: int


@dataclass
class Catalog:
    run_id: str
    samples: dict[str, Sample] = field(default_factory=dict)
    images: dict[str, np.ndarray] = field(default_factory=dict)  # id -> uint8 C x H x W
    texts: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # dataset -> image | text
    by_cell: dict[tuple[str, str, int], list[str]] = field(default_factory=dict)  # (dataset, model, seed) -> ids
    skipped: list[str] = field(default_factory=list)  # cells whose sample files are gone

    def models(self, dataset: str) -> list[str]:
        return sorted({m for d, m, _ in self.by_cell if d == dataset})

    def cells(self, dataset: str, model: str) -> list[tuple[str, str, int]]:
        return sorted(k for k in self.by_cell if k[0] == dataset and k[1] == model)

    def datasets(self) -> list[str]:
        """Datasets with at least two models to compare."""
        return [d for d in self.kinds if len(self.models(d)) >= 2]

    def png(self, sample_id: str) -> bytes:
        from PIL import Image

        image = self.images[sample_id]
        array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, format="PNG")
        return buf.getvalue()


def sample_id(salt: str, run_id: str, dataset: str, model: str, seed: int, index: int) -> str:
    message = f"{run_id}\x00{dataset}\x00{model}\x00{seed}\x00{index}".encode("utf-8")
    return hmac.new(salt.encode("ascii"), message, hashlib.sha256).hexdigest()[:16]


def load_catalog(results: dict, salt: str, datasets=None) -> Catalog:
    """The samples of every finished, non-calibration cell of `results` (of `datasets`, if given)."""
    catalog = Catalog(results["run_id"])
    for cell in results["cells"]:
        if cell["status"] != "done" or cell.get("calibration") or (datasets and cell["dataset"] not in datasets):
            continue
        key = (cell["dataset"], cell["model"], int(cell["seed"]))
        folder = Path(cell.get("cell_dir") or "/nonexistent")
        items = _read_cell(folder, cell["kind"])
        if items is None:
            catalog.skipped.append(f"{key[1]}-{key[0]}-s{key[2]}")
            continue
        catalog.kinds[key[0]] = cell["kind"]
        ids = catalog.by_cell.setdefault(key, [])
        for index, item in enumerate(items[:MAX_PER_CELL]):
            sid = sample_id(salt, results["run_id"], *key, index)
            catalog.samples[sid] = Sample(sid, *key, index)
            (catalog.images if cell["kind"] == "image" else catalog.texts)[sid] = item
            ids.append(sid)
    if datasets:
        unknown = sorted(set(datasets) - set(catalog.kinds))
        if unknown:
            raise UserError(f"--datasets: no model samples of {', '.join(unknown)} in run {results['run_id']}")
    if not catalog.datasets():
        raise UserError(f"run {results['run_id']}: no dataset has samples of two models to compare "
                        f"(expected cell folders with samples.npz or samples.txt"
                        + (f"; missing for {', '.join(catalog.skipped)}" if catalog.skipped else "") + ")")
    return catalog


def _read_cell(folder: Path, kind: str):
    if kind == "image":
        path = folder / "samples.npz"
        return load_samples(path) if path.is_file() else None
    path = folder / "samples.txt"
    if not path.is_file():
        return None
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
