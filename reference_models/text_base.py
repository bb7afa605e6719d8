"""The interface every reference text model shares, mirroring base.py for images:

    vocab = Vocab.build(train_sentences, mode="space")     # "char" for CJK
    model = LanguageModel(LMConfig(), vocab, num_classes=0)
    model.fit(sentences, labels=None, steps=500)           # or model.train_step(batch, y) in a custom loop
    texts = model.sample(64, labels=None, temperature=1.0, generator=torch.Generator().manual_seed(0))
    model.nll(test_sentences)                              # nats per token (EOS included); None for GANs
    # VAEs also have model.reconstruct(sentences[, labels])

Sentences go into train_step as plain strings; each model encodes them with its Vocab.
Checkpoints add the vocabulary and the step count to base.py's state, so a resumed VAE keeps
its KL schedule and a resumed GAN its pre-training phase.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aigc_eval.tokenize import detokenize, tokenize

from .base import GenerativeModel

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(len(SPECIALS))


class Vocab:
    """Words of the training sentences, most frequent first, after the four special tokens."""

    def __init__(self, words, mode: str = "space"):
        self.itos = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.mode = mode

    @classmethod
    def build(cls, sentences, mode: str = "space", min_count: int = 1) -> "Vocab":
        counts = Counter(w for s in sentences for w in tokenize(s, mode))
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(words, mode)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, sentence: str) -> list[int]:
        return [self.stoi.get(w, UNK) for w in tokenize(sentence, self.mode)]

    def encode_batch(self, sentences, max_len: int | None = None) -> torch.Tensor:
        """B x (L + 2) LongTensor: BOS, the words (cut to max_len), EOS, then PAD."""
        ids = [self.encode(s)[:max_len] for s in sentences]
        out = torch.full((len(ids), max(map(len, ids), default=0) + 2), PAD, dtype=torch.long)
        for row, seq in zip(out, ids):
            row[:len(seq) + 2] = torch.tensor([BOS, *seq, EOS])
        return out

    def decode(self, ids) -> str:
        """The words up to the first EOS; PAD and BOS are skipped, UNK reads as '<unk>'."""
        words = []
        for i in map(int, ids):
            if i == EOS:
                break
            if i not in (PAD, BOS):
                words.append(self.itos[i])
        return detokenize(words, self.mode)


def pick_tokens(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """One token per row from softmax(logits / temperature); the argmax at temperature 0.

    Gumbel-max with the noise drawn on the CPU from `generator`, so a seeded generator gives the
    same tokens on every device.
    """
    logits = logits.float().clone()
    logits[:, [PAD, BOS]] = float("-inf")
    if temperature == 0:
        return logits.argmax(-1)
    exp_noise = torch.empty(logits.shape).exponential_(generator=generator).to(logits.device)
    return (logits / temperature - exp_noise.log()).argmax(-1)


def token_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sentence summed NLL in nats (B,) of `targets` (B x T, PAD ignored) under `logits`."""
    return F.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=PAD, reduction="none").sum(1)


class RNNDecoder(nn.Module):
    """Embedding -> GRU (or LSTM) -> vocabulary logits: the token model of every text model here."""

    def __init__(self, vocab_size: int, emb_dim: int, hidden: int, layers: int = 1, cell: str = "gru",
                 dropout: float = 0.0):
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        self.emb = nn.Embedding(vocab_size, emb_dim, padding_idx=PAD)
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(emb_dim, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, ids: torch.Tensor, state=None):
        return self.forward_embedded(self.emb(ids), state)

    def forward_embedded(self, x: torch.Tensor, state=None):
        """(B x T x V logits, final state) for embedded inputs B x T x E."""
        h, state = self.rnn(self.drop(x), state)
        return self.out(self.drop(h)), state

    def generate(self, state, n: int, max_len: int, temperature: float, generator, device) -> torch.Tensor:
        """n x <=max_len token ids sampled step by step from `state`; PAD after each EOS."""
        tok = torch.full((n,), BOS, dtype=torch.long, device=device)
        done = torch.zeros(n, dtype=torch.bool, device=device)
        out = []
        for _ in range(max_len):
            logits, state = self(tok[:, None], state)
            tok = pick_tokens(logits[:, 0], temperature, generator).masked_fill(done, PAD)
            out.append(tok)
            done |= tok == EOS
            if bool(done.all()):
                break
        return torch.stack(out, 1) if out else torch.zeros(n, 0, dtype=torch.long)


class TextGenerativeModel(GenerativeModel):
    """Base of the text models: base.py's device, label and checkpoint plumbing, for sentences.

    Subclasses implement train_step, generate_ids (token ids, for sample) and sentence_nll (for
    nll). The models are small recurrent nets and run in float32 on every device: `amp` and
    `channels_last` are accepted and ignored.
    """

    kind = "text"
    nll_is_bound = False  # True where nll() is the negative ELBO, an upper bound

    def __init__(self, vocab: Vocab, num_classes: int = 0, max_len: int = 40):
        super().__init__(image_shape=(), num_classes=num_classes)
        self.vocab = vocab
        self.max_len = max_len
        self.steps_done = 0  # train_step calls so far; schedules (KL annealing, GAN phases) read it

    def setup(self, device: str = "cpu", amp: bool = False, channels_last: bool = False, compile: bool = False):
        return super().setup(device, amp=False, channels_last=False, compile=compile)

    def encode(self, sentences) -> torch.Tensor:
        return self.vocab.encode_batch(sentences, self.max_len).to(self.device)

    def labels_for_batch(self, y) -> torch.Tensor | None:
        """Labels of a training or scoring batch on the device; required by conditional models."""
        return self.check_labels(y) if self.conditional else None

    # -- the interface ----------------------------------------------------------------------
    def train_step(self, sentences: list[str], y: torch.Tensor | None = None) -> dict[str, float]:
        raise NotImplementedError

    def generate_ids(self, n: int, labels: torch.Tensor | None, temperature: float, generator) -> torch.Tensor:
        raise NotImplementedError

    def sentence_nll(self, x: torch.Tensor, y: torch.Tensor | None, generator) -> torch.Tensor:
        """Per-sentence NLL in nats (B,) of encoded sentences x (BOS ... EOS PAD)."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, labels=None, temperature: float = 1.0, generator: torch.Generator | None = None,
               batch_size: int = 512) -> list[str]:
        """n sentences; `temperature` scales the logits (0 is greedy). Labels are drawn on the CPU."""
        if temperature < 0:
            raise ValueError(f"sample: temperature must be >= 0, got {temperature}")
        labels = self._labels_for(n, labels, generator) if self.conditional else None
        was_training = self.training
        self.eval()
        out = []
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            y = None if labels is None else labels[start:start + m].to(self.device)
            out += [self.vocab.decode(row) for row in self.generate_ids(m, y, temperature, generator).cpu()]
        self.train(was_training)
        return out

    @torch.no_grad()
    def nll(self, sentences, labels=None, batch_size: int = 256) -> float | None:
        """Nats per token (each sentence's words and its EOS) over `sentences`, in eval mode.

        Sentences longer than max_len are cut, as in training. Models with latents draw them
        from a fixed generator, so the value is deterministic.
        """
        generator = torch.Generator().manual_seed(0)
        was_training = self.training
        self.eval()
        total, tokens = 0.0, 0
        for start in range(0, len(sentences), batch_size):
            x = self.encode(list(sentences[start:start + batch_size]))
            y = None if labels is None else torch.as_tensor(np.asarray(labels[start:start + batch_size]))
            total += self.sentence_nll(x, self.labels_for_batch(y), generator).sum().item()
            tokens += int((x[:, 1:] != PAD).sum())
        self.train(was_training)
        return total / max(tokens, 1)

    def fit(self, sentences, labels=None, steps: int = 1000, batch_size: int = 64, seed: int = 0):
        """Plain training loop on random batches; returns the per-step losses.

        (The harness runs its own loop with checkpoints; this one is for direct use.)
        """
        ys = None if labels is None else torch.as_tensor(np.asarray(labels)).long()
        rng = np.random.default_rng(seed)
        history = []
        for _ in range(steps):
            idx = rng.integers(0, len(sentences), batch_size)
            history.append(self.train_step([sentences[i] for i in idx],
                                           None if ys is None else ys[torch.from_numpy(idx)]))
        return history

    # -- checkpoints: base.py's state plus the vocabulary and the step count ---------------------
    def checkpoint_state(self) -> dict:
        return {**super().checkpoint_state(), "vocab": list(self.vocab.itos), "steps_done": self.steps_done}

    def load_checkpoint_state(self, state: dict) -> None:
        if list(state["vocab"]) != self.vocab.itos:
            raise ValueError("checkpoint was trained with a different vocabulary than this model's")
        super().load_checkpoint_state(state)
        self.steps_done = int(state["steps_done"])
