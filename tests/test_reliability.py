"""Issue 13's reproductions, each as written: no path escapes, no traceback, no half-written run,
no silent pass. The CLI runs in-process (`cli.main`) where a run is needed, to keep them quick."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aigc_eval import cli

TINY = """
name = {name}
seeds = [0]
[train]
steps = 4
batch_size = 8
checkpoint_every = 2
[eval]
n_samples = {n_samples}
image_metrics = ["fd"]
checkpoint_metrics = []
[[datasets]]
name = "digits"
models = {models}
calibration = ["noise"]
"""


def tiny_suite(path: Path, name='"tiny"', n_samples=40, models='["dcgan"]', extra="") -> Path:
    path.write_text(TINY.format(name=name, n_samples=n_samples, models=models) + extra)
    return path


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("aigc-eval: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


# -- 1. names never escape --out ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../../ESCAPED", "<script>alert(1)</script>", "a/b\\c..d", "..", ""])
def test_suite_name_never_escapes_out(tmp_path, capsys, name):
    suite = tiny_suite(tmp_path / "s.toml", name=json.dumps(name), models="[]")
    out = tmp_path / "trav" / "out"
    code, _, err = run_cli(capsys, "run", "--suite", suite, "--out", out, "--no-progress", "--workers", "1")
    assert code == 0, err
    outside = {p for p in files_under(tmp_path) if out not in p.parents and p != out}
    assert outside == {tmp_path / "s.toml", tmp_path / "trav"}
    runs = [p for p in out.iterdir() if (p / "results.json").is_file() and not p.is_symlink()]
    assert len(runs) == 1 and runs[0].parent == out
    assert os.readlink(out / "latest") == runs[0].name and (out / "latest" / "results.json").is_file()
    results = json.loads((runs[0] / "results.json").read_text())
    assert results["run_id"] == runs[0].name and "/" not in results["run_id"] and ".." not in results["run_id"]
    assert results["suite"]["name"] == name  # the full name is kept as data


def test_safe_name_and_inside():
    from aigc_eval.errors import UserError
    from aigc_eval.validate import inside, safe_name

    assert safe_name("../../../ESCAPED") == "ESCAPED"
    assert safe_name("<script>alert(1)</script>") == "script-alert-1-script"
    assert safe_name("..") == "run" and safe_name("") == "run"
    with pytest.raises(UserError, match="outside the output folder"):
        inside("/tmp/x", "/tmp/x/../y")


# -- 2. one-line errors, exit 2 ---------------------------------------------------------------------

def test_score_out_is_a_regular_file(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    (tmp_path / "g.txt").write_text("a b\nc d\n")
    code, _, err = run_cli(capsys, "score", "--generated", tmp_path / "g.txt", "--reference", tmp_path / "g.txt",
                           "--out", tmp_path / "afile")
    assert_one_line_error(code, err, "exists and is not a folder")


@pytest.mark.parametrize("body, fragment", [
    ('train = 5\n[[datasets]]\nname = "digits"\nmodels = ["dcgan"]\n', "train: expected a [train] table, got 5"),
    ('datasets = "digits"\n', "datasets: expected a list of [[datasets]] tables"),
    ('[[datasets]]\nname = "digits"\noptions = { image_size = -3 }\nmodels = ["dcgan"]\n',
     "image_size: expected an integer in 4..256, got -3"),
    ('[train]\nsteps = -5\n[[datasets]]\nname = "digits"\nmodels = ["dcgan"]\n', "steps: expected an integer in 0.."),
    ('[train]\nbatch_size = 0\n[[datasets]]\nname = "digits"\nmodels = ["dcgan"]\n',
     "batch_size: expected an integer in 1..65536, got 0"),
    ('[train]\nsteps = 2.5\n[[datasets]]\nname = "digits"\nmodels = ["dcgan"]\n', "got 2.5"),
    ('[eval]\nn_samples = "abc"\n[[datasets]]\nname = "digits"\nmodels = ["dcgan"]\n',
     "n_samples: expected an integer in 2..1000000, got 'abc'"),
    ('[eval]\nn_samples = 100000000000\n[[datasets]]\nname = "digits"\nmodels = ["dcgan"]\n',
     "n_samples: expected an integer in 2..1000000"),
    ('seeds = [0, 0]\n[[datasets]]\nname = "digits"\nmodels = ["dcgan"]\n', "repeated values"),
    ('[models.dcgan]\nconfig = { z_dim = "x" }\n[[datasets]]\nname = "digits"\nmodels = ["dcgan"]\n',
     "config.z_dim: expected int"),
])
def test_invalid_suite_values_stop_before_anything_runs(tmp_path, capsys, body, fragment):
    suite = tmp_path / "s.toml"
    suite.write_text(body)
    code, _, err = run_cli(capsys, "run", "--suite", suite, "--out", tmp_path / "o", "--no-progress")
    assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "o" / "cells").exists()


def test_a_cap_that_changes_a_number_is_printed(tmp_path, capsys):
    suite = tiny_suite(tmp_path / "s.toml", n_samples=5000, models="[]")
    code, _, err = run_cli(capsys, "run", "--suite", suite, "--out", tmp_path / "o", "--no-progress")
    assert code == 0
    assert "n_samples = 5000 is capped to 180" in err


@pytest.mark.parametrize("args, fragment", [
    (["score", "--seed", "-1"], "--seed: expected an integer in 0..2147483647, got '-1'"),
    (["score", "--seed", "99999999999"], "got '99999999999'"),
    (["run", "--seed", "-1"], "run: argument --seed: expected an integer"),
    (["run", "--seeds", "0,,1"], "no empty item"),
    (["run", "--threads", "0"], "--threads"),
    (["history", "--limit", "0"], "--limit"),
])
def test_bad_cli_values_are_one_line(capsys, args, fragment):
    if args[0] == "score":
        args = args + ["--generated", "g.npz", "--reference", "digits"]
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("aigc-eval: error: ") and fragment in lines[0], err


def test_score_on_tiny_images_is_one_line(tmp_path, capsys):
    from PIL import Image

    for d in ("ref", "gen"):
        (tmp_path / d).mkdir()
        for i in range(6):
            Image.fromarray(np.full((1, 1), 40 * i, np.uint8)).save(tmp_path / d / f"{i}.png")
    code, _, err = run_cli(capsys, "score", "--generated", tmp_path / "gen", "--reference", tmp_path / "ref",
                           "--out", tmp_path / "o")
    assert_one_line_error(code, err, "1x1 pixels", "at least 4x4")


def test_a_reference_folder_too_small_to_split_is_one_line(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    for d in ("ref", "gen"):
        (tmp_path / d).mkdir()
        for i in range(6):  # the folder dataset's 20% test part: 1 image, which cannot be halved
            Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(tmp_path / d / f"{d}{i}.png")
    code, _, err = run_cli(capsys, "score", "--generated", tmp_path / "gen", "--reference", tmp_path / "ref",
                           "--out", tmp_path / "o")
    assert_one_line_error(code, err, str(tmp_path / "ref"), "test split holds 1 item", "at least 2")


def test_tiny_images_in_memory_are_one_line():
    """Arrays (and folders paired by name, read as arrays) get the folder dataset's size check."""
    import aigc_eval
    from aigc_eval.errors import UserError

    tiny = np.zeros((6, 1, 2, 2), np.uint8)
    with pytest.raises(UserError, match=r"^--reference ndarray \(6, 1, 2, 2\): its images are 2x2 pixels; "
                                        r"images must be at least 4x4"):
        aigc_eval.evaluate(tiny, tiny, log=lambda m: None)


def test_os_errors_are_one_line(tmp_path, capsys, monkeypatch):
    import aigc_eval.history as history

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path / "x"))

    monkeypatch.setattr(history, "history_command", refuse)
    code, _, err = run_cli(capsys, "history", "--db", tmp_path / "x")
    assert_one_line_error(code, err, "Permission denied", str(tmp_path / "x"))


# -- 3. honest outcomes ------------------------------------------------------------------------------

def test_run_exits_1_and_names_failed_cells_unless_keep_going(tmp_path, capsys, monkeypatch):
    import aigc_eval.harness.cell as cell

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(cell, "evaluate_samples", broken)
    suite = tiny_suite(tmp_path / "s.toml", models="[]")
    args = ["run", "--suite", suite, "--out", tmp_path / "o", "--no-progress", "--workers", "1"]
    code, out, err = run_cli(capsys, *args)
    assert code == 1
    assert "noise-digits-s0: failed: RuntimeError: injected failure" in out
    assert "1 of 1 cells did not finish (failed); exit 1 (--keep-going exits 0)" in err
    code, _, _ = run_cli(capsys, *args, "--keep-going")
    assert code == 0


def test_corrupt_checkpoint_is_moved_aside_and_the_cell_restarts(tmp_path, capsys):
    suite = tiny_suite(tmp_path / "s.toml", extra='\n[models.dcgan]\nsteps = 4\n')
    args = ["run", "--suite", suite, "--out", tmp_path / "o", "--no-progress", "--workers", "1"]
    assert run_cli(capsys, *args)[0] == 0
    first = json.loads((tmp_path / "o" / "latest" / "results.json").read_text())
    cell_dir = next((tmp_path / "o" / "cells" / "digits").glob("dcgan-*"))
    (cell_dir / "cell.json").unlink()
    data = (cell_dir / "checkpoint.pt").read_bytes()
    (cell_dir / "checkpoint.pt").write_bytes(data[: len(data) // 3])  # truncated
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "checkpoint.pt is unreadable (RuntimeError: PytorchStreamReader" in err
    assert "moved to checkpoint.pt.corrupt-1, the cell restarts from step 0" in err
    assert (cell_dir / "checkpoint.pt.corrupt-1").is_file()
    again = json.loads((tmp_path / "o" / "latest" / "results.json").read_text())
    assert again["cells"][0]["status"] == "done"
    assert again["cells"][0]["metrics"] == first["cells"][0]["metrics"]
    (cell_dir / "cell.json").write_text("{ half")  # a damaged result is not a crash either
    code, _, err = run_cli(capsys, *args)
    assert code == 0 and "cell.json is unreadable" in err


# -- 5. a run is visible only when complete ---------------------------------------------------------

def test_orphaned_staging_folders_are_cleaned_and_never_listed(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    orphan = out / f".incomplete-20260101-000000-x-abcdef-{dead}"
    orphan.mkdir()
    (orphan / "results.json").write_text("{}")
    suite = tiny_suite(tmp_path / "s.toml", models="[]")
    code, _, err = run_cli(capsys, "run", "--suite", suite, "--out", out, "--no-progress")
    assert code == 0 and not orphan.exists() and "removed 1 incomplete run folder" in err
    code, listing, _ = run_cli(capsys, "history", "--db", out / "history.sqlite")
    assert code == 0 and "incomplete" not in listing and "| 1/1 |" in listing


# -- 6. the gate never passes silently ----------------------------------------------------------------

def test_gate_fails_fd_times_60_with_one_seed_a_side(tmp_path, capsys):
    from aigc_eval.results import RunResults
    from aigc_eval.signature import Score, Signature

    def results(fd):
        sig = Signature("fd", {"n_gen": 180, "seed": 0})
        return RunResults.from_scores({("dcgan", "digits", 0): [Score("fd_digits-cnn", fd, sig, False)],
                                       ("vae", "digits", 0): [Score("precision", 0.6, sig, True)]}).to_json()

    (tmp_path / "base.json").write_text(json.dumps(results(150.0)))
    (tmp_path / "cur.json").write_text(json.dumps(results(150.0 * 60)))
    code, out, _ = run_cli(capsys, "gate", "--baseline", tmp_path / "base.json", "--results", tmp_path / "cur.json")
    assert code == 1 and "FAIL" in out and "judged by" in out and "default tolerance fd*: rel 0.25" in out
    (tmp_path / "cur.json").write_text(json.dumps(results(150.0)))
    code, out, _ = run_cli(capsys, "gate", "--baseline", tmp_path / "base.json", "--results", tmp_path / "cur.json",
                           "--unjudged", "fail")
    assert code == 1 and "unjudged: give tolerances or more seeds" in out


# -- 8. the smaller ones ------------------------------------------------------------------------------

def test_upper_case_text_suffix_and_bare_cr_lines(tmp_path):
    from aigc_eval import evaluate
    from aigc_eval.data.corpus import load_corpus

    (tmp_path / "GEN.TXT").write_bytes(b"the cat sat\rthe dog ran\ra bird flew\r")
    assert load_corpus(tmp_path / "GEN.TXT").sentences == ("the cat sat", "the dog ran", "a bird flew")
    (tmp_path / "ref.txt").write_bytes(b"the cat ran\r\nthe dog sat\r\n")
    results = evaluate(tmp_path / "GEN.TXT", str(tmp_path / "ref.txt"), device="cpu", log=lambda m: None)
    run_dir = results.write(tmp_path / "o", log=lambda m: None)
    assert results.results["cells"][0]["kind"] == "text" and (run_dir / "leaderboard.html").is_file()


@pytest.mark.parametrize("n, fragment", [(1, "holds 1 image;"), (2, "holds 2 images;"), (3, "holds 3 images;")])
def test_small_image_sets_name_the_file(tmp_path, capsys, n, fragment):
    path = tmp_path / f"gen{n}.npz"
    np.savez(path, samples=np.zeros((n, 16, 16, 1), np.uint8))
    code, _, err = run_cli(capsys, "score", "--generated", path, "--reference", "digits", "--out", tmp_path / "o")
    assert_one_line_error(code, err, str(path), fragment, "at least 4")


def test_one_line_of_text_scores_with_self_bleu_not_applicable(tmp_path, capsys):
    (tmp_path / "one.txt").write_text("just one sentence\n")
    code, out, _ = run_cli(capsys, "score", "--generated", tmp_path / "one.txt", "--reference", "facts",
                           "--out", tmp_path / "o")
    assert code == 0
    assert "not applicable: self_bleu: self_bleu: needs at least 2 generated sentences, got 1" in out
    metrics = json.loads((tmp_path / "o" / "latest" / "results.json").read_text())["cells"][0]["metrics"]
    assert "bleu2" in metrics and not any(name.startswith("self_bleu") for name in metrics)


def test_compare_with_an_unknown_run_id_names_the_run(tmp_path, capsys):
    (tmp_path / "a.json").write_text(json.dumps({"run_id": "a", "leaderboard": []}))
    code, _, err = run_cli(capsys, "compare", tmp_path / "a.json", "nope", "--db", tmp_path / "none.sqlite")
    assert_one_line_error(code, err, "no run 'nope'")


def test_csv_cells_that_start_a_formula_are_neutralised():
    from aigc_eval.report.tables import leaderboard_csv

    rows = [{"model": name, "dataset": "digits", "kind": "image", "calibration": False, "n_seeds": 1, "seeds": [0],
             "metrics": {"fd": {"mean": -1.5, "std": 0.0}}}
            for name in ("=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "plain")]
    parsed = list(csv.DictReader(io.StringIO(leaderboard_csv({"leaderboard": rows}))))
    assert [r["model"] for r in parsed] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)", "plain"]
    assert parsed[0]["fd.mean"] == "-1.5"  # numbers stay numbers


def _as_nobody():
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a folder read-only for this process")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _world_readable(path: Path):
    for p in [path, *path.parents]:
        if p == Path("/"):
            break
        os.chmod(p, os.stat(p).st_mode | 0o005)


def test_history_in_a_read_only_folder_is_read_not_called_damaged(tmp_path):
    from aigc_eval.history import append_run

    ro = tmp_path / "ro"
    ro.mkdir()
    append_run(ro / "history.sqlite", {"run_id": "r1", "created": "2026", "cells": [], "leaderboard": []})
    for p in ro.iterdir():
        os.chmod(p, 0o644)
    os.chmod(ro, 0o555)
    _world_readable(tmp_path)
    try:
        proc = subprocess.run(_as_nobody() + [sys.executable, "-m", "aigc_eval", "history", "--db",
                                              str(ro / "history.sqlite")], capture_output=True, text=True,
                              cwd=tmp_path, timeout=120)
    finally:
        os.chmod(ro, 0o755)
    assert proc.returncode == 0, proc.stderr
    assert "| r1 |" in proc.stdout and "damaged" not in proc.stderr


def test_read_only_out_folder_is_one_line_and_writes_nothing(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (tmp_path / "g.txt").write_text("a b c\nd e f\n")
    os.chmod(ro, 0o555)
    _world_readable(tmp_path)
    try:
        proc = subprocess.run(_as_nobody() + [sys.executable, "-m", "aigc_eval", "score", "--generated", "g.txt",
                                              "--reference", "g.txt", "--out", "ro/out"],
                              capture_output=True, text=True, cwd=tmp_path, timeout=300)
    finally:
        os.chmod(ro, 0o755)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"aigc-eval: error: --out ro/out: ro is not writable"]
    assert list(ro.iterdir()) == []
