"""The Ray executor on a real local Ray cluster: same numbers as local, skips finished cells,
retries a cell whose worker process dies, marks it failed when retries run out, cancels on Ctrl-C.

One 2-CPU cluster serves the whole module (starting Ray takes ~15 s here).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from aigc_eval.errors import UserError  # noqa: E402
from aigc_eval.harness.tracks import get_context  # noqa: E402
from aigc_eval.harness.executor import LocalExecutor  # noqa: E402
from aigc_eval.harness.ray_executor import RayExecutor  # noqa: E402
from aigc_eval.harness.suite import parse_suite  # noqa: E402
from aigc_eval.models import MODELS  # noqa: E402
from aigc_eval.runtime import setup_runtime  # noqa: E402
from reference_models.dcgan import DCGAN  # noqa: E402

pytestmark = pytest.mark.ray
# Workers cannot import this file: ship its test models (and their methods) to them by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
STEPS, CHECKPOINT_EVERY, KILL_AT_CALL = 12, 4, 6  # the kill lands between two checkpoints


def _suite(models, calibration=(), steps=STEPS):
    raw = {"name": "ray-test", "seeds": [0],
           "train": {"steps": steps, "batch_size": 16, "checkpoint_every": CHECKPOINT_EVERY},
           "eval": {"n_samples": 60, "image_metrics": ["fd"], "checkpoint_metrics": ["fd"],
                    "checkpoint_samples": 30},
           "datasets": [{"name": "digits", "models": list(models), "calibration": list(calibration)}]}
    return parse_suite(raw, "ray-test")


def _jobs(suite, ctx, root):
    return [(spec, ctx, root / spec.name) for spec in suite.cells]


class KillOnceDCGAN(DCGAN):
    """DCGAN whose worker process is SIGKILLed mid-cell on the first attempt only.

    Each attempt appends its pid to the file named by $AIGC_EVAL_TEST_ATTEMPTS. The class travels
    to the worker by value, DCGAN's DEFAULTS with it.
    """

    kill_every_attempt = False

    def train_step(self, x, y=None):
        self.calls = getattr(self, "calls", 0) + 1
        attempts = os.environ["AIGC_EVAL_TEST_ATTEMPTS"]
        if self.calls == 1:
            with open(attempts, "a") as fh:
                fh.write(f"{os.getpid()}\n")
        first_attempt = len(open(attempts).read().split()) == 1
        if self.calls == KILL_AT_CALL and (first_attempt or self.kill_every_attempt):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().train_step(x, y)


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def runtime():
    return setup_runtime("cpu", 1)


@pytest.fixture(scope="module")
def ctx():
    return get_context("digits", {}, None, "cpu", log=lambda m: None)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, ctx, runtime):
    """(cells folder, results) of the reference suite run by the local executor."""
    root = tmp_path_factory.mktemp("local")
    suite = _suite(["dcgan", "vae"], calibration=["real-test"])
    return root, LocalExecutor().run(_jobs(suite, ctx, root), runtime, progress=False, log=lambda m: None)


@pytest.fixture
def kill_model(tmp_path, monkeypatch):
    """(name, attempts file) of KillOnceDCGAN, registered under a fresh name (workers keep their
    registry for the session). The variable is set after the cluster started, so workers see it
    only through RayExecutor's pass-through of the driver's AIGC_EVAL_* environment."""
    name, attempts = f"kill-dcgan-{tmp_path.name}", tmp_path / "attempts"
    monkeypatch.setenv("AIGC_EVAL_TEST_ATTEMPTS", str(attempts))
    MODELS._entries[name] = KillOnceDCGAN
    yield name, attempts
    del MODELS._entries[name]


def _same_numbers(a: dict, b: dict) -> None:
    assert a["status"] == b["status"] == "done"
    assert a.get("curves") == b.get("curves")  # calibration rows have none
    assert a.get("checkpoint_metrics") == b.get("checkpoint_metrics")
    assert a["metrics"] == b["metrics"]


def test_ray_results_equal_local_and_finished_cells_are_not_resubmitted(
        cluster, ctx, runtime, local_run, tmp_path, monkeypatch):
    local_root, local_results = local_run
    suite = _suite(["dcgan", "vae"], calibration=["real-test"])
    lines = []
    results = RayExecutor().run(_jobs(suite, ctx, tmp_path), runtime, progress=False, log=lines.append)
    assert [r["model"] for r in results] == ["dcgan", "vae", "real-test"]
    assert results[0]["curves"]["step"][-1] == STEPS
    for spec, local, remote in zip(suite.cells, local_results, results):
        _same_numbers(local, remote)
        assert local["config_hash"] == remote["config_hash"]
        assert "fd_digits-cnn" in remote["metrics"]
        np.testing.assert_array_equal(np.load(tmp_path / spec.name / "samples.npz")["samples"],
                                      np.load(local_root / spec.name / "samples.npz")["samples"])
    assert any(line.startswith("[3/3] ") and "failed 0" in line and "ETA" in line for line in lines)

    submitted = []
    original = RayExecutor._submit
    monkeypatch.setattr(RayExecutor, "_submit", lambda self, *a: submitted.append(a) or original(self, *a))
    again = RayExecutor().run(_jobs(suite, ctx, tmp_path), runtime, progress=False, log=lambda m: None)
    assert submitted == [] and all(r["cached"] for r in again)
    assert [r.get("curves") for r in again] == [r.get("curves") for r in results]


def test_killed_worker_is_retried_and_resumes_to_the_same_numbers(
        cluster, ctx, runtime, local_run, kill_model, tmp_path):
    name, attempts = kill_model
    suite = _suite([name])
    lines = []
    (result,) = RayExecutor(max_retries=2).run(_jobs(suite, ctx, tmp_path), runtime, progress=False,
                                               log=lines.append)
    pids = attempts.read_text().split()
    assert len(pids) == 2 and pids[0] != pids[1]  # killed once, re-run in a fresh worker
    assert any(f"resuming from step {CHECKPOINT_EVERY}" in line for line in lines)
    _same_numbers(result, local_run[1][0])  # the uninterrupted local dcgan cell


def test_worker_dying_every_attempt_marks_the_cell_failed_and_others_finish(
        cluster, ctx, runtime, kill_model, tmp_path, monkeypatch):
    monkeypatch.setattr(KillOnceDCGAN, "kill_every_attempt", True)
    name, attempts = kill_model
    suite = _suite([name], calibration=["real-test"])
    killed, other = RayExecutor(max_retries=1).run(_jobs(suite, ctx, tmp_path), runtime, progress=False,
                                                   log=lambda m: None)
    assert len(attempts.read_text().split()) == 2  # one try + max_retries
    assert killed["status"] == "failed" and "worker died 2 time(s)" in killed["error"]
    assert "\n" not in killed["error"]
    stored = json.loads((tmp_path / suite.cells[0].name / "cell.json").read_text())
    assert stored["status"] == "failed" and stored["model"] == name
    assert other["status"] == "done" and other["metrics"]


def test_ctrl_c_cancels_outstanding_cells_and_keeps_finished_ones(cluster, ctx, runtime, tmp_path):
    slow = _suite(["dcgan"], steps=1_000_000).cells[0]
    fast = _suite([], calibration=["real-test"]).cells[0]
    jobs = [(slow, ctx, tmp_path / "slow"), (fast, ctx, tmp_path / "fast")]

    def log(line):  # Ctrl-C arrives in the driver as soon as the first cell has finished
        if line.startswith("[1/2] "):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        RayExecutor().run(jobs, runtime, progress=False, log=log)
    assert json.loads((tmp_path / "fast" / "cell.json").read_text())["status"] == "done"
    deadline = time.monotonic() + 30
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == 2  # the slow cell's task was cancelled
    assert not (tmp_path / "slow" / "cell.json").exists()


def test_without_ray_installed_it_is_a_user_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(UserError, match=r"pip install 'aigc-eval\[ray\]'"):
        RayExecutor()


def test_smoke_suite_on_ray_equals_local(cluster, smoke_run, tmp_path):
    """The whole smoke suite through `--executor ray` gives exactly the local executor's numbers."""
    from aigc_eval.harness.runner import run_suite
    from aigc_eval.harness.suite import load_suite

    _, local = smoke_run
    _, remote = run_suite(load_suite("smoke"), out_root=tmp_path, device="cpu", threads=1, executor="ray",
                          progress=False, history=False, log=lambda msg: None)
    assert remote["executor"] == "ray"

    def by_cell(results):
        return {(c["model"], c["dataset"], c["seed"]): c for c in results["cells"]}

    local_cells, remote_cells = by_cell(local), by_cell(remote)
    assert local_cells.keys() == remote_cells.keys()
    for key, cell in remote_cells.items():
        assert cell["status"] == "done", (key, cell["error"])
        assert {k: v["value"] for k, v in cell["metrics"].items()} == \
               {k: v["value"] for k, v in local_cells[key]["metrics"].items()}, key
        assert cell.get("curves") == local_cells[key].get("curves"), key
