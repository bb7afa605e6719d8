"""The harness: resumable, cached, deterministic cells; divergence is contained."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aigc_eval.errors import UserError
from aigc_eval.harness.cell import run_cell
from aigc_eval.harness.tracks import get_context
from aigc_eval.harness.suite import load_suite, parse_suite
from aigc_eval.models import MODELS
from aigc_eval.runtime import setup_runtime
from reference_models.dcgan import DCGAN


def _suite(models=("dcgan",), steps=12, seeds=(0,), calibration=()):
    raw = {"name": "t", "seeds": list(seeds),
           "train": {"steps": steps, "batch_size": 16, "checkpoint_every": 4},
           "eval": {"n_samples": 40, "image_metrics": [], "checkpoint_metrics": []},
           "datasets": [{"name": "digits", "models": list(models), "calibration": list(calibration)}]}
    return parse_suite(raw, "test-suite")


@pytest.fixture(scope="module")
def ctx():
    return get_context("digits", {}, None, "cpu", log=lambda m: None)


@pytest.fixture(scope="module")
def runtime():
    return setup_runtime("cpu", 1)


def test_interrupted_cell_resumes_to_identical_result(tmp_path, ctx, runtime):
    spec = _suite().cells[0]
    full = run_cell(spec, ctx, tmp_path / "full", runtime, progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_cell(spec, ctx, tmp_path / "cut", runtime, progress=False, stop_at_step=8)
    assert not (tmp_path / "cut" / "cell.json").exists()
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["step"] == 8
    resumed = run_cell(spec, ctx, tmp_path / "cut", runtime, progress=False)
    assert resumed["curves"] == full["curves"]
    a = np.load(tmp_path / "full" / "samples.npz")["samples"]
    b = np.load(tmp_path / "cut" / "samples.npz")["samples"]
    np.testing.assert_array_equal(a, b)


def test_finished_cell_is_not_rerun_unless_forced(tmp_path, ctx, runtime, monkeypatch):
    spec = _suite().cells[0]
    first = run_cell(spec, ctx, tmp_path / "c", runtime, progress=False)
    calls = []
    original = DCGAN.train_step
    monkeypatch.setattr(DCGAN, "train_step", lambda self, x, y: calls.append(1) or original(self, x, y))
    again = run_cell(spec, ctx, tmp_path / "c", runtime, progress=False)
    assert again.get("cached") and calls == []
    assert again["curves"] == first["curves"]
    run_cell(spec, ctx, tmp_path / "c", runtime, progress=False, force=True)
    assert len(calls) == spec.train["steps"]


def test_same_seed_same_numbers_other_seed_differs(tmp_path, ctx, runtime):
    s0a, s1 = _suite(seeds=(0, 1)).cells
    a = run_cell(s0a, ctx, tmp_path / "a", runtime, progress=False)
    b = run_cell(s0a, ctx, tmp_path / "b", runtime, progress=False)
    c = run_cell(s1, ctx, tmp_path / "c", runtime, progress=False)
    assert a["curves"] == b["curves"]
    assert a["curves"]["loss_d"] != c["curves"]["loss_d"]


class _ExplodingModel(DCGAN):
    """DCGAN whose loss turns NaN at step 3, to check that divergence is contained."""

    def train_step(self, x, y=None):
        self.calls = getattr(self, "calls", 0) + 1
        losses = super().train_step(x, y)
        return {**losses, "loss_g": float("nan")} if self.calls == 3 else losses


def test_nan_loss_marks_cell_diverged_and_suite_goes_on(tmp_path, monkeypatch, runtime):
    MODELS._entries["exploding"] = _ExplodingModel
    import reference_models.dcgan as dcgan_module

    monkeypatch.setattr(_ExplodingModel, "__module__", dcgan_module.__name__)
    try:
        from aigc_eval.harness.executor import LocalExecutor

        suite = _suite(models=("exploding", "dcgan"))
        ctx = get_context("digits", {}, None, "cpu", log=lambda m: None)
        jobs = [(s, ctx, tmp_path / s.name) for s in suite.cells]
        results = LocalExecutor().run(jobs, runtime, progress=False, log=lambda m: None)
    finally:
        del MODELS._entries["exploding"]
    assert results[0]["status"] == "diverged"
    assert "loss_g became nan at step 3" in results[0]["error"]
    assert results[1]["status"] == "done"
    assert json.loads((tmp_path / suite.cells[0].name / "cell.json").read_text())["status"] == "diverged"


@pytest.mark.parametrize("raw, message", [
    ({"datasets": [{"name": "nope", "models": ["dcgan"]}]}, "unknown dataset 'nope'; valid datasets: "),
    ({"datasets": [{"name": "digits", "models": ["gpt5"]}]}, "unknown model 'gpt5'; valid models: "),
    ({"eval": {"image_metrics": ["fidd"]}, "datasets": [{"name": "digits", "models": ["dcgan"]}]},
     "unknown metric 'fidd'; valid metrics: "),
    ({"train": {"stepz": 3}, "datasets": [{"name": "digits", "models": ["dcgan"]}]}, "unknown key(s) stepz"),
    ({"seeds": [], "datasets": [{"name": "digits", "models": ["dcgan"]}]}, "seeds: expected at least 1 item"),
])
def test_bad_suite_names_the_problem(raw, message):
    with pytest.raises(UserError, match=None) as err:
        parse_suite(raw, "my.toml")
    assert message in str(err.value) and str(err.value).startswith("my.toml: ")


def test_unknown_model_config_key_is_a_user_error(tmp_path, ctx, runtime):
    raw = {"datasets": [{"name": "digits", "models": ["dcgan"]}], "models": {"dcgan": {"config": {"zdim": 3}}}}
    with pytest.raises(UserError, match=r"s.toml: \[models.dcgan\]: unknown config key\(s\) zdim"):
        parse_suite(raw, "s.toml")  # before any cell runs


def test_builtin_suites_parse_and_unknown_suite_lists_them():
    for name in ("smoke", "default", "converged", "full"):
        assert load_suite(name).cells
    with pytest.raises(UserError, match="built-in suites: .*smoke"):
        load_suite("nosuch")


@pytest.mark.slow
def test_compiled_networks_train_like_eager_ones(tmp_path, ctx):
    """--compile wraps each network in torch.compile in place: same losses (to float tolerance), and
    the checkpoint keeps the eager state_dict keys."""
    raw = {"train": {"steps": 3, "batch_size": 16, "checkpoint_every": 3},
           "eval": {"n_samples": 20, "image_metrics": [], "checkpoint_metrics": []},
           "datasets": [{"name": "digits", "models": ["vae"]}]}
    spec = parse_suite(raw, "t").cells[0]
    eager = run_cell(spec, ctx, tmp_path / "eager", setup_runtime("cpu", 1), progress=False)
    compiled = run_cell(spec, ctx, tmp_path / "compiled", setup_runtime("cpu", 1, compile=True), progress=False)
    assert compiled["status"] == "done", compiled["error"]
    np.testing.assert_allclose(compiled["curves"]["loss"], eager["curves"]["loss"], rtol=1e-4)
    keys = lambda d: set(torch.load(d / "checkpoint.pt", weights_only=True)["model"]["model"])  # noqa: E731
    assert keys(tmp_path / "compiled") == keys(tmp_path / "eager")


def test_conditional_models_get_the_datasets_label_factors(runtime):
    from types import SimpleNamespace

    from aigc_eval.data import load_dataset
    from aigc_eval.harness.cell import build_model

    datasets = [{"name": "shapes", "models": ["cvae", "cgan", "dcgan"]}, {"name": "digits", "models": ["cvae"]}]
    suite = parse_suite({"name": "t", "seeds": [0], "datasets": datasets}, "test-suite")
    contexts = {name: SimpleNamespace(dataset=load_dataset(name)) for name in ("shapes", "digits")}
    built = {(s.model, s.dataset): build_model(s, contexts[s.dataset], runtime)[0].factor_sizes
             for s in suite.cells}
    assert built == {("cvae", "shapes"): (4, 5, 2, 9), ("cgan", "shapes"): (4, 5, 2, 9),
                     ("dcgan", "shapes"): (360,), ("cvae", "digits"): (10,)}


def test_a_cell_finished_by_other_code_is_not_reused(tmp_path, monkeypatch):
    import aigc_eval.harness.suite as suite_module

    spec = _suite().cells[0]
    before = spec.config_hash("data", "cpu")
    assert spec.config_hash("data", "cpu") == before
    monkeypatch.setattr(suite_module, "code_fingerprint", lambda: "edited-model")
    assert spec.config_hash("data", "cpu") != before


def test_requested_labels_reach_held_out_shapes_combinations_with_fewer_samples_than_classes():
    from types import SimpleNamespace

    from aigc_eval.data import load_dataset
    from aigc_eval.harness.evaluate import requested_labels
    from aigc_eval.worlds.shapes import FACTOR_SHAPE, ShapesWorld

    conditional = SimpleNamespace(conditional=True)
    shapes = SimpleNamespace(dataset=load_dataset("shapes"))
    labels = requested_labels(conditional, shapes, 180, seed=0)
    assert len(np.unique(labels)) == 180
    assert np.isin(labels, shapes.dataset.meta["heldout_labels"]).sum() == 13
    factors = ShapesWorld.factors_of(labels)
    assert [len(np.unique(factors[:, i])) for i in range(4)] == list(FACTOR_SHAPE)
    digits = SimpleNamespace(dataset=load_dataset("digits"))
    assert np.bincount(requested_labels(conditional, digits, 180, seed=0)).tolist() == [18] * 10
    assert requested_labels(SimpleNamespace(conditional=False), digits, 180, seed=0) is None
