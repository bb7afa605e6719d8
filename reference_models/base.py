"""The interface every reference model shares (aigc_eval.models.TrainableModel), in the scikit-learn spirit:

    model = DCGAN(DCGAN.DEFAULTS[(1, 16, 16)], image_shape=(1, 16, 16), num_classes=10)
    model.fit(x, y, steps=500)              # or model.train_step(x_batch, y_batch) in a custom loop
    imgs = model.sample(64, labels=None)    # uint8 N x C x H x W on the CPU
    # VAEs also have model.reconstruct(x) and model.elbo(x)

Images go into train_step as float tensors in [0, 1]; each model rescales as it needs.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from torch import nn


def to_uint8(x01: torch.Tensor) -> torch.Tensor:
    return (x01.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def check_factor_sizes(num_classes: int, factor_sizes) -> tuple[int, ...]:
    """The label's factors: a label is the row-major index of a factor tuple (np.ravel_multi_index).

    Without factors a label is one factor of num_classes values. The shapes world's 360 labels are
    (shape, colour, size, position) = 4 x 5 x 2 x 9.
    """
    if factor_sizes is None:
        return (num_classes,) if num_classes else ()
    sizes = tuple(int(s) for s in factor_sizes)
    if not sizes or min(sizes) < 1 or int(np.prod(sizes)) != num_classes:
        raise ValueError(f"factor_sizes {sizes} must be positive and multiply to num_classes={num_classes}")
    return sizes


def factor_rows(labels: torch.Tensor, factor_sizes: tuple[int, ...]) -> torch.Tensor:
    """N x F rows of a table that holds one row per factor value, factor after factor: each
    label is split into its factor indices like np.unravel_index (last factor fastest)."""
    factors = []
    for size in reversed(factor_sizes):
        factors.append(labels % size)
        labels = labels // size
    offsets = np.concatenate([[0], np.cumsum(factor_sizes)[:-1]])
    return torch.stack(factors[::-1], 1) + torch.as_tensor(offsets, device=labels.device)


class FactorEmbedding(nn.Module):
    """e(y) = sum over factors f of E_f[y_f]: one learned vector per factor value.

    With one factor this is an ordinary class embedding. With several, a combination that training
    never showed (the shapes world holds red triangles out) still gets an embedding made of trained
    parts, so a conditional model can be asked for it: compositional generalisation is testable.
    """

    def __init__(self, factor_sizes: tuple[int, ...], dim: int):
        super().__init__()
        self.factor_sizes = tuple(factor_sizes)
        self.table = nn.Embedding(sum(self.factor_sizes), dim)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.table(factor_rows(labels, self.factor_sizes)).sum(1)


@contextmanager
def frozen(module: nn.Module):
    """Build graphs through `module` without gradients for its weights: for the discriminator
    during the generator step, whose weight gradients would only be thrown away (skipping them
    saved 14% of CPU time per cGAN step at 16x16, measured with time.thread_time)."""
    module.requires_grad_(False)
    try:
        yield module
    finally:
        module.requires_grad_(True)


class GenerativeModel(nn.Module):
    """Base of the image models; subclasses set DEFAULTS and implement train_step and sample."""

    kind = "image"
    conditional = False  # True when sample() honours `labels`
    calibration = False
    DEFAULTS: dict = {}  # data shape (C, H, W) -> the documented default config

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int = 0, factor_sizes=None):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.factor_sizes = check_factor_sizes(num_classes, factor_sizes)
        self.device = torch.device("cpu")
        self.amp = False
        self.channels_last = False
        self.ema: nn.Module | None = None

    # -- set-up -------------------------------------------------------------------------
    def setup(self, device: str = "cpu", amp: bool = False, channels_last: bool = False, compile: bool = False):
        """Move to `device`. bf16 autocast and channels_last are used only on CUDA. `compile` wraps
        each network's forward in torch.compile in place (state_dict keys, and so checkpoints, stay the same)."""
        self.device = torch.device(device)
        self.amp = amp and self.device.type == "cuda"
        self.channels_last = channels_last and self.device.type == "cuda"
        self.to(self.device)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        if compile:
            for network in self.children():
                network.compile()
        return self

    def autocast(self):
        if not self.amp:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def enable_ema(self, module: nn.Module, decay: float) -> None:
        """Keep an exponential moving average of `module` (the generator) for sampling."""
        self.ema_decay = decay
        self.ema = copy.deepcopy(module).requires_grad_(False)

    @torch.no_grad()
    def update_ema(self, module: nn.Module) -> None:
        if self.ema is None:
            return
        for e, p in zip(self.ema.parameters(), module.parameters()):
            e.lerp_(p, 1.0 - self.ema_decay)
        for e, b in zip(self.ema.buffers(), module.buffers()):
            e.copy_(b)

    # -- the interface --------------------------------------------------------------------
    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, float]:
        raise NotImplementedError

    def sample(self, n: int, labels=None, generator: torch.Generator | None = None,
               batch_size: int = 512) -> torch.Tensor:
        raise NotImplementedError

    def fit(self, x, y=None, steps: int = 1000, batch_size: int = 64, seed: int = 0):
        """Plain training loop over uint8 or [0,1] arrays; returns the per-step losses.

        (The harness runs its own loop with checkpoints; this one is for direct use.)
        """
        xs = torch.as_tensor(np.asarray(x))
        xs = xs.float() / 255.0 if xs.dtype == torch.uint8 else xs.float()
        ys = None if y is None else torch.as_tensor(np.asarray(y)).long()
        rng = np.random.default_rng(seed)
        history = []
        for _ in range(steps):
            idx = torch.from_numpy(rng.integers(0, len(xs), batch_size))
            history.append(self.train_step(xs[idx], None if ys is None else ys[idx]))
        return history

    def _labels_for(self, n: int, labels, generator) -> torch.Tensor | None:
        """Requested labels as a LongTensor, or uniformly random ones for conditional models."""
        if labels is not None:
            labels = torch.as_tensor(np.asarray(labels)).long().reshape(-1)
            if len(labels) != n:
                raise ValueError(f"sample: {n} samples but {len(labels)} labels")
            return self.check_labels(labels) if self.conditional else labels
        if self.conditional and self.num_classes:
            return torch.randint(0, self.num_classes, (n,), generator=generator)
        return None

    def check_labels(self, labels) -> torch.Tensor:
        """Labels of a conditional model: ints in [0, num_classes), on the model's device."""
        if labels is None:
            raise ValueError(f"{type(self).__name__} is conditional: pass the class labels")
        labels = torch.as_tensor(labels).long()
        if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"{type(self).__name__}: labels must lie in [0, {self.num_classes}), "
                             f"got {labels.min().item()}..{labels.max().item()}")
        return labels.to(self.device)

    @torch.no_grad()
    def decode_latents(self, decode, n: int, z_dim: int, labels, generator, batch_size: int) -> torch.Tensor:
        """sample() of every model here: `decode(z, labels)` -> [0,1] images, for z ~ N(0, I).

        Labels, then z, are drawn on the CPU from `generator`, so a seeded generator gives the
        same latents on every device. Runs in eval mode (BatchNorm running statistics).
        """
        labels = self._labels_for(n, labels, generator)
        was_training = self.training
        self.eval()
        out = []
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            z = torch.randn(m, z_dim, generator=generator).to(self.device)
            y = None if labels is None else labels[start:start + m].to(self.device)
            with self.autocast():
                out.append(to_uint8(decode(z, y).float()))
        self.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, *self.image_shape, dtype=torch.uint8)

    # -- checkpoints: plain tensors and numbers only, loadable with weights_only=True ---------
    def checkpoint_state(self) -> dict:
        return {"model": self.state_dict(),
                "optimizers": {k: opt.state_dict() for k, opt in self.optimizers().items()}}

    def load_checkpoint_state(self, state: dict) -> None:
        self.load_state_dict(state["model"])
        for k, opt in self.optimizers().items():
            opt.load_state_dict(state["optimizers"][k])

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.optim.Optimizer)}
