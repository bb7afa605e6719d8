"""The oracle's reading of each sample the report shows, so that a reader can point at a
hallucination: per tile of a sample grid on `shapes` (verdict, reason, the factors read, RMS,
and what was requested), per shown sentence on `facts` (true / false / ungrammatical and why).

Computed once per cell, next to its samples (harness/tracks.py), and kept in the cell's results
(`sample_grid`, `sample_text_readings`), so a report can be rebuilt from results.json alone.
Datasets without an oracle get None.
"""
from __future__ import annotations

import numpy as np


def _factor_text(meta: dict, label: int) -> str:
    from .shapes import ShapesWorld

    factors = ShapesWorld.factors_of([label])[0]
    return " ".join(str(meta["factor_values"][name][int(i)]) for name, i in zip(meta["factor_names"], factors))


def grid_readings(samples: np.ndarray, labels, meta: dict, layout: list[list[int]], cols: int) -> dict | None:
    """{rows, cols, tile: [h, w], tiles: [{row, col, verdict, reason, read, requested, rms}]} for
    the grid `layout` (sample indices per row) `cols` tiles wide, as make_grid_png draws it; None
    without an oracle."""
    if meta.get("world") != "shapes":
        return None
    from ..metrics.shapes_oracle import judge

    where = [(r, c, int(i)) for r, row in enumerate(layout) for c, i in enumerate(row)]
    found = judge(samples[[i for _, _, i in where]], meta)
    tiles = []
    for k, (r, c, i) in enumerate(where):
        tile = {"row": r, "col": c, "verdict": str(found.verdict[k]), "reason": str(found.reason[k]),
                "read": _factor_text(meta, int(found.labels[k])), "rms": round(float(found.rms[k]), 1)}
        if labels is not None:
            tile["requested"] = _factor_text(meta, int(labels[i]))
        tiles.append(tile)
    return {"rows": len(layout), "cols": cols, "tile": list(samples.shape[2:]),
            "tiles": tiles}


def text_readings(sentences: list[str], labels, meta: dict) -> list[dict] | None:
    """[{verdict, reason, relation, requested}] per sentence on `facts`; None without an oracle."""
    if meta.get("world") != "facts":
        return None
    from .facts import RELATIONS, FactsWorld

    world = FactsWorld.generate(int(meta["world_seed"]))
    out = []
    for k, sentence in enumerate(sentences):
        j = world.judge(sentence)
        reading = {"verdict": j.verdict, "reason": j.reason, "relation": j.relation or ""}
        if labels is not None:
            reading["requested"] = RELATIONS[int(labels[k])]
        out.append(reading)
    return out
