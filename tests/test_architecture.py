"""The structural rules of issue 12, checked so that they stay true: no hidden import cycles between the
gate, the history, the results type and the harness; no kind-branches in the harness or `score`; a gate
that only judges."""
from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "aigc_eval"
LAYERS = ("aigc_eval.gate", "aigc_eval.history", "aigc_eval.results", "aigc_eval.harness")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def _imported(node, module: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = module.rsplit(".", node.level)[0] if node.level else ""
    target = ".".join(p for p in (base, node.module or "") if p)
    return [target] + [f"{target}.{a.name}" for a in node.names]


def _in_layers(name: str) -> bool:
    return any(name == layer or name.startswith(layer + ".") for layer in LAYERS)


def test_no_function_level_imports_between_gate_history_results_and_harness():
    found = []
    for path in PACKAGE.rglob("*.py"):
        module = _module(path)
        if not _in_layers(module):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                hidden = [n for n in _imported(node, module) if _in_layers(n)]
                if hidden:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} imports {hidden[0]}")
    assert found == []


def test_the_harness_and_score_hold_no_kind_branches():
    paths = [*sorted((PACKAGE / "harness").glob("*.py")), PACKAGE / "score.py"]
    found = [f"{p.name}:{i}" for p in paths for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"kind ==", line)]
    assert found == []


def test_the_gate_only_judges():
    source = (PACKAGE / "gate.py").read_text()
    assert len(source.splitlines()) < 250
    assert "json" not in re.findall(r"^import (\w+)", source, re.M)  # reading results is results.py's job
    assert "def format_markdown" not in source and "def load_results" not in source
