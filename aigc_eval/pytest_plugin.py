"""pytest plugin: gate your own model's scores against a baseline, with aigc-eval's noise-aware rules.

Fixtures:
- `aigc_eval_baseline`: the baseline results.json named by `--aigc-baseline PATH` or the ini
  setting `aigc_baseline` (relative to the ini file). Skips the test when neither is set.
- `aigc_gate`: `aigc_gate(current_results, metrics=None, models=None, tolerances=None,
  baseline=None)` runs aigc_eval.gate.gate() and fails the test with its Markdown summary on a
  regression beyond noise; returns the GateResult otherwise. Tolerances default to the TOML
  file named by `--aigc-tolerances` / `aigc_tolerances`.

Every pytest session imports this module (the `pytest11` entry point), so it imports nothing
heavy: aigc_eval.gate (numpy, scipy) and the report's Markdown load when a fixture is first used.
"""
from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("aigc-eval")
    group.addoption("--aigc-baseline", metavar="PATH", default=None,
                    help="baseline results.json (or run folder) for the aigc_eval_baseline / aigc_gate fixtures")
    group.addoption("--aigc-tolerances", metavar="TOML", default=None,
                    help="TOML file with a [gate.tolerances] table for the aigc_gate fixture")
    parser.addini("aigc_baseline", "baseline results.json for aigc_gate, relative to the ini file", default="")
    parser.addini("aigc_tolerances", "TOML file with [gate.tolerances] for aigc_gate, relative to the ini file",
                  default="")


def _configured_path(config, name: str) -> Path | None:
    """--aigc-NAME (relative to the invocation directory), else ini aigc_NAME (relative to the ini file)."""
    value = config.getoption(f"aigc_{name}")
    if value:
        return Path(config.invocation_params.dir) / value
    value = config.getini(f"aigc_{name}")
    if value:
        return (config.inipath.parent if config.inipath else config.rootpath) / value
    return None


def _user_errors_fail(fn, *args, **kwargs):
    """fn(...), turning a UserError into a one-line test failure (no traceback, no chained error)."""
    from aigc_eval.errors import UserError

    try:
        return fn(*args, **kwargs)
    except UserError as e:
        message = str(e)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def aigc_eval_baseline(pytestconfig):
    """The baseline results dict; skips when no baseline is configured, fails when it cannot be read."""
    path = _configured_path(pytestconfig, "baseline")
    if path is None:
        pytest.skip("no aigc-eval baseline: pass --aigc-baseline PATH or set aigc_baseline in the ini file")
    from aigc_eval.results import load_results

    return _user_errors_fail(load_results, path, what="--aigc-baseline")


@pytest.fixture
def aigc_gate(request, pytestconfig):
    """A callable that gates a results dict against the baseline and fails the test on a regression."""
    from aigc_eval.gate import gate, load_tolerances
    from aigc_eval.report.markdown import gate_markdown

    def check(current_results, metrics=None, models=None, tolerances=None, baseline=None):
        if baseline is None:
            baseline = request.getfixturevalue("aigc_eval_baseline")
        if tolerances is None:
            path = _configured_path(pytestconfig, "tolerances")
            tolerances = _user_errors_fail(load_tolerances, path) if path else None
        result = _user_errors_fail(gate, current_results, baseline, tolerances=tolerances,
                                   metrics=metrics, models=models)
        if not result.passed:
            pytest.fail(gate_markdown(result), pytrace=False)
        return result

    return check
