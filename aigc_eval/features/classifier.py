"""The suite's own feature extractor: a small CNN classifier trained per dataset.

Inception weights cannot be downloaded here, so FD is computed on the penultimate layer of a
domain classifier (the accepted practice for MNIST-like data). Training is seeded and
deterministic; the weights are cached under a hash of (dataset content, config), and the hash of
the weights themselves goes into every signature.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from ..atomic import save_with, write_json
from ..errors import UserError
from ..runtime import array_hash, stable_hash
from .extractor import FeatureExtractor, cache_dir


@dataclass
class ClassifierConfig:
    width: int = 32
    feature_dim: int = 128
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0


class DomainCNN(nn.Module):
    """uint8 images in, (features, logits) out. Features are the 128-d penultimate layer."""

    def __init__(self, image_shape, num_classes, width=32, feature_dim=128):
        super().__init__()
        c, h, w = image_shape
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x_uint8):
        x = x_uint8.float() / 127.5 - 1.0
        f = self.body(x)
        return f, self.head(f)


def _train(model: DomainCNN, x: np.ndarray, y: np.ndarray, cfg: ClassifierConfig) -> None:
    g = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y).long()
    model.train()
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(xs), generator=g)
        for i in range(0, len(xs), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            loss = F.cross_entropy(model(xs[idx])[1], ys[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()


@torch.no_grad()
def _accuracy(model, x, y) -> float:
    logits = torch.cat([model(torch.from_numpy(x[i:i + 500]))[1] for i in range(0, len(x), 500)])
    return float((logits.argmax(1).numpy() == y).mean())


def cached_training(model: nn.Module, path: Path, train, cfg) -> dict:
    """Load `model`'s weights from `path` (safetensors, with a .json of metadata beside it) or, when
    absent, run train() -> metadata and save both atomically. Returns the metadata with the training
    time, config, weights path, and `trained_now`."""
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        model.load_state_dict(load_file(str(path)))
        return {**json.loads(meta_path.read_text()), "weights_path": str(path), "trained_now": False}
    t0 = time.perf_counter()
    meta = {**train(), "train_seconds": round(time.perf_counter() - t0, 2), "config": asdict(cfg)}
    model.eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_with(path, lambda tmp: save_file(state, tmp))
    write_json(meta_path, meta)
    return {**meta, "weights_path": str(path), "trained_now": True}


def classifier_extractor(dataset, cfg: ClassifierConfig | None = None, device: str = "cpu",
                         log=print) -> FeatureExtractor:
    """Train (or load from cache) the domain classifier of `dataset` and wrap it as an extractor."""
    cfg = cfg or ClassifierConfig()
    if len(dataset.train_x) == 0:
        raise UserError(f"domain-cnn: trains on the reference's labelled images, and {dataset.name} has none here "
                        "(statistics of images given in memory cannot rebuild it: use random-cnn, or a dataset "
                        "or folder reference)")
    key = stable_hash({"data": dataset.fingerprint(), "cfg": asdict(cfg), "arch": "DomainCNN-v1"})
    model = DomainCNN(dataset.image_shape, dataset.num_classes, cfg.width, cfg.feature_dim)

    def train() -> dict:
        torch.manual_seed(cfg.seed)  # the seeded initial weights, then training
        seeded = DomainCNN(dataset.image_shape, dataset.num_classes, cfg.width, cfg.feature_dim)
        model.load_state_dict(seeded.state_dict())
        _train(model, dataset.train_x, dataset.train_y, cfg)
        return {"test_accuracy": _accuracy(model, dataset.test_x, dataset.test_y)}

    meta = cached_training(model, cache_dir() / "extractors" / f"{dataset.name}-cnn-{key}.safetensors", train, cfg)
    if meta.pop("trained_now"):
        log(f"trained {dataset.name}-cnn: held-out accuracy {meta['test_accuracy']:.4f} "
            f"({meta['train_seconds']}s)")
    weights_hash = array_hash(*[v.numpy() for _, v in sorted(model.state_dict().items())])
    return FeatureExtractor(f"{dataset.name}-cnn", weights_hash, model, metric_name=f"fd_{dataset.name}-cnn",
                            device=device, info=meta)
