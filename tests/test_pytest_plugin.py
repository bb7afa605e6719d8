"""The pytest plugin, run with pytester on the documented example, examples/test_my_model.py."""
from __future__ import annotations

import importlib.util
import json
import shutil
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "test_my_model.py"
# Installed, the package loads the plugin through its pytest11 entry point; from a bare checkout
# it must be named, and naming it when installed would register it twice.
PLUGIN_ARGS = [] if any(ep.name == "aigc_eval" for ep in entry_points(group="pytest11")) \
    else ["-p", "aigc_eval.pytest_plugin"]


@pytest.fixture(scope="module")
def example_baseline():
    """The example model's results on the baseline seeds, as its __main__ would write them."""
    spec = importlib.util.spec_from_file_location("example_test_my_model", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.score_my_model(module.BASELINE_SEEDS)


@pytest.fixture
def project(pytester, example_baseline, monkeypatch):
    """A user's project: the example test file and a baseline.json."""
    monkeypatch.delenv("MY_MODEL_BANDWIDTH", raising=False)
    shutil.copy(EXAMPLE, pytester.path / EXAMPLE.name)
    (pytester.path / "baseline.json").write_text(json.dumps(example_baseline))
    return pytester


def test_the_example_passes_against_a_baseline_of_other_seeds(project):
    result = project.runpytest("--aigc-baseline", "baseline.json", *PLUGIN_ARGS)
    result.assert_outcomes(passed=1)


def test_the_example_fails_with_the_gate_table_on_a_degraded_model(project, monkeypatch):
    monkeypatch.setenv("MY_MODEL_BANDWIDTH", "60")
    result = project.runpytest("--aigc-baseline", "baseline.json", *PLUGIN_ARGS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*## aigc-eval gate: FAIL (1 regressed, 0 missing, 0 failed seeds*",
                                 "| my_model | digits | fd_digits-cnn ↓ | * | **REGRESSION**: worse beyond noise*"])
    assert "Traceback" not in result.stdout.str()


def test_ini_settings_name_baseline_and_tolerances_relative_to_the_ini_file(project, monkeypatch):
    monkeypatch.setenv("MY_MODEL_BANDWIDTH", "60")
    (project.path / "ci").mkdir()
    (project.path / "ci" / "tolerances.toml").write_text('[gate.tolerances]\n"fd_*" = {abs = 40.0}\n')
    project.makeini("[pytest]\naigc_baseline = baseline.json\naigc_tolerances = ci/tolerances.toml\n")
    project.runpytest(*PLUGIN_ARGS).assert_outcomes(passed=1)
    # The command line wins over the ini file.
    (project.path / "ci" / "tight.toml").write_text('[gate.tolerances]\n"fd_*" = {abs = 0.1}\n')
    project.runpytest("--aigc-tolerances", "ci/tight.toml", *PLUGIN_ARGS).assert_outcomes(failed=1)


# The two below check the plugin's own errors; a test that scores nothing keeps them quick.
GATE_NOTHING = "def test_gate(aigc_gate):\n    aigc_gate({'run_id': 'empty', 'leaderboard': []})\n"


def test_without_a_baseline_the_test_is_skipped_with_the_reason(pytester):
    pytester.makepyfile(GATE_NOTHING)
    result = pytester.runpytest("-rs", *PLUGIN_ARGS)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no aigc-eval baseline: pass --aigc-baseline PATH or set aigc_baseline*"])


def test_an_unreadable_baseline_fails_with_one_line_naming_it(pytester):
    pytester.makepyfile(GATE_NOTHING)
    (pytester.path / "broken.json").write_text('{"leaderboard": [')
    result = pytester.runpytest("--aigc-baseline", "broken.json", *PLUGIN_ARGS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*--aigc-baseline *broken.json: not valid JSON (Expecting value at line 1)*"])
    assert "Traceback" not in result.stdout.str() and "another exception" not in result.stdout.str()
