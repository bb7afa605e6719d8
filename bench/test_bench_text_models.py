"""Text-model speed on facts with the default configs: training tokens/s and sampling sentences/s.

Run: .venv/bin/python -m pytest bench/test_bench_text_models.py --benchmark-only
Training: each round is STEPS train_step calls on batches of BATCH training sentences; a token is a
word or the end-of-sentence token (what the loss is averaged over). TextGAN is timed in both of its
phases: maximum-likelihood pre-training and adversarial training (a Gumbel-softmax rollout). The
torch RNG is seeded per round, so every round does the same work. Sampling: N_SAMPLES sentences
at temperature 1 in one call, from untrained models, whose sentences run long (~30 tokens against
~10 for trained ones): compare tokens_per_s. extra_info holds the rates and `cpu_s` of one extra round (the wall
time on a shared 2-core machine swings with the other jobs, the CPU time much less).
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch

from aigc_eval.data import load_dataset
from aigc_eval.models import MODELS, default_config
from reference_models.text_base import Vocab

STEPS, BATCH, N_SAMPLES = 10, 64, 1000
CASES = {  # bench id -> (registered model, config overrides)
    "lm": ("lm", {}),
    "sentence_vae": ("sentence_vae", {}),
    "csentence_vae": ("csentence_vae", {}),
    "text_gan-pretrain": ("text_gan", {"pretrain_steps": 10**9}),
    "text_gan-adversarial": ("text_gan", {"pretrain_steps": 0}),
}


@pytest.fixture(scope="module")
def facts():
    return load_dataset("facts")


def build(case, facts):
    name, overrides = CASES[case]
    cls = MODELS.get(name)
    torch.manual_seed(0)
    config = dataclasses.replace(default_config(cls, "text"), **overrides)
    return cls(config, Vocab.build(facts.train, facts.tokenize), facts.num_classes)


def batches(facts):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(STEPS):
        idx = rng.integers(0, len(facts.train), BATCH)
        out.append(([facts.train[i] for i in idx], torch.from_numpy(facts.train_y[idx])))
    return out


def cpu_seconds(fn):
    start = time.process_time()
    fn()
    return time.process_time() - start


@pytest.mark.parametrize("case", list(CASES))
def test_training_tokens_per_s(pinned_benchmark, facts, case):
    model = build(case, facts)
    data = batches(facts)
    tokens = sum(len(s.split()) + 1 for sentences, _ in data for s in sentences)

    def train_round():
        torch.manual_seed(1)
        for sentences, labels in data:
            model.train_step(sentences, labels)

    pinned_benchmark.pedantic(train_round, rounds=3, iterations=1, warmup_rounds=1)
    pinned_benchmark.extra_info.update(
        steps=STEPS, batch=BATCH, tokens_per_round=tokens,
        train_tokens_per_s=tokens / pinned_benchmark.stats.stats.mean,
        train_steps_per_s=STEPS / pinned_benchmark.stats.stats.mean, cpu_s=cpu_seconds(train_round),
        parameters=sum(p.numel() for p in model.parameters()))


@pytest.mark.parametrize("case", ["lm", "sentence_vae", "csentence_vae", "text_gan-adversarial"])
def test_sampling_sentences_per_s(pinned_benchmark, facts, case):
    model = build(case, facts)
    labels = np.arange(N_SAMPLES) % facts.num_classes if model.conditional else None

    def sample():
        return model.sample(N_SAMPLES, labels=labels, temperature=1.0, generator=torch.Generator().manual_seed(0))

    samples = pinned_benchmark.pedantic(sample, rounds=3, iterations=1, warmup_rounds=1)
    tokens = sum(len(s.split()) + 1 for s in samples)
    pinned_benchmark.extra_info.update(
        n=N_SAMPLES, sentences_per_s=N_SAMPLES / pinned_benchmark.stats.stats.mean,
        tokens_per_s=tokens / pinned_benchmark.stats.stats.mean, cpu_s=cpu_seconds(sample))
