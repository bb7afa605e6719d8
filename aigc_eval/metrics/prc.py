"""Precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020).

Each feature vector gets a ball whose radius is the distance to its k-th nearest neighbour in its
own set (k=3 by default, for all four numbers). With G the generated and R the real features:

    precision = share of g in G inside some real ball      (fidelity: samples look real)
    recall    = share of r in R inside some generated ball  (diversity: real data is reached)
    density   = (1 / (k |G|)) * sum over g of the number of real balls containing g
                (precision that counts multiplicity; ~1 when G and R share a distribution)
    coverage  = share of real balls that contain some g   (recall measured from the real side)

"Inside" is distance <= radius, as in torch-fidelity (the prdc reference code uses <; they differ
only on exact ties). Distances are `torch.cdist` in float32 (float64 if the features are), as
torch-fidelity computes them.

Streamed: one pass over G x G and one over R x R for the radii, then a single pass over the
G x R distances, a block of rows at a time, yields all four numbers. Memory is the features plus
one block (neighbours.DEFAULT_BLOCK_ELEMS). Measured (bench/test_bench_metrics.py::
test_prc_50k_memory, one thread): 50,000 vs 50,000 at 2048-d peaks at 2.4 GB RSS for the whole
process, 0.8 GB of it the features (torch-fidelity's full path needs ~35-40 GB); ~11-12 M
distance pairs per second per pass; the 50k run took ~8 min of CPU time.
"""
from __future__ import annotations

import torch

from ..errors import NotApplicable, UserError
from .base import Metric
from .neighbours import DEFAULT_BLOCK_ELEMS, as_tensor, distance_blocks, kth_neighbour_radii


@torch.no_grad()
def precision_recall_density_coverage(generated, real, k: int = 3, device: str = "cpu",
                                      max_block_elems: int = DEFAULT_BLOCK_ELEMS) -> dict:
    gen = as_tensor(generated, device)
    ref = as_tensor(real, device, dtype=gen.dtype)
    gen_radii = kth_neighbour_radii(gen, k, max_block_elems)
    ref_radii = kth_neighbour_radii(ref, k, max_block_elems)
    gen_in_real_ball = torch.zeros(len(gen), dtype=torch.bool, device=gen.device)
    real_balls_per_gen = torch.zeros(len(gen), dtype=torch.int64, device=gen.device)
    real_in_gen_ball = torch.zeros(len(ref), dtype=torch.bool, device=gen.device)
    real_ball_covered = torch.zeros(len(ref), dtype=torch.bool, device=gen.device)
    for rows, d in distance_blocks(gen, ref, max_block_elems):
        inside_real_ball = d <= ref_radii  # [g, r]: g lies in r's ball
        gen_in_real_ball[rows] = inside_real_ball.any(dim=1)
        real_balls_per_gen[rows] = inside_real_ball.sum(dim=1)
        real_ball_covered |= inside_real_ball.any(dim=0)
        real_in_gen_ball |= (d <= gen_radii[rows, None]).any(dim=0)
    return {
        "precision": gen_in_real_ball.double().mean().item(),
        "recall": real_in_gen_ball.double().mean().item(),
        "density": real_balls_per_gen.double().sum().item() / (k * len(gen)),
        "coverage": real_ball_covered.double().mean().item(),
    }


class PrecisionRecall(Metric):
    """Precision, recall, density and coverage of generated vs real test features."""

    name = "prc"
    DESCRIPTIONS = {
        "precision": "Share of generated samples inside the k-NN ball of some real image, in feature space "
                     "(fidelity; higher is better)",
        "recall": "Share of real test images inside the k-NN ball of some generated sample, in feature space "
                  "(diversity; higher is better)",
        "density": "Average number of real k-NN balls containing each generated sample, divided by k "
                   "(fidelity robust to outliers; ~1 for real data, higher is better)",
        "coverage": "Share of real test images whose k-NN ball contains some generated sample "
                    "(diversity robust to outliers; higher is better)",
    }

    def __init__(self, k: int = 3, device: str = "cpu", max_block_elems: int = DEFAULT_BLOCK_ELEMS):
        if k < 1:
            raise UserError(f"prc: expected k >= 1, got {k}")
        self.k = k
        self.device = device
        self.max_block_elems = max_block_elems

    def compute(self, eval_set):
        gen, ref = eval_set.gen["features"], eval_set.ref["features"]
        if min(len(gen), len(ref)) <= self.k:
            raise NotApplicable(f"prc: k={self.k} needs more than {self.k} generated and reference images, "
                                f"got {len(gen)} and {len(ref)}")
        values = precision_recall_density_coverage(gen, ref, self.k, self.device, self.max_block_elems)
        sig = eval_set.signature("prc", k=self.k)
        return [self.score(name, values[name], sig, True, self.DESCRIPTIONS[name]) for name in self.DESCRIPTIONS]
