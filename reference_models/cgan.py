"""Class-conditional GAN: embedding-conditioned generator, projection discriminator
(Miyato & Koyama 2018), hinge loss and spectral normalisation as in sngan.py.

    G(z, y) = DCGAN generator applied to [z, e(y)]           (e: learned class embedding)
    D(x, y) = ψ(φ(x)) + <v(y), φ(x)>                           (v: learned class embedding)

When the label is a tuple of factors (`factor_sizes`, e.g. the shapes world's shape x colour x
size x position), e and v are sums of one vector per factor value (base.FactorEmbedding), so a
combination held out of training is still a sum of trained vectors; with plain classes they are
ordinary class embeddings.

The projection term is the paper's point: if p(y|x) is log-linear in φ(x), the optimal
discriminator's log-density ratio is exactly a class-independent part ψ(φ(x)) plus an inner
product of φ(x) with a per-class vector. Concatenating y to D's input or a hidden layer (the
earlier practice) leaves that form to be learned, and trained worse in the paper. v is
spectrally normalised like every other D layer.

Training is SNGAN's train_step (sngan.py) with labels: the fakes of each step get the real
batch's labels, so the generator sees the data's class frequencies. sample(n, labels) draws the
requested classes (uniform random ones when labels is None).

DEFAULTS: H and W must be divisible by 4. 16x16 digits need little capacity; 28x28 has 3x the
pixels and 32x32 RGB 12x the values of 16x16 grey, so those get wider networks and larger z.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.utils.parametrizations import spectral_norm

from aigc_eval.errors import UserError

from .base import FactorEmbedding
from .dcgan import Generator
from .sngan import SNGAN, Discriminator, SNGANConfig


@dataclass
class ConditionalGANConfig(SNGANConfig):
    embed_dim: int = 16  # size of the generator's class embedding e(y)


class ConditionalGenerator(Generator):
    def __init__(self, z_dim, embed_dim, factor_sizes, width, image_shape):
        super().__init__(z_dim + embed_dim, width, image_shape)
        self.embed = FactorEmbedding(factor_sizes, embed_dim)

    def forward(self, z, y):
        return super().forward(torch.cat([z, self.embed(y)], 1))


class ProjectionDiscriminator(Discriminator):
    def __init__(self, factor_sizes, width, image_shape):
        super().__init__(width, image_shape)
        self.embed = FactorEmbedding(factor_sizes, self.phi.dim)
        spectral_norm(self.embed.table)

    def forward(self, x, y):
        h = self.phi(x)
        return self.psi(h).squeeze(1) + (self.embed(y) * h).sum(1)


class ConditionalGAN(SNGAN):
    DEFAULTS = {
        (1, 16, 16): ConditionalGANConfig(),
        (1, 28, 28): ConditionalGANConfig(z_dim=64, embed_dim=32, width=64),
        (3, 32, 32): ConditionalGANConfig(z_dim=128, embed_dim=64, width=64),
    }

    conditional = True

    def __init__(self, config: ConditionalGANConfig, image_shape, num_classes: int = 0, factor_sizes=None):
        if num_classes < 1:
            raise UserError(f"model cgan needs a labelled dataset (num_classes >= 1), got {num_classes}")
        super().__init__(config, image_shape, num_classes, factor_sizes)

    def build_networks(self, config, image_shape):
        return (ConditionalGenerator(config.z_dim, config.embed_dim, self.factor_sizes, config.width, image_shape),
                ProjectionDiscriminator(self.factor_sizes, config.width, image_shape))
