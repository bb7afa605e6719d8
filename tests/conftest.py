"""Shared test set-up: one thread (as in CI), a private extractor cache, the digits dataset and
classifier, and one real smoke run."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Keep the test session's trained extractors out of the user's cache, but share them across tests.
os.environ.setdefault("AIGC_EVAL_CACHE", tempfile.mkdtemp(prefix="aigc-eval-test-cache-"))


def pytest_configure(config):
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


@pytest.fixture(scope="session")
def digits():
    from aigc_eval.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits_extractor(digits):
    """The suite's digits classifier: ~5 s to train, then cached for the session."""
    from aigc_eval.features.classifier import classifier_extractor

    return classifier_extractor(digits, log=lambda msg: None)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """(run_dir, results) of the real smoke suite, run once per test session."""
    from aigc_eval.harness.runner import run_suite
    from aigc_eval.harness.suite import load_suite

    out = tmp_path_factory.mktemp("smoke-reports")
    baseline = Path(__file__).resolve().parents[1] / "reports" / "baseline" / "results.json"
    return run_suite(load_suite("smoke"), out_root=out, device="cpu", threads=1, progress=False,
                     baseline=baseline, log=lambda msg: None)
