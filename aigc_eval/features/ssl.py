"""`ssl-cnn`: a small self-supervised contrastive extractor for references without labels.

A one-class "domain classifier" learns nothing (its held-out accuracy is trivially 1.0 and its
features are close to random), so a reference without labels trains this instead: the domain
CNN's body with a projection head, by SimCLR's NT-Xent loss (Chen et al. 2020) on two augmented
views of each image. The augmentations are the ones a feature must ignore to compare images by
content: random crops with up to `shift` pixels of translation, and small brightness and contrast
changes. Blur and noise are deliberately *not* among them, so that the features stay sensitive to
exactly the degradations FD must see (the unlabelled diagnostic checks that ordering).

Seeded and deterministic on the CPU; cached under $AIGC_EVAL_CACHE/extractors by a hash of the
images and the config; the weights hash is in every signature (`ext:ssl-cnn@...`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from ..runtime import array_hash, stable_hash
from .classifier import ClassifierConfig, DomainCNN, cached_training
from .extractor import FeatureExtractor, cache_dir


@dataclass
class ContrastiveConfig(ClassifierConfig):
    """The domain classifier's settings, with contrastive training's own."""

    epochs: int = 30
    batch_size: int = 128
    projection_dim: int = 64
    temperature: float = 0.2
    shift: int = 2  # pixels of random translation per view
    jitter: float = 0.2  # brightness and contrast change, at most this fraction


def augment(x: torch.Tensor, cfg: ContrastiveConfig, g: torch.Generator) -> torch.Tensor:
    """A random view of float images in [-1, 1] (B x C x H x W): shifted by up to cfg.shift pixels
    (reflection padding), then contrast and brightness jittered by up to cfg.jitter."""
    b, c, h, w = x.shape
    s = cfg.shift
    padded = F.pad(x, (s, s, s, s), mode="reflect")
    dy = torch.randint(0, 2 * s + 1, (b,), generator=g)
    dx = torch.randint(0, 2 * s + 1, (b,), generator=g)
    # view[b, c, i, j] = padded[b, c, dy_b + i, dx_b + j]: rows, then columns
    rows = (dy[:, None] + torch.arange(h)[None])[:, None, :, None].expand(-1, c, -1, w + 2 * s)
    cols = (dx[:, None] + torch.arange(w)[None])[:, None, None, :].expand(-1, c, h, -1)
    view = padded.gather(2, rows).gather(3, cols)
    contrast = 1 + (torch.rand(b, 1, 1, 1, generator=g) * 2 - 1) * cfg.jitter
    brightness = (torch.rand(b, 1, 1, 1, generator=g) * 2 - 1) * cfg.jitter
    mean = view.mean(dim=(1, 2, 3), keepdim=True)
    return ((view - mean) * contrast + mean + brightness).clamp(-1, 1)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss: each view's positive is the other view of its image, the 2B - 2 others negatives."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    b = len(z1)
    targets = torch.cat([torch.arange(b, 2 * b), torch.arange(b)])
    return F.cross_entropy(sim, targets)


class ContrastiveCNN(nn.Module):
    """The domain CNN's body (uint8 in, 128-d features out) and a projection head for the loss."""

    def __init__(self, image_shape, cfg: ContrastiveConfig):
        super().__init__()
        self.net = DomainCNN(image_shape, 1, cfg.width, cfg.feature_dim)  # its 1-logit head is unused
        self.projection = nn.Sequential(nn.Linear(cfg.feature_dim, cfg.feature_dim), nn.ReLU(),
                                        nn.Linear(cfg.feature_dim, cfg.projection_dim))

    def project(self, x_float):
        return self.projection(self.net.body(x_float))

    def forward(self, x_uint8):
        return self.net(x_uint8)


def _train(model: ContrastiveCNN, images: np.ndarray, cfg: ContrastiveConfig) -> float:
    g = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    x = torch.from_numpy(images).float() / 127.5 - 1.0
    batch = min(cfg.batch_size, len(x))
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - batch + 1, batch):  # full batches only: the loss needs negatives
            xb = x[perm[i:i + batch]]
            loss = nt_xent(model.project(augment(xb, cfg, g)), model.project(augment(xb, cfg, g)), cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    return float(loss.detach())


def ssl_extractor(dataset, device: str = "cpu", log=print, cfg: ContrastiveConfig | None = None) -> FeatureExtractor:
    """Train (or load from cache) the contrastive CNN on every image of `dataset` (labels unused)."""
    cfg = cfg or ContrastiveConfig()
    images = np.concatenate([dataset.train_x, dataset.test_x])
    if len(images) < 8:
        raise UserError(f"ssl-cnn: trains on the reference's images and needs at least 8, {dataset.name} has "
                        f"{len(images)}")
    cfg.batch_size = min(cfg.batch_size, len(images))
    key = stable_hash({"data": array_hash(images), "cfg": asdict(cfg), "arch": "ContrastiveCNN-v1"})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = ContrastiveCNN(dataset.image_shape, cfg)

    def train() -> dict:
        final_loss = _train(model, images, cfg)
        return {"trained_on": len(images), "final_loss": round(final_loss, 4)}

    meta = cached_training(model, cache_dir() / "extractors" / f"ssl-cnn-{key}.safetensors", train, cfg)
    if meta.pop("trained_now"):
        log(f"trained ssl-cnn on {len(images)} unlabelled images ({meta['train_seconds']}s, NT-Xent "
            f"{meta['final_loss']})")
    weights_hash = array_hash(*[v.numpy() for _, v in sorted(model.state_dict().items())])
    return FeatureExtractor("ssl-cnn", weights_hash, model, metric_name="fd_ssl-cnn", device=device,
                            info=meta)
