"""Refactorings keep the numbers: a fresh smoke run's deterministic values are bit-identical to the
committed copy (tests/data/smoke_values.json; first taken before the redesign of issue 12, and
regenerated only by changes meant to move numbers, such as a new model in the smoke suite)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from smoke_values import deterministic_values

COMMITTED = Path(__file__).with_name("data") / "smoke_values.json"


def _differences(before, now, path="") -> list[str]:
    """Paths of the leaves that differ (NaN equals NaN: a value that stays NaN has not moved)."""
    if isinstance(before, dict) and isinstance(now, dict):
        out = [f"{path}/{k}: only {'before' if k in before else 'now'}" for k in before.keys() ^ now.keys()]
        for k in before.keys() & now.keys():
            out += _differences(before[k], now[k], f"{path}/{k}")
        return out
    if isinstance(before, list) and isinstance(now, list) and len(before) == len(now):
        return [d for i, (a, b) in enumerate(zip(before, now)) for d in _differences(a, b, f"{path}[{i}]")]
    same = before == now or (isinstance(before, float) and isinstance(now, float)
                             and math.isnan(before) and math.isnan(now))
    return [] if same else [f"{path}: {before!r} -> {now!r}"]


def test_differences_finds_a_moved_value_and_ignores_nan():
    assert _differences({"a": [1.0, math.nan]}, {"a": [1.0, math.nan]}) == []
    assert _differences({"a": [1.0, 2.0]}, {"a": [1.0, 2.0000000000000004]}) == ["/a[1]: 2.0 -> 2.0000000000000004"]
    assert _differences({"a": 1}, {"b": 1}) == ["/a: only before", "/b: only now"] or \
        _differences({"a": 1}, {"b": 1}) == ["/b: only now", "/a: only before"]


def test_smoke_values_are_bit_identical_to_the_committed_copy(smoke_run):
    _, results = smoke_run
    before = json.loads(COMMITTED.read_text(encoding="utf-8"))
    now = json.loads(json.dumps(deterministic_values(results)))  # the same JSON round trip as the copy
    assert len(before["cells"]) == 51 and len(now["cells"]) == len(before["cells"])
    diffs = _differences(before, now)
    assert diffs == [], f"{len(diffs)} values moved, e.g.:\n" + "\n".join(sorted(diffs)[:20])
