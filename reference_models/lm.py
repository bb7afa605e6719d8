"""Recurrent language model: the maximum-likelihood baseline of the text track.

    p(w_1..w_T, EOS) = prod_t p(w_t | w_<t)          one GRU (or LSTM) over the words
    loss = -log p / (T + 1)                          nats per token, teacher forcing

Its nll() is exact: the mean over test tokens of -log p(w_t | w_<t), EOS included.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .text_base import PAD, RNNDecoder, TextGenerativeModel, token_nll


@dataclass
class LMConfig:
    cell: str = "gru"  # or "lstm"
    emb_dim: int = 64
    hidden: int = 128
    layers: int = 1
    dropout: float = 0.0
    lr: float = 3e-3
    grad_clip: float = 1.0
    max_len: int = 40  # tokens per sentence, in training (longer ones are cut) and in sampling


class LanguageModel(TextGenerativeModel):
    DEFAULTS = {"text": LMConfig()}

    def __init__(self, config: LMConfig, vocab, num_classes: int = 0):
        super().__init__(vocab, num_classes, config.max_len)
        self.config = config
        self.decoder = RNNDecoder(len(vocab), config.emb_dim, config.hidden, config.layers, config.cell,
                                  config.dropout)
        self.opt = torch.optim.Adam(self.parameters(), lr=config.lr)

    def sentence_nll(self, x, y=None, generator=None):
        logits, _ = self.decoder(x[:, :-1])  # predict every next token from BOS + prefix
        return token_nll(logits, x[:, 1:])

    def train_step(self, sentences, y=None):
        x = self.encode(sentences)
        loss = self.sentence_nll(x).sum() / (x[:, 1:] != PAD).sum()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.parameters(), self.config.grad_clip)
        self.opt.step()
        self.steps_done += 1
        return {"loss": loss.item()}

    def generate_ids(self, n, labels, temperature, generator):
        return self.decoder.generate(None, n, self.max_len, temperature, generator, self.device)
