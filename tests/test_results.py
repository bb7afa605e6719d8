"""The results type and signatures: the one builder and reader of results dicts, the one signature parser."""
from __future__ import annotations

import json

import pytest

from aigc_eval.errors import UserError
from aigc_eval.results import RESULTS_SCHEMA_VERSION, CellResult, RunResults, metric_entries, validate_results
from aigc_eval.signature import Score, Signature

SIG = "fd|ext:digits-cnn@dbba583b874b|n_gen:100|n_ref:180|seed:2|tf:0.4.0|torch:2.14.1|ae:0.9.0"


def test_signature_parse_round_trips_and_ignores_only_the_seed():
    sig = Signature.parse(SIG)
    assert sig.metric == "fd" and sig.fields["n_gen"] == "100" and str(sig) == SIG
    assert sig.comparable(Signature.parse(SIG.replace("seed:2", "seed:7")))
    built = Signature.build("fd", ext="digits-cnn@dbba583b874b", n_gen=100, n_ref=180, seed=0)
    assert Signature.parse(str(built)).comparable(built)  # ints that went through text still compare
    other = Signature.parse(SIG.replace("n_gen:100", "n_gen:200"))
    assert not sig.comparable(other) and sig.difference(other) == "n_gen: 100 → 200"
    assert sig.difference(Signature.parse(SIG.replace("fd|", "kid|"))) == "metric: fd → kid"
    assert str(sig.without_seed()) == SIG.replace("|seed:2", "")
    assert str(Signature.parse("x|flag|k:v")) == "x|flag|k:v"


def _cell(seed, value, status="done"):
    cell = CellResult("dcgan", "digits", seed, "image", status=status, error=None if status == "done" else "boom")
    if status == "done":
        cell.set_scores([Score("fd", value, Signature("fd", {"n_gen": 10, "seed": seed}), False, "FD")])
    return cell


def test_run_results_aggregate_cells_and_round_trip_through_json():
    run = RunResults("r1", [_cell(0, 10.0), _cell(1, 14.0), _cell(2, 0.0, status="failed")],
                     created="2026-12-03T00:00:00Z", suite={"name": "t"}, versions={}, machine={}, runtime={},
                     phases={}, extractors={})
    doc = json.loads(json.dumps(run.to_json()))
    validate_results(doc)
    assert doc["schema_version"] == RESULTS_SCHEMA_VERSION
    (row,) = doc["leaderboard"]
    assert row["seeds"] == [0, 1] and row["failed_seeds"] == [2]
    assert row["metrics"]["fd"]["mean"] == 12.0 and row["metrics"]["fd"]["std"] == pytest.approx(2 ** 1.5)
    assert "curves" not in doc["cells"][0]  # optional fields a cell does not have stay out
    assert RunResults.from_json(doc).to_json() == doc
    entry = metric_entries(doc)[("dcgan", "digits", "fd")]
    assert entry.values == (10.0, 14.0) and entry.seeds == (0, 1) and entry.signature.metric == "fd"


@pytest.mark.parametrize("doc,message", [
    ({"dataset": "d", "seed": 0, "metrics": {}}, "cell: no model"),
    ({"model": "m", "dataset": "d", "seed": 0, "metrics": {}, "status": "melted"}, "status 'melted'"),
    ({"model": "m", "dataset": "d", "seed": 0, "metrics": {"fd": {"value": 1.0}}}, "metrics must map"),
])
def test_cell_result_from_json_names_what_is_wrong(doc, message):
    with pytest.raises(UserError, match=message):
        CellResult.from_json(doc)


def test_run_results_from_json_refuses_another_schema_version():
    with pytest.raises(UserError, match="results schema_version 2; this aigc-eval reads version 1"):
        RunResults.from_json({"schema_version": 2, "leaderboard": []})
