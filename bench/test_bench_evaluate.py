"""aigc_eval.evaluate on a generator callable against torch-fidelity on the same registered extractor
(issue 14 §2): wall time and peak RSS above the process's RSS once the extractor is built, each
side in its own process so that neither sees the other's peak.

The generator is a toy: uniform noise at 3 x 8 x 8, upsampled bilinearly to 3 x 32 x 32 and
quantised as torchvision's save_image does. The extractor is `random-cnn` (no training, so both
sides see the same network at once); torch-fidelity gets it through register_with_torch_fidelity
and the same module behind GenerativeModelModuleWrapper, fid=True, against the same 10,000
reference images. Noise is drawn differently on each side (torch.Generator vs numpy RandomState),
so their FDs (both ~0: generated and reference images come from the same toy) agree only to
sampling noise.

    .venv/bin/pytest bench/test_bench_evaluate.py --benchmark-only -s          # n = 2,000
    AIGC_BENCH_LARGE=1 .venv/bin/pytest bench/test_bench_evaluate.py -s        # and n = 50,000
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

N_REFERENCE = 10_000
Z = 3 * 8 * 8


def _toy_module():
    import torch

    class Toy(torch.nn.Module):
        """z (B x 192, uniform [0, 1]) -> uint8 B x 3 x 32 x 32 (torch-fidelity feeds this to the extractor)."""

        def forward(self, z):
            x = torch.nn.functional.interpolate(z.view(-1, 3, 8, 8), size=32, mode="bilinear", align_corners=False)
            return torch.floor(x * 255 + 0.5).to(torch.uint8)

    return Toy()


def _side(side: str, n: int) -> dict:
    """Run one side in this process; returns wall seconds, RSS before and peak, and FD."""
    import resource

    import numpy as np
    import torch

    from aigc_eval.data.base import ImageDataset
    from aigc_eval.features import build_extractor

    torch.set_num_threads(1)
    toy = _toy_module()
    rng = torch.Generator().manual_seed(12345)
    reference = torch.cat([toy(torch.rand(1000, Z, generator=rng)) for _ in range(N_REFERENCE // 1000)]).numpy()
    shape_only = ImageDataset("toy", reference[:0], np.zeros(0, np.int64), reference[:0], np.zeros(0, np.int64), ())
    extractor = build_extractor("random-cnn", shape_only)
    with open("/proc/self/clear_refs", "w") as fh:  # Linux: the peak RSS restarts from the current RSS
        fh.write("5")
    before = _current_rss_mb()
    t0 = time.perf_counter()
    if side == "aigc-eval":
        import aigc_eval

        result = aigc_eval.evaluate(lambda b, g: toy(torch.rand(b, Z, generator=g)), reference, metrics=["fd"],
                                    extractor="random-cnn", n=n, batch_size=500, device="cpu", threads=1,
                                    log=lambda m: None)
        fd = result["fd_random-cnn"]
    else:
        import torch_fidelity

        from aigc_eval.features.fidelity import TensorImages, register_with_torch_fidelity

        name = register_with_torch_fidelity(extractor)
        generator = torch_fidelity.GenerativeModelModuleWrapper(toy, Z, "uniform_0_1", 0)
        out = torch_fidelity.calculate_metrics(input1=generator, input1_model_num_samples=n,
                                               input2=TensorImages(reference), fid=True, feature_extractor=name,
                                               batch_size=500, cuda=False, cache=False, save_cpu_ram=True,
                                               verbose=False)
        fd = out["frechet_inception_distance"]
    return {"side": side, "n": n, "wall_s": round(time.perf_counter() - t0, 2), "rss_before_mb": round(before, 1),
            "peak_above_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before, 1), "fd": fd}


def _current_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


def _run(side: str, n: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, side, str(n)], capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("n", [2000, pytest.param(50_000, marks=pytest.mark.large)])
def test_generator_callable_vs_torch_fidelity(pinned_benchmark, n):
    found = {}

    def both():
        found["ours"], found["theirs"] = _run("aigc-eval", n), _run("torch-fidelity", n)

    pinned_benchmark.pedantic(both, rounds=1, iterations=1)
    ours, theirs = found["ours"], found["theirs"]
    pinned_benchmark.extra_info.update({"aigc_eval": ours, "torch_fidelity": theirs})
    print(f"\nn={n}: aigc-eval {ours['wall_s']} s, +{ours['peak_above_mb']} MB peak RSS, FD {ours['fd']:.4f}; "
          f"torch-fidelity {theirs['wall_s']} s, +{theirs['peak_above_mb']} MB, FD {theirs['fd']:.4f}")
    assert ours["peak_above_mb"] < 1536  # issue 14: <= 1.5 GB above the extractor's weights at 50k
    # both sides draw from the same distribution as the reference (different noise): FD is ~0 on both
    assert 0 <= ours["fd"] < 0.05 and 0 <= theirs["fd"] < 0.05


if __name__ == "__main__":
    print(json.dumps(_side(sys.argv[1], int(sys.argv[2]))))
