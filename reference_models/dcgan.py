"""DCGAN (Radford et al. 2016) with the non-saturating generator loss.

    L_D = BCE(D(x), 1) + BCE(D(G(z)), 0)
    L_G = -log D(G(z))             (non-saturating: BCE(D(G(z)), 1))

Works on 16x16 and 28x28 grey and 32x32 RGB: the generator starts from an (H/4 x W/4) map and
upsamples twice. Default configs per size are in DEFAULTS.
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


# Documented defaults for each supported image size; the 32x32 RGB case needs more capacity.
DEFAULTS = {
    (1, 16, 16): DCGANConfig(),
    (1, 28, 28): DCGANConfig(z_dim=64, width=64),
    (3, 32, 32): DCGANConfig(z_dim=128, width=64),
}


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
    def __init__(self, config: DCGANConfig, image_shape, num_classes: int = 0):
        super().__init__(image_shape, num_classes)
        self.config = config
        self.G = Generator(config.z_dim, config.width, image_shape)
        self.D = Discriminator(config.width, image_shape)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
        if config.ema_decay:
            self.enable_ema(self.G, config.ema_decay)

    def train_step(self, x, y=None):
        x = self.prepare(x) * 2 - 1  # to the generator's tanh range
        n = len(x)
        z = torch.randn(n, self.config.z_dim, device=self.device)
        ones = torch.ones(n, device=self.device)
        zeros = torch.zeros(n, device=self.device)

        # Discriminator: real -> 1, fake -> 0.
        with self.autocast():
            fake = self.G(z)
            loss_d = (F.binary_cross_entropy_with_logits(self.D(x).float(), ones)
                      + F.binary_cross_entropy_with_logits(self.D(fake.detach()).float(), zeros))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        # Generator: non-saturating loss -log D(G(z)).
        with self.autocast(), frozen(self.D):
            loss_g = F.binary_cross_entropy_with_logits(self.D(fake).float(), ones)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.update_ema(self.G)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    def sample(self, n, labels=None, generator=None, batch_size=512):
        G = self.ema if self.ema is not None else self.G
        return self.decode_latents(lambda z, y: (G(z) + 1) / 2, n, self.config.z_dim, labels, generator,
                                   batch_size)
