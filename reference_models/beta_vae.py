"""β-VAE (Higgins et al. 2017): the VAE of vae.py with the KL term weighted by β > 1.

    loss = E_q[-log p(x|z)] + β · KL(q(z|x) || N(0, I))

A larger β pushes the posterior towards the prior: less information in z, blurrier
reconstructions, and (the paper's point) more disentangled latents. Only the objective changes,
so the model is vae.VAE with another default; `elbo()` still reports the true (β = 1) bound, so
β-VAEs and VAEs compare on it.

DEFAULTS follow vae.py: 16x16 digits need little capacity; 28x28 has 3x the pixels and 32x32
RGB 12x the values of 16x16 grey, so those get wider networks and larger latents.
"""
from __future__ import annotations

from dataclasses import dataclass

from .vae import VAE, VAEConfig


@dataclass
class BetaVAEConfig(VAEConfig):
    beta: float = 4.0  # Higgins et al. use β = 4 on dSprites-like data


class BetaVAE(VAE):
    """vae.VAE trained with β = config.beta; nothing else differs."""

    DEFAULTS = {
        (1, 16, 16): BetaVAEConfig(),
        (1, 28, 28): BetaVAEConfig(z_dim=32, width=64),
        (3, 32, 32): BetaVAEConfig(z_dim=128, width=64),
    }

