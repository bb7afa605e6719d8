"""One schema for every value a user gives: suite TOML files and CLI options, checked at the door.

Nothing runs until every value has passed. A bad value is one UserError (exit 2) that names where
it came from, what was expected (type, range, cap) and what was given. The ranges are here and only
here, so the CLI's `--seed` and a suite's `seeds` agree on what a seed is.

Names that become folder names (a suite's `name`, a model row's name) go through `safe_name`: no
path separators, no `..`, no control characters; the full name is kept only as data.
"""
from __future__ import annotations

import inspect
import math
from argparse import ArgumentTypeError
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .errors import UserError

# numpy's RandomState (KID's subsets) takes seeds below 2**32; the sampling-spread seeds are
# seed * 1000 + k, so a seed stays below 2**31 to keep every derived seed in range.
SEED_MAX = 2**31 - 1
MAX_STEPS = 10_000_000
MAX_BATCH = 65_536
MAX_SAMPLES = 1_000_000
MAX_THREADS = 1024
MAX_NAME = 200


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Int:
    lo: int
    hi: int

    def describe(self) -> str:
        return f"an integer in {self.lo}..{self.hi}"

    def check(self, where: str, value):
        if not _is_int(value) or not self.lo <= value <= self.hi:
            raise UserError(f"{where}: expected {self.describe()}, got {_show(value)}")
        return value


@dataclass(frozen=True)
class Num:
    lo: float
    hi: float
    open_lo: bool = False
    open_hi: bool = False

    def describe(self) -> str:
        left, right = "(" if self.open_lo else "[", ")" if self.open_hi else "]"
        return f"a number in {left}{self.lo:g}, {self.hi:g}{right}"

    def check(self, where: str, value):
        ok = _is_number(value) and math.isfinite(value)
        ok = ok and (value > self.lo if self.open_lo else value >= self.lo)
        ok = ok and (value < self.hi if self.open_hi else value <= self.hi)
        if not ok:
            raise UserError(f"{where}: expected {self.describe()}, got {_show(value)}")
        return value


@dataclass(frozen=True)
class Str:
    choices: tuple | None = None
    max_len: int = MAX_NAME
    kind: str = "value"  # what a choice is called in the error: "unknown model 'x'; valid models: ..."

    def describe(self) -> str:
        if self.choices is not None:
            return f"one of {', '.join(self.choices)}"
        return f"a string of at most {self.max_len} characters"

    def check(self, where: str, value):
        if not isinstance(value, str) or (self.choices is None and len(value) > self.max_len):
            raise UserError(f"{where}: expected {self.describe()}, got {_show(value)}")
        if self.choices is not None and value not in self.choices:
            raise UserError(f"{where}: unknown {self.kind} {_show(value)}; valid {self.kind}s: {', '.join(self.choices)}")
        return value


@dataclass(frozen=True)
class ListOf:
    item: Any
    min_len: int = 0
    unique: bool = False

    def describe(self) -> str:
        return f"a list of {self.item.describe().removeprefix('an ').removeprefix('a ')}s"

    def check(self, where: str, value):
        if not isinstance(value, list):
            raise UserError(f"{where}: expected {self.describe()}, got {_show(value)}")
        if len(value) < self.min_len:
            raise UserError(f"{where}: expected at least {self.min_len} item(s), got {len(value)}")
        for i, v in enumerate(value):
            self.item.check(f"{where}[{i}]", v)
        if self.unique and len(set(value)) != len(value):
            raise UserError(f"{where}: repeated values in {_show(value)}")
        return value


@dataclass(frozen=True)
class Table:
    """A TOML table with known keys; `extra` validates keys not listed (None: unknown keys are errors)."""

    fields: Mapping
    required: tuple = ()
    what: str = "a table"
    extra: Any = None

    def describe(self) -> str:
        return self.what

    def check(self, where: str, value):
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected {self.what}, got {_show(value)}")
        unknown = sorted(set(value) - set(self.fields))
        if unknown and self.extra is None:
            raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(self.fields))}")
        for key in self.required:
            if key not in value:
                raise UserError(f"{where}: missing key {key!r}")
        for key, v in value.items():
            spec = self.fields.get(key, self.extra)
            spec.check(f"{where}.{key}" if where else key, v)
        return value


class AnyTable:
    def describe(self) -> str:
        return "a table"

    def check(self, where: str, value):
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a table ({{ key = value, ... }}), got {_show(value)}")
        return value


# -- the schema -----------------------------------------------------------------------------------

SEED = Int(0, SEED_MAX)
TRAIN_FIELDS = {"steps": Int(0, MAX_STEPS), "batch_size": Int(1, MAX_BATCH), "checkpoint_every": Int(0, MAX_STEPS)}

# Options of the datasets, by option name (a dataset's loader says which it takes).
DATASET_OPTIONS = {
    "image_size": Int(4, 256),  # the domain classifier pools twice: 4 x 4 is the least it reads
    "limit": Int(1, 10**9),
    "train_per_combo": Int(1, 10_000),
    "test_per_combo": Int(1, 10_000),
    "noise_sigma": Num(0, 255),
    "seed": SEED,
    "test_fraction": Num(0, 1, open_lo=True, open_hi=True),
    "n_train_per_class": Int(1, 1_000_000),
    "n_test_per_class": Int(2, 1_000_000),
    "subdir": Str(),
    "tokenize": Str(("auto", "space", "char"), kind="mode"),
}


def _eval_fields():
    from .features import EXTRACTORS
    from .metrics import METRICS

    metric = Str(tuple(METRICS.names()), kind="metric")
    return {"n_samples": Int(2, MAX_SAMPLES), "image_metrics": ListOf(metric), "text_metrics": ListOf(metric),
            "checkpoint_metrics": ListOf(metric), "checkpoint_samples": Int(2, MAX_SAMPLES),
            "text_temperatures": ListOf(Num(0, 100, open_lo=True), min_len=1),
            "guidance_scales": ListOf(Num(0, 100)), "traversal_rows": Int(2, 1000),
            "options": Table({}, what="an [eval.options] table of [eval.options.METRIC] tables", extra=AnyTable()),
            "extractor": Str(tuple(EXTRACTORS.names()), kind="feature extractor")}


def suite_schema() -> Table:
    from .data import DATASETS
    from .models import MODELS

    model = Str(tuple(MODELS.names()), kind="model")
    # Report columns name scores (hallucination_rate, fd_shapes-cnn, or `fd`), not registered metrics:
    # one metric gives several scores, and a suite may name a score that a later metric adds.
    column = Str()
    dataset = Table({"name": Str(tuple(DATASETS.names()), kind="dataset"), "options": AnyTable(), "models": ListOf(model),
                     "calibration": ListOf(model), "headline": ListOf(column, unique=True)}, required=("name",),
                     what="a [[datasets]] table")
    report = Table({"families": Table({}, what="a [report.families] table of lists of column names",
                                      extra=ListOf(column, min_len=1))}, what="a [report] table")
    per_model = Table({**TRAIN_FIELDS, "config": AnyTable()}, what="a [models.NAME] table")
    return Table({"name": Str(), "description": Str(max_len=10_000),
                  "seeds": ListOf(SEED, min_len=1, unique=True),
                  "train": Table(TRAIN_FIELDS, what="a [train] table"),
                  "eval": Table(_eval_fields(), what="an [eval] table"),
                  "datasets": ListOf(dataset, min_len=1),
                  "models": Table({}, what="a [models] table of [models.NAME] tables", extra=per_model),
                  "gate": AnyTable(), "report": report})


def validate_suite(raw: dict, where: str) -> None:
    """Every value of a parsed suite TOML against the schema; then each dataset's options."""
    try:
        suite_schema().check("", raw)
        if "datasets" not in raw:
            raise UserError("no [[datasets]] entries")
        for i, entry in enumerate(raw["datasets"]):
            check_dataset_options(entry["name"], entry.get("options", {}), f"datasets[{i}].options")
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    check_model_configs(raw, where)
    check_metric_options(raw.get("eval", {}).get("options", {}), where)


def check_metric_options(options: dict, where: str) -> None:
    """[eval.options.METRIC] tables: a registered metric, built with those options (its constructor's
    parameters and its own checks of their values)."""
    import inspect

    from .metrics import METRICS, build_metric

    for name, table in options.items():
        if name not in METRICS:
            raise UserError(f"{where}: [eval.options.{name}]: unknown metric {name!r}; valid metrics: "
                            f"{', '.join(METRICS.names())}")
        params = [p for p in inspect.signature(METRICS.get(name)).parameters if p != "self"]
        unknown = sorted(set(table) - set(params))
        if unknown:
            raise UserError(f"{where}: [eval.options.{name}]: unknown option(s) {', '.join(unknown)}; "
                            f"valid: {', '.join(params) or 'none'}")
        try:
            build_metric(name, **table)
        except UserError as exc:
            raise UserError(f"{where}: [eval.options.{name}]: {exc}") from None


def check_dataset_options(name: str, options: dict, where: str) -> None:
    from .data import DATASETS

    valid = sorted(set(inspect.signature(DATASETS.get(name)).parameters) - {"data_root"})
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise UserError(f"{where}: unknown option(s) {', '.join(unknown)} for dataset {name}; "
                        f"valid: {', '.join(valid) or '(none)'}")
    for key, value in options.items():
        spec = DATASET_OPTIONS.get(key)
        if spec is not None:
            spec.check(f"{where}.{key}", value)


def check_model_configs(raw: dict, where: str) -> None:
    """[models.NAME] config overrides: known keys of the model's config, each of its default's type.
    (Checked against the model's first documented default: every data shape's has the same fields.)"""
    import dataclasses

    from .models import MODELS

    for model, table in raw.get("models", {}).items():
        config = table.get("config")
        if not config:
            continue
        if model not in MODELS:
            raise UserError(f"{where}: [models.{model}]: unknown model {model!r}; valid models: "
                            f"{', '.join(MODELS.names())}")
        cls = MODELS.get(model)
        defaults = getattr(cls, "DEFAULTS", None)
        if not defaults:
            raise UserError(f"{where}: [models.{model}]: this model takes no config")
        from .models import apply_overrides

        apply_overrides(dataclasses.replace(next(iter(defaults.values()))), config, f"{where}: [models.{model}]")


def check_config_types(config, overrides: dict, where: str) -> None:
    """A model config override must have the type of the default it replaces (ints for ints, ...)."""
    for key, value in overrides.items():
        default = getattr(config, key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = _is_int(value)
        elif isinstance(default, float):
            ok = _is_number(value) and math.isfinite(value)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        elif isinstance(default, (tuple, list)):
            ok = isinstance(value, list)
        else:
            ok = True
        if not ok:
            raise UserError(f"{where}.{key}: expected {type(default).__name__} like the default "
                            f"{_show(default)}, got {_show(value)}")


# -- CLI values (argparse `type=` functions; argparse prints an ArgumentTypeError's message) --------

def cli_seed(text: str) -> int:
    return _cli_int(text, SEED)


def cli_seeds(text: str) -> list[int]:
    parts = text.split(",")
    if not text.strip() or any(not p.strip() for p in parts):
        raise ArgumentTypeError(f"expected comma-separated integers in 0..{SEED_MAX} with no empty item, "
                                f"got {text!r}")
    seeds = [_cli_int(p.strip(), SEED) for p in parts]
    if len(set(seeds)) != len(seeds):
        raise ArgumentTypeError(f"repeated seeds in {text!r}")
    return seeds


def cli_threads(text: str) -> int:
    return _cli_int(text, Int(1, MAX_THREADS))


def cli_positive(text: str) -> int:
    return _cli_int(text, Int(1, 10**6))


def _cli_int(text: str, spec: Int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"expected {spec.describe()}, got {text!r}") from None
    try:
        return spec.check("", value)
    except UserError:
        raise ArgumentTypeError(f"expected {spec.describe()}, got {text!r}") from None


# -- names that become paths ------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(name, fallback: str = "run", max_len: int = 60) -> str:
    """A name fit to be one path component: [A-Za-z0-9._+-] only, no leading dot or dash, never
    `..`, at most `max_len` characters; `fallback` when nothing is left."""
    text = _UNSAFE.sub("-", str(name))
    text = re.sub(r"\.{2,}", ".", text)
    text = re.sub(r"-{2,}", "-", text).strip(".-_")[:max_len].strip(".-_")
    return text or fallback


def inside(root, path) -> Path:
    """`path`, checked to lie under `root` once both are resolved; a UserError otherwise."""
    root_r, path_r = Path(root).resolve(), Path(path).resolve()
    if path_r != root_r and root_r not in path_r.parents:
        raise UserError(f"refusing to write {path}: it is outside the output folder {root}")
    return Path(path)


def check_out_dir(out) -> Path:
    """--out: a folder that exists or can be created, and that can be written; a UserError otherwise."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    probe = out
    while not probe.exists():
        probe = probe.parent
    _check_writable_folder("--out", out, probe)
    return out


def _check_writable_folder(option: str, path: Path, folder: Path) -> None:
    import os

    if not folder.is_dir():
        raise UserError(f"{option} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: {folder} is not writable")


def check_csv_out(option: str, path) -> Path:
    """A CSV file to write: ends in .csv, its folder exists and is writable, and it is not a folder."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise UserError(f"{option} {path}: expected a path ending in .csv")
    if path.is_dir():
        raise UserError(f"{option} {path}: is a folder; expected a .csv file to write")
    if not path.parent.exists():
        raise UserError(f"{option} {path}: the folder {path.parent} does not exist")
    _check_writable_folder(option, path, path.parent)
    return path
