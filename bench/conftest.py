"""Shared bench set-up: pinned threads and per-benchmark resource records.

    def test_something(pinned_benchmark):          # instead of pytest-benchmark's `benchmark`
        pinned_benchmark(fn, *args)                 # or .pedantic(...)

`pinned_benchmark` is pytest-benchmark's `benchmark` with torch and the BLAS/OpenMP pools numpy and
scipy use (threadpoolctl) pinned to BENCH_THREADS threads, the process's peak RSS reset before the test (Linux: /proc/self/clear_refs) and, after
it, `threads`, `peak_rss_mb` (resource.getrusage ru_maxrss) and `cuda_max_allocated_mb` written
into `benchmark.extra_info`, so they land in --benchmark-json next to the timings.

Benches marked `@pytest.mark.large` (minutes, GBs) run only with AIGC_BENCH_LARGE=1.
"""
from __future__ import annotations

import os
import resource
import sys

import pytest
import torch
from threadpoolctl import threadpool_limits

BENCH_THREADS = 1  # as in CI and the suite's default (aigc_eval.runtime.DEFAULT_THREADS)


def peak_rss_mb() -> float:
    """Peak resident set size of this process since start (or the last reset_peak_rss), MiB."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 2**10  # bytes on macOS, KiB on Linux


def reset_peak_rss() -> bool:
    """Reset the peak RSS to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def record_resources(benchmark, **extra) -> None:
    """Write threads, peak RSS and CUDA peak memory (plus `extra`) into the benchmark's extra_info."""
    info = {"threads": torch.get_num_threads(), "peak_rss_mb": round(peak_rss_mb(), 1)}
    if torch.cuda.is_available():
        info["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    benchmark.extra_info.update(info, **extra)


@pytest.fixture
def pinned_benchmark(benchmark):
    previous = torch.get_num_threads()
    torch.set_num_threads(BENCH_THREADS)
    benchmark.extra_info["peak_rss_reset"] = reset_peak_rss()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with threadpool_limits(BENCH_THREADS):
        yield benchmark
    record_resources(benchmark)
    torch.set_num_threads(previous)


def pytest_configure(config):
    config.addinivalue_line("markers", "large: minutes and GBs; runs only with AIGC_BENCH_LARGE=1")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("AIGC_BENCH_LARGE") == "1":
        return
    skip = pytest.mark.skip(reason="large bench: set AIGC_BENCH_LARGE=1 to run it")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)
