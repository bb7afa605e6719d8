"""Text GAN with a Gumbel-softmax generator (Kusner & Hernández-Lobato 2016; Nie et al. 2019, RelGAN).

    G:  z -> tanh(W z) = initial GRU state; each step's output y_t = softmax((logits_t + g) / tau),
        g ~ Gumbel, is fed (as y_t @ Embedding) to the next step: a differentiable soft sentence
    D:  a CNN over (soft) one-hot sentences: filters of widths 2, 3, 4, max-pooled over time
    L_D = BCE(D(real), 1) + BCE(D(G(z)), 0);   L_G = BCE(D(G(z)), 1)   (non-saturating)

Soft sentences are as long as the longest real sentence of the batch (+ EOS). Once G has put
mass on EOS, the rest of its sentence is blended into PAD by the probability of having ended,
so that real and generated sentences pad the same way.

The first `pretrain_steps` calls train G by maximum likelihood (teacher forcing, its own Adam
with lr_mle) while D already learns to tell its samples apart; adversarial updates of G start
after. Every step reports the same keys: loss_mle (the batch's teacher-forced NLL per token,
trained on only in pre-training), loss_d, and loss_g (in pre-training measured, not trained on).

There is no likelihood: p(x) = E_z[p(x | z)] is intractable, and the adversarial phase does not
optimise it. nll() therefore returns None, and the NLL metric reports nothing for this model.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .text_base import BOS, EOS, PAD, RNNDecoder, TextGenerativeModel, token_nll


@dataclass
class TextGANConfig:
    z_dim: int = 16
    emb_dim: int = 64
    hidden: int = 128
    d_emb_dim: int = 64
    d_filters: int = 64  # per filter width
    d_widths: tuple = (2, 3, 4)
    gumbel_tau: float = 0.1  # near one-hot; at 1.0 G collapsed to ~50 distinct sentences (of 500) on facts
    pretrain_steps: int = 150
    lr_mle: float = 3e-3  # pre-training
    lr_g: float = 1e-4  # adversarial phase
    lr_d: float = 5e-4  # at 1e-4 D stayed at chance (loss_d ~ 2 ln 2) through 250 adversarial steps
    beta1: float = 0.5
    grad_clip: float = 1.0
    max_len: int = 40


class Discriminator(nn.Module):
    def __init__(self, vocab_size, emb_dim, filters, widths):
        super().__init__()
        self.emb = nn.Linear(vocab_size, emb_dim, bias=False)  # one-hot @ W: takes soft tokens too
        self.convs = nn.ModuleList(nn.Conv1d(emb_dim, filters, w, padding=w - 1) for w in widths)
        self.fc = nn.Linear(filters * len(widths), 1)

    def forward(self, onehot):  # B x L x V
        h = self.emb(onehot).transpose(1, 2)
        feats = [F.leaky_relu(conv(h), 0.2).amax(2) for conv in self.convs]
        return self.fc(torch.cat(feats, 1)).squeeze(1)  # logits


class TextGAN(TextGenerativeModel):
    DEFAULTS = {"text": TextGANConfig()}

    def __init__(self, config: TextGANConfig, vocab, num_classes: int = 0):
        super().__init__(vocab, num_classes, config.max_len)
        self.config = config
        self.G = RNNDecoder(len(vocab), config.emb_dim, config.hidden)
        self.to_state = nn.Linear(config.z_dim, config.hidden)
        self.D = Discriminator(len(vocab), config.d_emb_dim, config.d_filters, config.d_widths)
        betas = (config.beta1, 0.999)
        generator_params = [*self.G.parameters(), *self.to_state.parameters()]
        self.opt_mle = torch.optim.Adam(generator_params, config.lr_mle)
        self.opt_g = torch.optim.Adam(generator_params, config.lr_g, betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), config.lr_d, betas)

    def initial_state(self, z):
        return torch.tanh(self.to_state(z))[None]

    def soft_sentences(self, n: int, length: int) -> torch.Tensor:
        """n x length x V relaxed one-hot sentences from the generator, PAD after EOS."""
        state = self.initial_state(torch.randn(n, self.config.z_dim, device=self.device))
        inp = self.G.emb(torch.full((n, 1), BOS, dtype=torch.long, device=self.device))
        alive = torch.ones(n, 1, device=self.device)  # probability that EOS has not been emitted yet
        pad = F.one_hot(torch.tensor(PAD, device=self.device), len(self.vocab)).float()
        out = []
        for _ in range(length):
            logits, state = self.G.forward_embedded(inp, state)
            y = F.gumbel_softmax(logits[:, 0].float(), tau=self.config.gumbel_tau)
            out.append(alive * y + (1 - alive) * pad)
            alive = alive * (1 - y[:, EOS:EOS + 1])
            inp = (y @ self.G.emb.weight)[:, None]
        return torch.stack(out, 1)

    def train_step(self, sentences, y=None):
        x = self.encode(sentences)
        real = F.one_hot(x[:, 1:], len(self.vocab)).float()  # words, EOS, PAD
        n, ones, zeros = len(x), torch.ones(len(x), device=self.device), torch.zeros(len(x), device=self.device)
        pretraining = self.steps_done < self.config.pretrain_steps
        with torch.set_grad_enabled(not pretraining):  # G learns from D only after pre-training
            fake = self.soft_sentences(n, real.shape[1])

        # Discriminator: real -> 1, generated -> 0.
        d_fake = self.D(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(self.D(real), ones) + \
            F.binary_cross_entropy_with_logits(d_fake, zeros)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        # Generator: maximum likelihood while pre-training, then the non-saturating GAN loss.
        with torch.set_grad_enabled(pretraining):
            logits, _ = self.G(x[:, :-1], self.initial_state(torch.randn(n, self.config.z_dim, device=self.device)))
            loss_mle = token_nll(logits, x[:, 1:]).sum() / (x[:, 1:] != PAD).sum()
        if pretraining:
            loss_g, objective, opt = F.binary_cross_entropy_with_logits(d_fake.detach(), ones), loss_mle, self.opt_mle
        else:
            loss_g = objective = F.binary_cross_entropy_with_logits(self.D(fake), ones)
            opt = self.opt_g
        opt.zero_grad(set_to_none=True)
        objective.backward()
        torch.nn.utils.clip_grad_norm_(opt.param_groups[0]["params"], self.config.grad_clip)
        opt.step()
        self.steps_done += 1
        return {"loss_mle": loss_mle.item(), "loss_d": loss_d.item(), "loss_g": loss_g.item()}

    def generate_ids(self, n, labels, temperature, generator):
        z = torch.randn(n, self.config.z_dim, generator=generator).to(self.device)
        return self.G.generate(self.initial_state(z), n, self.max_len, temperature, generator, self.device)

    def nll(self, sentences, labels=None, batch_size: int = 256):
        """None: a GAN has no tractable likelihood (see the module docstring)."""
        return None
