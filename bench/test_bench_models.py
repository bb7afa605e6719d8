"""Training and sampling throughput of every reference image model on the CPU.

Run:   .venv/bin/python -m pytest bench/test_bench_models.py --benchmark-only \
           --benchmark-json=/tmp/bench-models.json

One round is one train_step on a batch of BATCH images (for WGAN-GP that is n_critic = 5 critic
updates and one generator update), or one sample(SAMPLES) call. Each model runs with its
documented default config at 16x16 grey (the digits suite) and at 32x32 RGB (the largest size it
supports). Threads are pinned by `pinned_benchmark` (bench/conftest.py), which also records them
and the peak RSS in extra_info; extra_info also gets images/s from the median wall time and from
the median CPU time of this thread (the latter is steadier on a shared machine).
"""
from __future__ import annotations

import time

import pytest
import torch

from aigc_eval.models import MODELS, default_config

IMAGE_MODELS = ["dcgan", "vae", "wgan_gp", "sngan", "cgan", "beta_vae", "cvae", "ddpm", "cddpm", "infogan"]
SHAPES = {"16x16": (1, 16, 16), "32x32rgb": (3, 32, 32)}
ROUNDS = {"16x16": 10, "32x32rgb": 3}  # a WGAN-GP step or a DDPM sample() at 32x32 takes seconds on one thread
BATCH = 64
SAMPLES = 256
NUM_CLASSES = 10


def build(name, shape):
    cls = MODELS.get(name)
    torch.manual_seed(0)
    return cls(default_config(cls, shape), shape, num_classes=NUM_CLASSES)


def bench_images_per_s(benchmark, fn, images: int, rounds: int, **info):
    """Benchmark `fn` (which handles `images` images) and record wall and CPU images/s."""
    cpu_seconds = []

    def timed():
        start = time.thread_time()
        fn()
        cpu_seconds.append(time.thread_time() - start)

    fn()  # warm-up: oneDNN picks its kernels and the allocator grows on the first call
    benchmark.pedantic(timed, rounds=rounds, warmup_rounds=0)
    cpu_median = sorted(cpu_seconds)[len(cpu_seconds) // 2]
    benchmark.extra_info.update(info, images_per_round=images,
                                images_per_s=round(images / benchmark.stats.stats.median, 1),
                                images_per_cpu_s=round(images / cpu_median, 1))


@pytest.mark.parametrize("size", SHAPES)
@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_train_step_throughput(pinned_benchmark, name, size):
    shape = SHAPES[size]
    model = build(name, shape)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(BATCH, *shape, generator=g), torch.randint(0, NUM_CLASSES, (BATCH,), generator=g)
    bench_images_per_s(pinned_benchmark, lambda: model.train_step(x, y), BATCH, ROUNDS[size],
                       model=name, image_shape=list(shape), batch_size=BATCH)


@pytest.mark.parametrize("size", SHAPES)
@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_sample_throughput(pinned_benchmark, name, size):
    shape = SHAPES[size]
    model = build(name, shape)
    bench_images_per_s(pinned_benchmark, lambda: model.sample(SAMPLES, generator=torch.Generator().manual_seed(0)),
                       SAMPLES, ROUNDS[size], model=name, image_shape=list(shape))


@pytest.mark.parametrize("steps", [10, 25, 50, 100])
def test_ddpm_sampling_cost_by_reverse_steps(pinned_benchmark, steps):
    """A diffusion model's sampling cost grows with its reverse steps: images/s against the number
    of DDIM/ancestral steps at 16x16 (one network evaluation per step and image)."""
    shape = SHAPES["16x16"]
    model = build("ddpm", shape)
    model.config.sample_steps = steps
    bench_images_per_s(pinned_benchmark, lambda: model.sample(SAMPLES, generator=torch.Generator().manual_seed(0)),
                       SAMPLES, 3, model="ddpm", image_shape=list(shape), sample_steps=steps)
