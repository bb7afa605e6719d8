"""Blocked Euclidean k-NN over feature sets too large for a full distance matrix.

torch-fidelity's default precision/recall builds full N x N matrices (~35-40 GB at N=50k). Here a
block of rows is compared with all columns at a time, so memory is bounded by `max_block_elems`
whatever N is. Distances come from `torch.cdist` on column chunks of `COLUMN_CHUNK`, exactly as
torch-fidelity computes them (its `prc_batch_size` default), so radii and ball tests agree with it
bit for bit on sets that fit one block.
"""
from __future__ import annotations

from typing import Iterator

import torch

COLUMN_CHUNK = 10_000  # torch-fidelity's prc_batch_size default
# 2**25 float32 distances = 128 MiB per block; with cdist's temporaries the blocked pass stays
# well under 1 GiB on top of the features themselves.
DEFAULT_BLOCK_ELEMS = 2**25


def as_tensor(x, device: str = "cpu", dtype: torch.dtype | None = None) -> torch.Tensor:
    """A feature matrix as a contiguous tensor on `device`; float64 stays float64, else float32."""
    t = torch.as_tensor(x)
    if dtype is None:
        dtype = torch.float64 if t.dtype == torch.float64 else torch.float32
    return t.to(device=device, dtype=dtype).contiguous()


def distance_blocks(x: torch.Tensor, y: torch.Tensor,
                    max_block_elems: int = DEFAULT_BLOCK_ELEMS) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield (rows, D) with D = ||x[rows] - y||, a block of rows against every row of y."""
    rows_per_block = max(1, min(len(x), max_block_elems // max(1, len(y))))
    for start in range(0, len(x), rows_per_block):
        rows = slice(start, min(start + rows_per_block, len(x)))
        xb = x[rows]
        yield rows, torch.cat([torch.cdist(xb, yc) for yc in y.split(COLUMN_CHUNK)], dim=1)


def kth_neighbour_radii(x: torch.Tensor, k: int, max_block_elems: int = DEFAULT_BLOCK_ELEMS) -> torch.Tensor:
    """Distance from each point of x to its k-th nearest *other* point of x.

    The point itself is the nearest (distance ~0), so this is the (k+1)-th smallest distance, as
    in torch-fidelity and prdc.
    """
    if len(x) <= k:
        raise ValueError(f"k-th neighbour radius needs more than k={k} points, got {len(x)}")
    radii = torch.empty(len(x), dtype=x.dtype, device=x.device)
    for rows, d in distance_blocks(x, x, max_block_elems):
        # the same value as torch-fidelity's kthvalue(k + 1), 13x faster on CPU (0.09 s vs 1.18 s
        # for 4000 x 4000); topk sorts its k + 1 smallest, so the last is the (k+1)-th
        radii[rows] = d.topk(k + 1, dim=1, largest=False).values[:, -1]
    return radii


def nearest_neighbours(x: torch.Tensor, y: torch.Tensor,
                       max_block_elems: int = DEFAULT_BLOCK_ELEMS) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance from each point of x to its nearest point of y, and that point's index in y."""
    dist = torch.empty(len(x), dtype=x.dtype, device=x.device)
    index = torch.empty(len(x), dtype=torch.int64, device=x.device)
    for rows, d in distance_blocks(x, y, max_block_elems):
        dist[rows], index[rows] = d.min(dim=1)
    return dist, index


def nearest_distances(x: torch.Tensor, y: torch.Tensor,
                      max_block_elems: int = DEFAULT_BLOCK_ELEMS) -> torch.Tensor:
    """Distance from each point of x to its nearest point of y."""
    return nearest_neighbours(x, y, max_block_elems)[0]
