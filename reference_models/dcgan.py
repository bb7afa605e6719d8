"""DCGAN (Radford et al. 2016) with the non-saturating generator loss.

    L_D = BCE(D(x), 1) + BCE(D(G(z)), 0)
    L_G = -log D(G(z))             (non-saturating: BCE(D(G(z)), 1))

Works on 16x16 and 28x28 grey and 32x32 RGB: the generator starts from an (H/4 x W/4) map and
upsamples twice. Default configs per size are in DEFAULTS.

Two settings beyond the paper, both measured (bench/test_bench_time_to_quality.py and a sweep on
`shapes`, 1 thread, batch 64, seed 0):
- instance noise (Sønderby et al. 2017): Gaussian noise of std `instance_noise` (in the [-1, 1]
  range) is added to every image the discriminator sees, real and fake. The shapes world's real
  images carry pixel noise of std 6/255; without instance noise the discriminator keys on that
  texture and the generator answers with speckle and multi-coloured blobs. With 0.1 the
  backgrounds go flat and each blob takes one palette colour (FD_shapes-cnn after 3,000 steps:
  282 without, 280 with; by eye the difference is large). On digits it costs nothing
  (FD_digits-cnn at 1,500 steps: 36.8 without, 37.0 with).
- an EMA generator (decay 0.99, a ~100-step horizon) for sampling, which smooths the step-to-step
  oscillation of the generator. A 0.999 horizon is longer than the CPU budgets' whole run.
Tried and rejected on the same sweep: learning rate 5e-4 or 1e-3 (unstable), TTUR (D 4e-4, G 1e-4,
hinge loss), no BatchNorm in the discriminator (much worse: FD 991 at 2,000 steps vs 371), a 2x
wider discriminator, a 1.5x wider generator (2.2x the CPU time, no better by 1,000 steps), and
sampling with batch statistics instead of BatchNorm's running ones (no visible difference).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import GenerativeModel, frozen


@dataclass
class DCGANConfig:
    z_dim: int = 32
    width: int = 32  # channels of the last generator / first discriminator block
    lr: float = 2e-4
    beta1: float = 0.5
    ema_decay: float = 0.0  # 0 disables the EMA generator
    instance_noise: float = 0.0  # std of the noise added to the discriminator's inputs ([-1, 1] range)


class Generator(nn.Module):
    def __init__(self, z_dim, width, image_shape):
        super().__init__()
        c, h, w = image_shape
        self.base = (h // 4, w // 4)
        self.fc = nn.Linear(z_dim, 4 * width * self.base[0] * self.base[1])
        self.net = nn.Sequential(
            nn.BatchNorm2d(4 * width), nn.ReLU(True),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.ReLU(True),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.Conv2d(width, c, 3, 1, 1), nn.Tanh(),
        )

    def forward(self, z, y=None):  # y is ignored: unconditional (cgan.py's subclass uses it)
        return self.net(self.fc(z).view(len(z), -1, *self.base))


class Discriminator(nn.Module):
    def __init__(self, width, image_shape):
        super().__init__()
        c, h, w = image_shape
        self.net = nn.Sequential(
            nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2, True),
            nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(1)  # logits


class DCGAN(GenerativeModel):
    # Documented defaults for each supported image size; the 32x32 RGB case needs more capacity.
    # 16x16 (digits, shapes) was measured as the module docstring says; 28x28 and 32x32 were not.
    DEFAULTS = {
        (1, 16, 16): DCGANConfig(ema_decay=0.99, instance_noise=0.1),
        (1, 28, 28): DCGANConfig(z_dim=64, width=64),
        (3, 32, 32): DCGANConfig(z_dim=128, width=64),
    }

    def __init__(self, config: DCGANConfig, image_shape, num_classes: int = 0):
        super().__init__(image_shape, num_classes)
        self.config = config
        self.G = Generator(config.z_dim, config.width, image_shape)
        self.D = Discriminator(config.width, image_shape)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
        if config.ema_decay:
            self.enable_ema(self.G, config.ema_decay)

    def noisy(self, images):
        """What the discriminator sees: images plus instance noise (none when instance_noise is 0)."""
        if not self.config.instance_noise:
            return images
        return images + self.config.instance_noise * torch.randn_like(images)

    def train_step(self, x, y=None):
        x = self.prepare(x) * 2 - 1  # to the generator's tanh range
        n = len(x)
        z = torch.randn(n, self.config.z_dim, device=self.device)
        ones = torch.ones(n, device=self.device)
        zeros = torch.zeros(n, device=self.device)

        # Discriminator: real -> 1, fake -> 0.
        with self.autocast():
            fake = self.G(z)
            loss_d = (F.binary_cross_entropy_with_logits(self.D(self.noisy(x)).float(), ones)
                      + F.binary_cross_entropy_with_logits(self.D(self.noisy(fake.detach())).float(), zeros))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        # Generator: non-saturating loss -log D(G(z)).
        with self.autocast(), frozen(self.D):
            loss_g = F.binary_cross_entropy_with_logits(self.D(self.noisy(fake)).float(), ones)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.update_ema(self.G)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    def sample(self, n, labels=None, generator=None, batch_size=512):
        G = self.ema if self.ema is not None else self.G
        return self.decode_latents(lambda z, y: (G(z) + 1) / 2, n, self.config.z_dim, labels, generator,
                                   batch_size)
