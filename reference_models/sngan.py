"""SN-GAN (Miyato et al. 2018): spectral normalisation on every discriminator layer, hinge loss.

    L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]
    L_G = -E[D(G(z))]

Dividing each weight by its largest singular value (one power iteration per training forward,
`torch.nn.utils.parametrizations.spectral_norm`) bounds every layer's Lipschitz constant by 1,
so the discriminator cannot sharpen without limit. That is what lets the cheap settings below
(lr 2e-4, one D step per G step) train stably where an unnormalised DCGAN needs tuning.

The generator is DCGAN's (dcgan.Generator). The discriminator is Miyato's "standard CNN" cut to
two downsamplings (H/4, as the generator's base map): 3x3 conv, then 4x4 stride-2 conv per scale,
LeakyReLU(0.1), no BatchNorm. It is split into features φ(x) and a linear head ψ so that the
projection discriminator in cgan.py can reuse φ.

DEFAULTS: H and W must be divisible by 4. 16x16 digits need little capacity; 28x28 has 3x the
pixels and 32x32 RGB 12x the values of 16x16 grey, so those get wider networks and larger z.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .base import GenerativeModel, frozen
from .dcgan import Generator


@dataclass
class SNGANConfig:
    z_dim: int = 32
    width: int = 32  # channels of the last generator / first discriminator block
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_dis: int = 1  # discriminator updates per generator update
    ema_decay: float = 0.0  # 0 disables the EMA generator


def hinge_loss_d(real_logits, fake_logits):
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_loss_g(fake_logits):
    return -fake_logits.mean()


class Features(nn.Module):
    """φ(x): spectrally normalised conv trunk, flattened."""

    def __init__(self, width, image_shape):
        super().__init__()
        c, h, w = image_shape
        self.net = nn.Sequential(
            spectral_norm(nn.Conv2d(c, width, 3, 1, 1)), nn.LeakyReLU(0.1, True),
            spectral_norm(nn.Conv2d(width, width, 4, 2, 1)), nn.LeakyReLU(0.1, True),
            spectral_norm(nn.Conv2d(width, 2 * width, 3, 1, 1)), nn.LeakyReLU(0.1, True),
            spectral_norm(nn.Conv2d(2 * width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.1, True),
            spectral_norm(nn.Conv2d(2 * width, 4 * width, 3, 1, 1)), nn.LeakyReLU(0.1, True),
            nn.Flatten(),
        )
        self.dim = 4 * width * (h // 4) * (w // 4)

    def forward(self, x):
        return self.net(x)


class Discriminator(nn.Module):
    def __init__(self, width, image_shape):
        super().__init__()
        self.phi = Features(width, image_shape)
        self.psi = spectral_norm(nn.Linear(self.phi.dim, 1))

    def forward(self, x, y=None):  # y is ignored: unconditional (cgan.py's subclass uses it)
        return self.psi(self.phi(x)).squeeze(1)  # unbounded score, not a probability


class SNGAN(GenerativeModel):
    DEFAULTS = {
        (1, 16, 16): SNGANConfig(),
        (1, 28, 28): SNGANConfig(z_dim=64, width=64),
        (3, 32, 32): SNGANConfig(z_dim=128, width=64),
    }

    def __init__(self, config: SNGANConfig, image_shape, num_classes: int = 0, factor_sizes=None):
        super().__init__(image_shape, num_classes, factor_sizes)
        self.config = config
        self.G, self.D = self.build_networks(config, image_shape)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
        if config.ema_decay:
            self.enable_ema(self.G, config.ema_decay)

    def build_networks(self, config, image_shape):
        return Generator(config.z_dim, config.width, image_shape), Discriminator(config.width, image_shape)

    def train_step(self, x, y=None):
        x = self.prepare(x) * 2 - 1  # to the generator's tanh range
        y = self.check_labels(y) if self.conditional else None  # fakes get the real batch's labels
        n = len(x)

        # Discriminator: hinge loss pushes real scores above +1 and fake scores below -1.
        for _ in range(self.config.n_dis):
            z = torch.randn(n, self.config.z_dim, device=self.device)
            with torch.no_grad(), self.autocast():
                fake = self.G(z, y)
            with self.autocast():
                loss_d = hinge_loss_d(self.D(x, y).float(), self.D(fake, y).float())
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()

        # Generator: raise the discriminator's score of fresh fakes.
        z = torch.randn(n, self.config.z_dim, device=self.device)
        with self.autocast(), frozen(self.D):
            loss_g = hinge_loss_g(self.D(self.G(z, y), y).float())
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.update_ema(self.G)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    def sample(self, n, labels=None, generator=None, batch_size=512):
        G = self.ema if self.ema is not None else self.G
        return self.decode_latents(lambda z, y: (G(z, y) + 1) / 2, n, self.config.z_dim, labels, generator,
                                   batch_size)
