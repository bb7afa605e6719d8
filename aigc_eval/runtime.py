"""Where and how a run executes: device, thread count, seeding, versions and content hashes.

Everything here is recorded in results.json so that two numbers can be compared.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from functools import lru_cache, wraps

from .errors import UserError

# Measured on the 2-core CI machine (bench/test_bench_harness.py::test_dcgan_step_threads): one
# intra-op thread is the fastest setting for the small models here as soon as anything else runs
# on the other core (2 threads ran a DCGAN step ~14x slower under contention), so 1 is the default.
DEFAULT_THREADS = 1


@dataclass(frozen=True)
class Runtime:
    device: str  # "cpu" or "cuda"
    threads: int
    amp: bool  # bf16 autocast; CUDA only
    channels_last: bool  # CUDA only
    compile: bool = False  # torch.compile each network (opt-in: compiling costs minutes on the CPU)

    def record(self) -> dict:
        return asdict(self)


def resolve_device(device: str = "auto") -> str:
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise UserError(f"--device: expected auto, cpu or cuda, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available on this machine; use --device cpu or auto")
    return device


def setup_runtime(device: str = "auto", threads: int | None = None, compile: bool = False) -> Runtime:
    """Pick the device and pin the thread count; both are recorded with every result."""
    import torch

    if threads is None:
        threads = DEFAULT_THREADS
    if threads < 1:
        raise UserError(f"--threads: expected a positive integer, got {threads}")
    dev = resolve_device(device)
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    # numpy's BLAS (metrics) obeys the same setting: on 2 busy cores a 2-thread BLAS made a small
    # matmul 160x slower (24 ms vs 0.15 ms) and the KID test 10x slower.
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    on_cuda = dev == "cuda"
    if on_cuda:
        torch.backends.cudnn.benchmark = True
    return Runtime(device=dev, threads=threads, amp=on_cuda, channels_last=on_cuda, compile=compile)


def keeps_caller_threads(fn):
    """For library entry points that call setup_runtime (aigc_eval.evaluate, reference_stats): the
    caller's torch thread count, OMP_NUM_THREADS and BLAS thread limits are restored when the call
    returns or raises, so that scoring inside someone's training loop does not leave the training
    on one thread."""

    @wraps(fn)
    def call(*args, **kwargs):
        import torch
        from threadpoolctl import threadpool_limits

        torch_threads, omp = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
        blas = threadpool_limits(limits=None)  # changes nothing; remembers the current limits
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(torch_threads)
            if omp is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = omp
            blas.restore_original_limits()

    return call


def stable_hash(obj, length: int = 12) -> str:
    """Hash of a JSON-able object, independent of dict order and PYTHONHASHSEED."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def file_hash(path, length: int = 12) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def array_hash(*arrays, length: int = 12) -> str:
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:length]


@lru_cache(maxsize=1)
def code_fingerprint(length: int = 12) -> str:
    """Hash of every .py file of aigc_eval and reference_models as installed (editable: the checkout).

    Part of each cell's config hash, so a cell finished by other model or metric code is never
    reused, released version or not. Reading the ~80 files takes about 2 ms.
    """
    from pathlib import Path

    import reference_models

    h = hashlib.sha256()
    for package in (Path(__file__).parent, Path(reference_models.__file__).parent):
        for path in sorted(package.rglob("*.py")):
            h.update(f"{package.name}/{path.relative_to(package).as_posix()}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:length]


@lru_cache(maxsize=1)
def library_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("aigc-eval", "torch", "torch-fidelity", "numpy", "sacrebleu", "rouge-score", "scikit-learn",
                "transformers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "none"
    return out


@lru_cache(maxsize=1)
def machine_info() -> dict:
    import torch

    info = {"host": platform.node(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


@lru_cache(maxsize=1)
def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=os.path.dirname(os.path.abspath(__file__)))
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
