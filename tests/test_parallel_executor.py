"""The local executor's worker processes: the same numbers as the serial run, finished cells are
not resubmitted, a killed worker fails only its own cell, Ctrl-C stops the workers, and the choice
behind `--workers auto`.

Each test that starts workers pays ~4 s per worker process (spawn, import torch, load the data).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aigc_eval.cli import build_parser, main
from aigc_eval.errors import UserError
from aigc_eval.harness import tracks as context_module
from aigc_eval.harness import executor as executor_module
from aigc_eval.harness.tracks import get_context
from aigc_eval.harness.executor import LocalExecutor, auto_workers, estimated_seconds
from aigc_eval.harness.suite import parse_suite
from aigc_eval.models import MODELS
from aigc_eval.runtime import Runtime, setup_runtime
from reference_models.dcgan import DCGAN

SUITE = """
name = "parallel-test"
seeds = [0]
[train]
steps = 6
batch_size = 16
checkpoint_every = 3
[eval]
n_samples = 40
checkpoint_samples = 20
checkpoint_metrics = ["fd", "bleu"]
text_temperatures = [1.0]
[[datasets]]
name = "digits"
models = ["dcgan", "vae"]
[[datasets]]
name = "facts"
models = ["lm"]
"""
# What must be the same, bit for bit, whichever process ran the cell.
NUMBERS = ("status", "config_hash", "metrics", "curves", "checkpoint_metrics", "sample_text", "qd_curve")
KILL_AT_STEP = 2


class KillingDCGAN(DCGAN):
    """A DCGAN whose process is SIGKILLed at its second training step: a worker killed mid-cell.
    Workers import this module to unpickle the class, as they would a user's model module."""

    def train_step(self, x, y=None):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == KILL_AT_STEP:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().train_step(x, y)


def _cli_run(tmp_path, workers: str, capsys) -> tuple[dict, str]:
    out = tmp_path / f"out-w{workers}"
    code = main(["run", "--suite", str(tmp_path / "suite.toml"), "--device", "cpu", "--threads", "1",
                 "--workers", workers, "--out", str(out), "--no-progress", "--no-history"])
    assert code == 0
    return json.loads((out / "latest" / "results.json").read_text()), capsys.readouterr().err


def test_two_workers_give_the_serial_numbers_bit_for_bit(tmp_path, monkeypatch, capsys):
    # A fresh extractor cache and no cached contexts: the serial run trains the digits classifier in
    # this process, and the workers load the copy it saved. Both must score the same.
    monkeypatch.setenv("AIGC_EVAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(context_module, "_CONTEXTS", {})
    (tmp_path / "suite.toml").write_text(SUITE)

    serial, _ = _cli_run(tmp_path, "1", capsys)
    parallel, log = _cli_run(tmp_path, "2", capsys)

    assert serial["runtime"]["workers"] == 1 and parallel["runtime"]["workers"] == 2
    assert serial["runtime"]["threads"] == parallel["runtime"]["threads"] == 1
    assert [c["model"] for c in parallel["cells"]] == ["dcgan", "vae", "lm"]  # job order, not finish order
    for a, b in zip(serial["cells"], parallel["cells"]):
        assert a["status"] == "done", a["error"]
        for key in NUMBERS:
            assert a.get(key) == b.get(key), (a["model"], key)
        assert a["metrics"]  # every value and every signature compared above
    assert "trained digits-cnn" not in log  # the driver's cached extractor is only loaded by workers
    assert "[3/3] " in log and " s; done 3, running 0, failed 0" in log

    # Finished cells are not submitted: no worker starts.
    monkeypatch.setattr(executor_module, "_WorkerSlot", None)
    again, log = _cli_run(tmp_path, "2", capsys)
    assert "3 of 3 cells already done; running 0" in log
    assert [c["metrics"] for c in again["cells"]] == [c["metrics"] for c in parallel["cells"]]


def _specs(models, calibration=(), steps=6, seeds=(0,)):
    raw = {"name": "t", "seeds": list(seeds), "train": {"steps": steps, "batch_size": 16, "checkpoint_every": 3},
           "eval": {"n_samples": 40, "image_metrics": ["fd"], "checkpoint_metrics": []},
           "datasets": [{"name": "digits", "models": list(models), "calibration": list(calibration)}]}
    return parse_suite(raw, "t").cells


def _run_in_two_workers(jobs, log) -> list[dict]:
    """jobs: (spec, cell folder) pairs on digits."""
    ctx = get_context("digits", {}, None, "cpu", log=lambda m: None)
    return LocalExecutor(workers=2).run([(spec, ctx, d) for spec, d in jobs], setup_runtime("cpu", 1),
                                        progress=False, log=log)


def test_killed_worker_fails_its_own_cell_and_the_others_finish(tmp_path):
    MODELS._entries["killing-dcgan"] = KillingDCGAN
    try:
        specs = _specs(["killing-dcgan"], calibration=["real-test", "noise"])
        lines = []
        killed, *others = _run_in_two_workers([(s, tmp_path / s.name) for s in specs], lines.append)
    finally:
        del MODELS._entries["killing-dcgan"]
    assert killed["status"] == "failed" and "killed by SIGKILL" in killed["error"]
    assert "\n" not in killed["error"]
    assert json.loads((tmp_path / specs[0].name / "cell.json").read_text())["status"] == "failed"
    assert [o["status"] for o in others] == ["done", "done"] and all(o["metrics"] for o in others)
    assert any("killing-dcgan-digits-s0: failed: worker process died" in line for line in lines)
    assert multiprocessing.active_children() == []


def test_ctrl_c_stops_the_workers_and_keeps_finished_cells(tmp_path):
    slow, = _specs(["dcgan"], steps=1_000_000)
    fast, = _specs([], calibration=["real-test"])

    def log(line):  # Ctrl-C arrives in the driver as soon as the first cell has finished
        if line.startswith("[1/2] "):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run_in_two_workers([(slow, tmp_path / "slow"), (fast, tmp_path / "fast")], log)
    assert json.loads((tmp_path / "fast" / "cell.json").read_text())["status"] == "done"
    assert not (tmp_path / "slow" / "cell.json").exists()
    assert multiprocessing.active_children() == []  # the slow cell's worker was killed, not left running


@pytest.mark.parametrize("cpus, load, memory_mb, seconds, threads, expected, reason", [
    (2, 0.3, 20_000, [100.0] * 12, 1, 2, "limited by CPUs, idle CPUs + 1"),
    (2, 3.0, 20_000, [100.0] * 12, 1, 1, "limited by idle CPUs + 1"),   # others busy: no gain measured
    (16, 0.0, 20_000, [100.0] * 3, 1, 3, "limited by cells"),
    (16, 0.0, 4_000, [100.0] * 12, 1, 2, "limited by memory"),
    (16, 0.0, 20_000, [100.0] * 12, 4, 4, "limited by CPUs"),
    (2, 0.0, 20_000, [1.0] * 12, 1, 1, "less than starting workers costs"),
])
def test_auto_workers(monkeypatch, cpus, load, memory_mb, seconds, threads, expected, reason):
    monkeypatch.setattr(executor_module, "usable_cpus", lambda: cpus)
    monkeypatch.setattr(executor_module, "available_memory_mb", lambda: memory_mb)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    runtime = Runtime(device="cpu", threads=threads, amp=False, channels_last=False)
    n, why = auto_workers(seconds, runtime)
    assert n == expected and reason in why, why
    assert auto_workers([1000.0] * 8, Runtime("cuda", 1, True, True)) == (1, "one GPU")


def test_longest_cells_first_uses_earlier_measurements(tmp_path):
    wgan, = _specs(["wgan_gp"], steps=80)
    vae, = _specs(["vae"], steps=300)
    assert estimated_seconds(vae, tmp_path / "vae-s0-x") > estimated_seconds(wgan, tmp_path / "wgan_gp-s0-x")
    # An earlier wgan_gp cell of this dataset measured 4 ms per training example: it now goes first.
    earlier = tmp_path / "wgan_gp-s1-oldhash"
    earlier.mkdir()
    (earlier / "cell.json").write_text(json.dumps({
        "model": "wgan_gp", "status": "done", "wall": {"train": 20.5},
        "config": {"train": {"steps": 80, "batch_size": 64}}}))
    assert estimated_seconds(wgan, tmp_path / "wgan_gp-s0-x") > estimated_seconds(vae, tmp_path / "vae-s0-x")


def test_workers_option():
    parse = build_parser().parse_args
    assert parse(["run"]).workers == "auto"
    assert parse(["run", "--workers", "3"]).workers == 3
    for bad in ("0", "two"):
        with pytest.raises(SystemExit):
            parse(["run", "--workers", bad])
    with pytest.raises(UserError, match="--workers: expected a positive integer or auto"):
        LocalExecutor(workers=0)
    from aigc_eval.harness.runner import _executor

    with pytest.raises(UserError, match="only for --executor local"):
        _executor("ray", None, 2)


def _worker_pids(driver: int) -> list[int]:
    """Pids of the cell workers the driver spawned (not multiprocessing's resource tracker)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        if ppid == driver and b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
            pids.append(int(stat.parent.name))
    return pids


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has stopped; only its exit status waits to be collected


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_driver_stops_its_workers(tmp_path, how):
    """`kill` (SIGTERM) acts as Ctrl-C: the driver kills its workers and exits 130. A driver killed
    outright (SIGKILL) cannot; its orphaned workers notice and exit within a few seconds, instead of
    training on for the rest of their cells."""
    suite = tmp_path / "slow.toml"
    suite.write_text('name = "slow"\nseeds = [0, 1]\n[train]\nsteps = 1000000\nbatch_size = 16\n'
                     'checkpoint_every = 1000000\n[eval]\nn_samples = 20\n'
                     '[[datasets]]\nname = "digits"\nmodels = ["vae"]\n')
    driver = subprocess.Popen([sys.executable, "-m", "aigc_eval", "run", "--suite", str(suite), "--workers", "2",
                               "--no-history", "--no-progress", "--out", str(tmp_path / "out")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    workers: list[int] = []

    def both_started() -> bool:  # re-read at every poll: one worker may start a moment before the other
        workers[:] = _worker_pids(driver.pid)
        return len(workers) == 2

    try:
        assert _wait_for(both_started, 120), f"the run never started its two workers (found {workers})"
        driver.send_signal(how)
        out, _ = driver.communicate(timeout=60)
        assert _wait_for(lambda: not any(_running(p) for p in workers), 15), f"workers still running: {workers}"
    finally:
        driver.kill()
        for pid in workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
    if how == signal.SIGTERM:
        assert driver.returncode == 130 and "interrupted; finished cells are kept" in out, out
    else:
        assert driver.returncode == -signal.SIGKILL
