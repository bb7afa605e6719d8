"""Property-based tests (Hypothesis) of the input loaders and the suite schema: whatever the bytes or
TOML values, the outcome is a result or a one-line UserError (the CLI's exit 2), never another
exception (a traceback). AIGC_EVAL_SOAK_EXAMPLES=N tries N examples per test instead of the default."""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from aigc_eval import cli  # noqa: E402
from aigc_eval.errors import UserError  # noqa: E402

EXAMPLES = int(os.environ.get("AIGC_EVAL_SOAK_EXAMPLES", "200"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TRIED: dict[str, int] = {}
PASSED: dict[str, int] = {}  # examples that loaded (the rest were one-line UserErrors)


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    print(f"\nproperty tests: {sum(TRIED.values())} examples tried ({TRIED}; loaded: {PASSED}), 0 tracebacks")


def outcome(name: str, fn, *args, **kwargs):
    """fn's result, or None after a one-line UserError; any other exception fails the example."""
    TRIED[name] = TRIED.get(name, 0) + 1
    try:
        result = fn(*args, **kwargs)
        PASSED[name] = PASSED.get(name, 0) + 1
        return result
    except UserError as exc:
        text = str(exc)
        assert text and "\n" not in text and "Traceback" not in text, text
        return None


def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="aigc-prop-"))


# -- images: PNG files and .npz arrays --------------------------------------------------------------

def _png_bytes(draw_data: bytes, kind: int, size: tuple[int, int], mode: str) -> bytes:
    from PIL import Image

    if kind == 0:
        return draw_data  # random bytes
    if kind == 1:
        return b"\x89PNG\r\n\x1a\n" + draw_data  # a PNG signature, then garbage
    pixels = np.frombuffer((draw_data * (1 + 3 * size[0] * size[1] // max(1, len(draw_data))))
                           [: 3 * size[0] * size[1]] or b"\0" * (3 * size[0] * size[1]), np.uint8)
    image = Image.fromarray(pixels.reshape(size[1], size[0], 3)).convert(mode)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    data = buf.getvalue()
    return data if kind == 2 else data[: max(1, len(data) // 2)]  # whole or truncated


png_files = st.lists(st.tuples(st.binary(max_size=300), st.integers(0, 3),
                               st.one_of(st.just((16, 16)), st.tuples(st.integers(1, 20), st.integers(1, 20))),
                               st.sampled_from(["L", "RGB", "RGBA", "P", "1", "I", "F", "I;16"])),
                     min_size=1, max_size=5)


@SETTINGS
@given(files=png_files)
def test_random_png_folders_load_or_fail_in_one_line(files):
    from aigc_eval.samples import load_samples

    folder = scratch()
    for i, (data, kind, size, mode) in enumerate(files):
        try:
            blob = _png_bytes(data, kind, size, mode)
        except (OSError, ValueError, TypeError):
            blob = data
        (folder / f"{i:02d}.png").write_bytes(blob)
    images = outcome("png", load_samples, folder, min_samples=4, image_shape=(1, 16, 16))
    if images is not None:
        assert images.dtype == np.uint8 and images.shape[1:] == (1, 16, 16)
    outcome("png-folder-dataset", _folder_dataset, folder)


def _folder_dataset(folder):
    from aigc_eval.data.image_folder import load_image_folder

    return load_image_folder(folder)


arrays = st.one_of(
    st.binary(max_size=400).map(lambda b: ("raw", b)),
    st.tuples(st.sampled_from(["uint8", "float32", "float64", "int16", "bool", "complex64", "U3"]),
              st.lists(st.integers(0, 5), min_size=0, max_size=5),
              st.sampled_from(["samples", "images", "arr_0", "x"]),
              st.floats(allow_nan=True, allow_infinity=True, width=32)).map(lambda t: ("array", t)))


@SETTINGS
@given(spec=arrays, second=st.booleans())
def test_random_npz_load_or_fail_in_one_line(spec, second):
    from aigc_eval.samples import load_samples

    path = scratch() / "gen.npz"
    if spec[0] == "raw":
        path.write_bytes(spec[1])
    else:
        dtype, shape, key, fill = spec[1]
        with np.errstate(invalid="ignore"):
            array = np.full(shape, fill if dtype not in ("U3", "bool") else 1).astype(dtype)
        extra = {"other": np.zeros(2)} if second else {}
        with open(path, "wb") as fh:
            np.savez(fh, **{key: array}, **extra)
    images = outcome("npz", load_samples, path, min_samples=1)
    if images is not None:
        assert images.dtype == np.uint8 and images.ndim == 4 and images.shape[1] in (1, 3)


# -- text: .txt and .jsonl ----------------------------------------------------------------------------

line_endings = st.sampled_from(["\n", "\r\n", "\r"])
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3),
                           max_leaves=5)
jsonl_lines = st.lists(st.one_of(
    st.fixed_dictionaries({"text": st.text(max_size=30)}, optional={"label": json_values}),
    json_values).map(lambda v: json.dumps(v)) | st.text(max_size=30), max_size=8)


@SETTINGS
@given(raw=st.binary(max_size=500), lines=jsonl_lines, eol=line_endings,
       suffix=st.sampled_from([".txt", ".jsonl", ".TXT", ".JSONL"]), use_raw=st.booleans())
def test_random_text_files_load_or_fail_in_one_line(raw, lines, eol, suffix, use_raw):
    from aigc_eval.data.corpus import load_corpus

    path = scratch() / f"gen{suffix}"
    path.write_bytes(raw if use_raw else eol.join(lines).encode("utf-8", "surrogatepass"))
    corpus = outcome("text", load_corpus, path)
    if corpus is not None:
        assert corpus.sentences and all(isinstance(s, str) and s.strip() == s and s for s in corpus.sentences)
        assert all("\r" not in s and "\n" not in s for s in corpus.sentences)


# -- suites: random TOML values for every key --------------------------------------------------------

toml_scalars = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                         st.booleans(), st.text(max_size=12), st.sampled_from(["digits", "dcgan", "fd", "noise"]))
toml_values = st.one_of(toml_scalars, st.lists(toml_scalars, max_size=3),
                        st.dictionaries(st.sampled_from(["image_size", "z_dim", "steps", "x"]), toml_scalars,
                                        max_size=2))
SUITE_KEYS = ["name", "seeds", "train", "eval", "datasets", "models", "bogus",
              "train.steps", "train.batch_size", "train.checkpoint_every", "eval.n_samples", "eval.image_metrics",
              "eval.text_temperatures", "eval.checkpoint_samples", "datasets.0.name", "datasets.0.options",
              "datasets.0.models", "datasets.0.calibration", "models.dcgan.steps", "models.dcgan.config",
              "datasets.0.options.image_size"]


def _valid_suite() -> dict:
    return {"name": "p", "seeds": [0], "train": {"steps": 2, "batch_size": 8, "checkpoint_every": 2},
            "eval": {"n_samples": 10, "image_metrics": ["fd"]},
            "datasets": [{"name": "digits", "models": ["dcgan"], "calibration": ["noise"], "options": {}}],
            "models": {"dcgan": {"steps": 2, "config": {"z_dim": 8}}}}


def _set(doc: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if not isinstance(node, (dict, list)):
            return
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _toml(value) -> str:
    """A minimal TOML writer for the values these tests generate (inline tables and arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value > 0 else "-inf") if value in (float("inf"), float("-inf")) \
            else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"


def _suite_text(doc: dict) -> str:
    return "\n".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in doc.items()) + "\n"


@SETTINGS
@given(changes=st.lists(st.tuples(st.sampled_from(SUITE_KEYS), toml_values), min_size=1, max_size=3))
def test_random_suite_values_parse_or_fail_in_one_line(changes):
    from aigc_eval.harness.suite import load_suite

    doc = _valid_suite()
    for key, value in changes:
        try:
            _set(doc, key, value)
        except (IndexError, ValueError, TypeError):
            pass
    path = scratch() / "suite.toml"
    path.write_text(_suite_text(doc), encoding="utf-8", errors="surrogatepass")
    suite = outcome("suite", load_suite, str(path))
    if suite is not None:
        for spec in suite.cells:
            assert isinstance(spec.seed, int) and spec.seed >= 0
            if not spec.train["steps"] == 0:
                assert isinstance(spec.train["batch_size"], int) and spec.train["batch_size"] >= 1
            assert isinstance(spec.eval["n_samples"], int) and spec.eval["n_samples"] >= 2


def test_random_cli_suite_errors_are_exit_2_one_line(tmp_path, capsys):
    """The same through the CLI for a few invalid suites: exit 2, one line, nothing written."""
    for i, (key, value) in enumerate([("train", 5), ("train.steps", -5), ("eval.n_samples", "abc"),
                                      ("datasets.0.options", {"image_size": -3}), ("seeds", [-1])]):
        doc = _valid_suite()
        _set(doc, key, value)
        path = tmp_path / f"s{i}.toml"
        path.write_text(_suite_text(doc))
        code = cli.main(["run", "--suite", str(path), "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        TRIED["cli-suite"] = TRIED.get("cli-suite", 0) + 1
        assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("aigc-eval: error: "), err
    assert not (tmp_path / "o").exists()
