"""The real smoke suite end to end: files, schema, calibration rows, and what the user sees."""
from __future__ import annotations

import json

import pytest

from aigc_eval.report import validate_results


def _row(results, model, dataset):
    return next(r for r in results["leaderboard"] if r["model"] == model and r["dataset"] == dataset)


def _mean(results, model, dataset, metric):
    return _row(results, model, dataset)["metrics"][metric]["mean"]


def test_run_folder_has_every_output_and_results_validate(smoke_run):
    run_dir, results = smoke_run
    for name in ("results.json", "leaderboard.csv", "leaderboard.html"):
        assert (run_dir / name).is_file()
    on_disk = json.loads((run_dir / "results.json").read_text())
    validate_results(on_disk)
    assert on_disk["runtime"]["threads"] == 1 and on_disk["runtime"]["device"] == "cpu"
    assert (run_dir.parent / "latest").resolve() == run_dir.resolve()
    assert [c for c in on_disk["cells"] if c["status"] != "done"] == []


def test_every_score_has_a_signature_with_protocol_fields(smoke_run):
    _, results = smoke_run
    for cell in results["cells"]:
        for name, entry in cell["metrics"].items():
            sig = entry["signature"]
            assert f"seed:{cell['seed']}" in sig and "n_gen:" in sig and "|ae:" in sig, (name, sig)
            if cell["kind"] == "image":
                assert "ext:" in sig or "oracle:" in sig, (name, sig)
            if name.startswith("fd_"):
                assert "|tf:" in sig and "|torch:" in sig, (name, sig)


def test_per_seed_values_and_mean_std(smoke_run):
    _, results = smoke_run
    row = _row(results, "dcgan", "digits")
    fd = row["metrics"]["fd_digits-cnn"]
    assert row["seeds"] == [0, 1, 2] and len(fd["values"]) == 3
    assert fd["mean"] == pytest.approx(sum(fd["values"]) / 3)
    assert fd["std"] > 0  # different seeds train different models


def test_image_calibration_rows_bound_the_metrics(smoke_run):
    _, results = smoke_run
    fd = "fd_digits-cnn"
    assert _mean(results, "real-test", "digits", fd) < _mean(results, "noise", "digits", fd) / 10
    assert _mean(results, "copy-train", "digits", "memorization") > 0.95
    assert _mean(results, "real-test", "digits", "memorization") < 0.2
    assert _mean(results, "real-test", "digits", "precision") > 0.8
    assert _mean(results, "noise", "digits", "precision") < 0.05


def test_oracle_calibration_rows(smoke_run):
    _, results = smoke_run
    assert _mean(results, "real-test", "shapes", "hallucination_rate") < 0.01
    assert _mean(results, "noise", "shapes", "hallucination_rate") > 0.99
    assert _mean(results, "real-test", "facts", "true_rate") == 1.0
    assert _mean(results, "unigram", "facts", "ungrammatical_rate") > 0.9


def test_text_track_has_quality_diversity_curve_and_samples(smoke_run):
    _, results = smoke_run
    text_models = [c for c in results["cells"] if c["model"] in ("lm", "csentence_vae")]
    assert len(text_models) == 6  # 2 text models x 3 seeds: the checks below cannot pass on an empty list
    for cell in text_models:
        assert [p["temperature"] for p in cell["qd_curve"]] == [0.8, 1.2]  # the smoke suite's temperatures
        assert len(cell["sample_text"]) == 8 and all(isinstance(s, str) for s in cell["sample_text"])
        assert any(cell["sample_text"])  # a 20-step model may emit an empty sentence, not only empty ones
    html = (smoke_run[0] / "leaderboard.html").read_text()
    for section in ('id="samples"', 'id="plots"', 'id="signatures"', 'id="validity"', 'id="diff"', 'id="history"'):
        assert section in html, section


def test_conditional_models_report_spread_over_sampling_seeds(smoke_run):
    _, results = smoke_run
    cvae = [c for c in results["cells"] if c["model"] == "cvae"]
    assert len(cvae) == 6  # digits and shapes, 3 seeds each
    spreads = {}
    for cell in cvae:
        entry = cell["metrics"]["cond_accuracy_sampling_std"]
        seeds = ",".join(str(1000 * cell["seed"] + k) for k in (1, 2, 3))
        assert entry["signature"].endswith(f"|sampling_seeds:{seeds}") and entry["higher_is_better"] is False
        assert entry["role"] == "uncertainty"
        spreads[(cell["dataset"], cell["seed"])] = entry["value"]
    # A barely trained CVAE's accuracy moves with the sampling seed on digits; on shapes it is 0 on every seed.
    assert max(spreads[("digits", s)] for s in range(3)) > 0.005
    assert [spreads[("shapes", s)] for s in range(3)] == [0.0, 0.0, 0.0]
    vae = [c for c in results["cells"] if c["model"] == "vae"]
    assert len(vae) == 3 and all("cond_accuracy_sampling_std" not in c["metrics"] for c in vae)


def test_knobs_guidance_curves_traversals_and_disentanglement(smoke_run):
    run_dir, results = smoke_run
    cells = {(c["model"], c["seed"]): c for c in results["cells"] if c["dataset"] == "shapes"}
    for seed in range(3):
        curve = cells[("cddpm", seed)]["guidance_curve"]
        assert [p["scale"] for p in curve] == [0.0, 4.0]  # the smoke suite's scales
        assert all(0 <= p["controllability"] <= 1 and 0 <= p["hallucination_rate"] <= 1 and p["fd"] > 0 for p in curve)
        infogan = cells[("infogan", seed)]
        assert [t["code"] for t in infogan["traversals"]] == ["categorical 0", "continuous 0", "continuous 1"]
        assert (run_dir / infogan["traversal_png"]).read_bytes().startswith(b"\x89PNG")
        for model, source in (("cvae", "encoder"), ("infogan", "codes")):
            mig = cells[(model, seed)]["metrics"]["mig"]
            assert f"src:{source}" in mig["signature"] and 0 <= mig["value"] <= 1
        for model in ("dcgan", "ddpm"):  # no encoder, no codes: not scored
            assert "mig" not in cells[(model, seed)]["metrics"]
        assert "guidance_curve" not in cells[("ddpm", seed)] and "traversals" not in cells[("cvae", seed)]
    html = (run_dir / "leaderboard.html").read_text()
    for anchor in ('id="knobs"', 'id="disentanglement"', 'id="guidance"', 'id="traversals"', 'class="traversal"'):
        assert anchor in html, anchor
