"""Conditional sentence VAE: the sentence VAE with a learned label embedding c = E[y] appended to
the encoder's final state (q(z | x, y)) and to z before the decoder's initial state (p(x | z, y)).

sample(n, labels) writes sentences of the requested classes; reconstruct(sentences, labels) and
nll(sentences, labels) need the true labels. Everything else is sentence_vae.py's.
"""
from __future__ import annotations

from .sentence_vae import SentenceVAE, SentenceVAEConfig


class ConditionalSentenceVAE(SentenceVAE):
    DEFAULTS = {"text": SentenceVAEConfig()}

    conditional = True
