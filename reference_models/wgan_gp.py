"""WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty.

    L_critic = E[D(G(z))] - E[D(x)] + λ E_x̂[(‖∇_x̂ D(x̂)‖₂ - 1)²],   x̂ = εx + (1-ε)G(z), ε ~ U[0,1]
    L_G      = -E[D(G(z))]

The critic estimates the Wasserstein-1 distance, which needs D to be 1-Lipschitz; the optimal
critic has gradient norm 1 almost everywhere on lines between real and fake points, so the
penalty pulls the norm to 1 exactly there (eq. 3 of the paper). Defaults are the paper's
Algorithm 1: λ = 10, n_critic = 5, Adam(1e-4, β = (0, 0.9)).

One train_step = n_critic critic updates, then one generator update. Each critic update uses the
*whole* given batch again, with fresh z and fresh ε (Algorithm 1 draws a fresh real batch each
time, which the harness's batch cannot give). Repeating keeps the critic batch at the paper's m
(= batch_size) instead of splitting it into m/5 slices, which would make the penalty's
expectation five times noisier; the cost is that the critic sees each real batch 5 times.

The critic has no BatchNorm: the penalty is on the gradient of each D(x̂_i) with respect to its
own input, and BatchNorm would make D(x̂_i) depend on the rest of the batch. The generator is
DCGAN's (dcgan.Generator), as in the paper's DCGAN experiments.

DEFAULTS: H and W must be divisible by 4. 16x16 digits need little capacity; 28x28 has 3x the
pixels and 32x32 RGB 12x the values of 16x16 grey, so those get wider networks and larger z.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import GenerativeModel, frozen
from .dcgan import Generator


@dataclass
class WGANGPConfig:
    z_dim: int = 32
    width: int = 32  # channels of the last generator / first critic block
    lr: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    n_critic: int = 5  # critic updates per generator update
    gp_weight: float = 10.0  # λ
    ema_decay: float = 0.0  # 0 disables the EMA generator


def gradient_penalty(critic, real, fake):
    """E_x̂[(‖∇_x̂ critic(x̂)‖₂ - 1)²] at x̂ = εx + (1-ε)x̃, one ε ~ U[0,1] per pair (without λ)."""
    eps = torch.rand(len(real), 1, 1, 1, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    # create_graph: the penalty is itself differentiated when the critic steps.
    (grad,) = torch.autograd.grad(critic(x_hat).float().sum(), x_hat, create_graph=True)
    return (grad.float().flatten(1).norm(dim=1) - 1).pow(2).mean()


class Critic(nn.Module):
    def __init__(self, width, image_shape):
        super().__init__()
        c, h, w = image_shape
        self.net = nn.Sequential(
            nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * width, 4 * width, 3, 1, 1), nn.LeakyReLU(0.2, True),
            nn.Flatten(), nn.Linear(4 * width * (h // 4) * (w // 4), 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(1)  # unbounded score, not a probability


class WGANGP(GenerativeModel):
    DEFAULTS = {
        (1, 16, 16): WGANGPConfig(),
        (1, 28, 28): WGANGPConfig(z_dim=64, width=64),
        (3, 32, 32): WGANGPConfig(z_dim=128, width=64),
    }

    def __init__(self, config: WGANGPConfig, image_shape, num_classes: int = 0):
        super().__init__(image_shape, num_classes)
        self.config = config
        self.G = Generator(config.z_dim, config.width, image_shape)
        self.D = Critic(config.width, image_shape)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
        if config.ema_decay:
            self.enable_ema(self.G, config.ema_decay)

    def train_step(self, x, y=None):
        x = self.prepare(x) * 2 - 1  # to the generator's tanh range
        n = len(x)

        # Critic: n_critic updates on the same real batch, fresh fakes and ε each time.
        for _ in range(self.config.n_critic):
            z = torch.randn(n, self.config.z_dim, device=self.device)
            with torch.no_grad(), self.autocast():
                fake = self.G(z).float()
            with self.autocast():
                wasserstein = self.D(x).float().mean() - self.D(fake).float().mean()
                gp = gradient_penalty(self.D, x, fake)
            loss_d = -wasserstein + self.config.gp_weight * gp
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()

        # Generator: raise the critic's score of fresh fakes.
        z = torch.randn(n, self.config.z_dim, device=self.device)
        with self.autocast(), frozen(self.D):
            loss_g = -self.D(self.G(z)).float().mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.update_ema(self.G)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
                "wasserstein": wasserstein.item(), "gp": gp.item()}

    def sample(self, n, labels=None, generator=None, batch_size=512):
        G = self.ema if self.ema is not None else self.G
        return self.decode_latents(lambda z, y: (G(z) + 1) / 2, n, self.config.z_dim, labels, generator,
                                   batch_size)
