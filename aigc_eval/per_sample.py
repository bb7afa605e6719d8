"""Per-sample scores: the metrics' per-sample columns ({column: values}, filled through
ImageEvalSet.add_per_sample) as a table and a CSV (Results.per_sample, `score --per-sample`, a
run cell's per_sample.csv), and the worst offenders among them, which the report shows as
thumbnails beside the metrics:

* oracle: the samples the world's oracle rejected, hallucinated before ambiguous, taken in turn
  from each reason (commonest reason first), so that a strip of 8 shows the kinds of failure
  rather than 8 of the commonest one;
* memorization: the samples nearest to a training image (pixel distance, smallest first), each
  to be shown above that training image, so that a person sees at once whether it is a copy.

Pure selection on arrays; the track renders the thumbnails (tracks.ImageTrack.extras).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SHOWN = 8  # thumbnails per strip: one row of the report's 8-wide sample grid
REJECTED = ("hallucinated", "ambiguous")


def per_sample_table(columns: dict):
    """One row per generated sample (`sample`: its index) with the per-sample columns."""
    import pandas as pd

    n = len(next(iter(columns.values()), []))
    return pd.DataFrame({"sample": range(n), **columns})


def write_per_sample_csv(path, columns: dict) -> Path:
    """per_sample_table(columns) as CSV at `path`, written atomically."""
    from .atomic import save_with

    table = per_sample_table(columns)
    return save_with(Path(path), lambda tmp: table.to_csv(tmp, index=False))


def oracle_offenders(per_sample: dict, shown: int = SHOWN) -> dict | None:
    """{n, n_rejected, samples: [{sample, verdict, reason, read}]}, or None without oracle columns."""
    verdict = per_sample.get("oracle_verdict")
    if verdict is None:
        return None
    verdict = np.asarray(verdict, dtype=object)
    reason = np.asarray(per_sample.get("oracle_reason", [""] * len(verdict)), dtype=object)
    read = np.asarray(per_sample.get("oracle_read", [""] * len(verdict)), dtype=object)
    picked: list[int] = []
    for kind in REJECTED:
        queues: dict[str, list[int]] = {}
        for i in np.flatnonzero(verdict == kind):
            queues.setdefault(str(reason[i]), []).append(int(i))
        ordered = sorted(queues.values(), key=len, reverse=True)  # commonest reason first, then in turn
        for k in range(max((len(q) for q in ordered), default=0)):
            picked += [q[k] for q in ordered if k < len(q)]
    n_rejected = len(picked)
    return {"n": int(len(verdict)), "n_rejected": n_rejected,
            "samples": [{"sample": i, "verdict": str(verdict[i]), "reason": str(reason[i]), "read": str(read[i])}
                        for i in picked[:shown]]}


def memorization_offenders(per_sample: dict, shown: int = SHOWN) -> dict | None:
    """{n_scored, n_memorized, samples: [{sample, train_index, distance, memorized}]}, nearest first,
    or None without memorization's columns (samples outside its capped subset are blank: NaN)."""
    distance = per_sample.get("nearest_train_distance")
    if distance is None:
        return None
    distance = np.asarray(distance, dtype=np.float64)
    index, memorized = per_sample["nearest_train_index"], per_sample["memorized"]
    scored = np.flatnonzero(np.isfinite(distance))
    nearest = scored[np.argsort(distance[scored], kind="stable")][:shown]
    return {"n_scored": int(len(scored)), "n_memorized": int(sum(bool(memorized[i]) for i in scored)),
            "samples": [{"sample": int(i), "train_index": int(index[i]), "distance": round(float(distance[i]), 4),
                         "memorized": bool(memorized[i])} for i in nearest]}
