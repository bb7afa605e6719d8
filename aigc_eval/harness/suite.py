"""Suites: user-editable TOML files that list (model, dataset, seed) cells and the eval protocol.

    name = "default"
    seeds = [0, 1]
    [train]                      # defaults for every model
    steps = 300
    batch_size = 64
    checkpoint_every = 100
    [eval]
    n_samples = 180              # per row; every row of a dataset uses the same count
    image_metrics = ["fd", "kid", "prc", ...]
    [eval.options.kid]           # a metric's parameters (its class's constructor arguments)
    subsets = 50
    [[datasets]]
    name = "digits"
    options = { image_size = 16 }
    models = ["dcgan", "vae"]
    calibration = ["real-test", "copy-train", "noise"]
    headline = ["fd", "precision", "recall"]   # the report's first columns for this dataset
    [report.families]            # details columns: family -> score names or prefixes ("mig*")
    disentanglement = ["mig*", "dci*"]
    [models.dcgan]               # per-model overrides: training settings and `config`
    steps = 400
    config = { z_dim = 32 }

Built-in suites live in aigc_eval/suites/; `--suite NAME` finds them, `--suite PATH` reads a file.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .. import __version__
from ..errors import UserError
from ..runtime import code_fingerprint, stable_hash
from ..validate import validate_suite

SUITES_DIR = Path(__file__).resolve().parent.parent / "suites"
TRAIN_KEYS = {"steps", "batch_size", "checkpoint_every"}
EVAL_DEFAULTS = {
    "n_samples": 1000,
    "image_metrics": ["fd", "kid", "prc", "recon", "mode_coverage", "feature_diversity", "memorization",
                      "cond_accuracy", "shapes_oracle", "disentanglement"],
    "text_metrics": ["bleu", "self_bleu", "rouge", "chrf", "nll", "facts_oracle"],
    "checkpoint_metrics": ["fd"],
    "checkpoint_samples": 200,
    "text_temperatures": [0.7, 1.0, 1.3],
    "guidance_scales": [0.0, 1.0, 2.0, 4.0, 8.0],  # a guided model's guidance curve ([]: none)
    "traversal_rows": 16,  # draws per code (half fit the code-to-factor mapping, half score it) in a code model's traversals
    "options": {},  # [eval.options.METRIC]: keyword arguments of that metric, e.g. kid = {subsets = 50}
    "extractor": "domain-cnn",  # the registered feature extractor of the image metrics (aigc_eval.features)
}


@dataclass(frozen=True)
class CellSpec:
    """Everything that determines one (model, dataset, seed) cell's numbers."""

    model: str
    dataset: str
    seed: int
    dataset_options: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)  # steps, batch_size, checkpoint_every
    model_config: dict = field(default_factory=dict)  # overrides of the model's DEFAULTS
    eval: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.model}-{self.dataset}-s{self.seed}"

    def to_json(self) -> dict:
        return {"model": self.model, "dataset": self.dataset, "seed": self.seed,
                "dataset_options": self.dataset_options, "train": self.train,
                "model_config": self.model_config, "eval": self.eval}

    def config_hash(self, data_fingerprint: str, device: str) -> str:
        # The version and the source code are part of the key: a cell finished by code that differs
        # in a model or metric must not be reused.
        return stable_hash({"cell": self.to_json(), "data": data_fingerprint, "device": device,
                            "aigc_eval": __version__, "code": code_fingerprint()})


@dataclass
class Suite:
    name: str
    path: str
    cells: list[CellSpec]
    datasets: dict[str, dict]  # dataset name -> options
    raw: dict
    eval: dict = field(default_factory=lambda: dict(EVAL_DEFAULTS))  # the protocol every cell shares

    @property
    def report_views(self) -> dict:
        """What the report shows first: {"headline": {dataset: [columns]}, "families": {...}}, as
        declared (aigc_eval.report.views reads it from results.json's `suite`)."""
        headline = {d["name"]: d["headline"] for d in self.raw["datasets"] if "headline" in d}
        families = self.raw.get("report", {}).get("families")
        return {**({"headline": headline} if headline else {}), **({"families": families} if families else {})}

    @property
    def config_hash(self) -> str:
        return stable_hash(self.raw)


def find_suite(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise UserError(f"--suite {name_or_path}: no such file")
        return path
    builtin = SUITES_DIR / f"{name_or_path}.toml"
    if not builtin.exists():
        names = sorted(p.stem for p in SUITES_DIR.glob("*.toml"))
        raise UserError(f"unknown suite {name_or_path!r}; built-in suites: {', '.join(names)} (or give a .toml path)")
    return builtin


def load_suite(name_or_path: str, seeds: list[int] | None = None) -> Suite:
    path = find_suite(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a valid TOML suite ({exc})") from None
    return parse_suite(raw, str(path), seeds)


def parse_suite(raw: dict, where: str, seeds: list[int] | None = None) -> Suite:
    validate_suite(raw, where)  # types, ranges and names of every value, before anything runs
    seeds = seeds if seeds is not None else raw.get("seeds", [0])
    train = {"steps": 200, "batch_size": 64, "checkpoint_every": 100, **raw.get("train", {})}
    eval_cfg = {**EVAL_DEFAULTS, **raw.get("eval", {})}
    per_model = raw.get("models", {})
    cells, datasets = [], {}
    for entry in raw["datasets"]:
        ds = entry["name"]
        if ds in datasets:
            raise UserError(f"{where}: dataset {ds} is listed twice; list each dataset once")
        options = entry.get("options", {})
        datasets[ds] = options
        rows = [(m, False) for m in entry.get("models", [])] + [(m, True) for m in entry.get("calibration", [])]
        for model, calibration in rows:
            overrides = dict(per_model.get(model, {}))
            config = overrides.pop("config", {})
            model_train = {**train, **{k: v for k, v in overrides.items() if k in TRAIN_KEYS}}
            if calibration:
                model_train = {"steps": 0, "batch_size": 0, "checkpoint_every": 0}
            # Calibration rows are deterministic given the seed too, so they run per seed like models.
            for seed in seeds:
                cells.append(CellSpec(model, ds, seed, options, model_train, config, eval_cfg))
    if not cells:
        raise UserError(f"{where}: no cells to run; list models or calibration rows under [[datasets]]")
    return Suite(raw.get("name", Path(where).stem), where, cells, datasets, raw, eval_cfg)
