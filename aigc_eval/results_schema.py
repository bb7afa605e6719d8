"""JSON Schema of results.json (reports/SCHEMA.md) and of the report's history input.

The schema lives here as a dict so that an installed package carries it; `reports/schema.json`
is generated from it and a test checks that the two agree. Regenerate after a change with
    python -c "from aigc_eval.results_schema import schema_json; print(schema_json(), end='')" \
        > reports/schema.json
Objects admit extra keys so that new fields do not break old readers. aigc_eval.results validates
against it.
"""
from __future__ import annotations

import json

from .errors import UserError

RESULTS_SCHEMA_VERSION = 1  # the version of results.json; the history database has its own

_NUMBER = {"type": "number"}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": ["string", "null"]}}
_STRING_LIST = {"type": "array", "items": {"type": "string"}}
_NUMBER_MAP = {"type": "object", "additionalProperties": _NUMBER}
_RECORD_LIST = {"type": "array", "items": {"type": "object"}}  # rendered as a generic table

_SCORE = {
    "type": "object",
    "required": ["value", "higher_is_better", "signature"],
    "properties": {
        "value": _NUMBER,
        "higher_is_better": {"type": "boolean"},
        "signature": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
    },
}

_CURVES = {
    "type": "object",
    "required": ["step"],
    "additionalProperties": {"type": "array", "maxItems": 200, "items": _NUMBER_OR_NULL},
}

_CELL = {
    "type": "object",
    "required": ["model", "dataset", "seed", "kind", "calibration", "status", "metrics"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "dataset": {"type": "string", "minLength": 1},
        "seed": {"type": "integer"},
        "kind": {"enum": ["image", "text"]},
        "calibration": {"type": "boolean"},
        "conditional": {"type": "boolean"},
        "config": {"type": ["object", "null"]},
        "config_hash": {"type": ["string", "null"]},
        "status": {"enum": ["done", "diverged", "failed"]},
        "error": {"type": ["string", "null"]},
        "wall": _NUMBER_MAP,
        "train_images_per_s": _NUMBER_OR_NULL,
        "throughput_unit": {"type": ["string", "null"]},
        "peak_memory_mb": _NUMBER_OR_NULL,
        "metrics": {"type": "object", "additionalProperties": _SCORE},
        "curves": _CURVES,
        "checkpoint_metrics": {
            "type": "array",
            "items": {"type": "object", "required": ["step"],
                      "properties": {"step": {"type": "integer"}},
                      "additionalProperties": _NUMBER_OR_NULL},
        },
        "checkpoint_seconds": {"type": "array", "items": {"type": "array", "prefixItems": [
            {"type": "integer"}, _NUMBER], "minItems": 2, "maxItems": 2}},
        "qd_curve": {
            "type": "array",
            "items": {"type": "object", "required": ["temperature", "bleu5", "self_bleu5"],
                      "properties": {"temperature": _NUMBER, "bleu5": _NUMBER,
                                     "self_bleu5": _NUMBER}},
        },
        "guidance_curve": {
            "type": "array",
            "items": {"type": "object", "required": ["scale", "controllability", "hallucination_rate", "fd"],
                      "additionalProperties": _NUMBER},
        },
        "traversals": {
            "type": "array",
            "items": {"type": "object", "required": ["code", "values", "factor", "follow_share", "constant_share"],
                      "properties": {"code": {"type": "string"}, "factor": {"type": "string"},
                                     "values": {"type": "array", "items": _NUMBER},
                                     "follow_share": _NUMBER, "constant_share": _NUMBER}},
        },
        "samples_png": {"type": ["string", "null"]},
        "traversal_png": {"type": ["string", "null"]},
        "offenders_png": {"type": ["string", "null"]},
        "per_sample_csv": {"type": ["string", "null"]},
        "offenders": {
            "type": "object", "required": ["rows", "cols", "tile"],
            "properties": {
                "rows": {"type": "array", "items": {"enum": ["oracle", "nearest", "training"]}},
                "cols": {"type": "integer", "minimum": 1},
                "tile": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2},
                "oracle": {"type": "object", "required": ["n", "n_rejected", "samples"], "properties": {
                    "n": {"type": "integer", "minimum": 0}, "n_rejected": {"type": "integer", "minimum": 0},
                    "samples": {"type": "array", "items": {
                        "type": "object", "required": ["sample", "verdict", "reason"],
                        "properties": {"sample": {"type": "integer", "minimum": 0},
                                       "verdict": {"enum": ["ambiguous", "hallucinated"]},
                                       "reason": {"type": "string"}, "read": {"type": "string"}}}}}},
                "memorization": {"type": "object", "required": ["n_scored", "n_memorized", "samples"], "properties": {
                    "n_scored": {"type": "integer", "minimum": 0}, "n_memorized": {"type": "integer", "minimum": 0},
                    "samples": {"type": "array", "items": {
                        "type": "object", "required": ["sample", "train_index", "distance", "memorized"],
                        "properties": {"sample": {"type": "integer", "minimum": 0},
                                       "train_index": {"type": "integer", "minimum": 0},
                                       "distance": _NUMBER, "memorized": {"type": "boolean"}}}}}},
            }},
        "not_applicable": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}},
        "sample_text_readings": {"type": "array", "items": {
            "type": "object", "required": ["verdict"],
            "properties": {"verdict": {"type": "string"}, "reason": {"type": "string"}}}},
        "sample_grid": {
            "type": "object", "required": ["rows", "cols", "tile", "tiles"],
            "properties": {"rows": {"type": "integer", "minimum": 1}, "cols": {"type": "integer", "minimum": 1},
                           "tile": {"type": "array", "items": {"type": "integer", "minimum": 1},
                                    "minItems": 2, "maxItems": 2},
                           "tiles": {"type": "array", "items": {
                               "type": "object", "required": ["row", "col", "verdict"],
                               "properties": {"row": {"type": "integer", "minimum": 0},
                                              "col": {"type": "integer", "minimum": 0},
                                              "verdict": {"enum": ["valid", "ambiguous", "hallucinated"]},
                                              "reason": {"type": "string"}, "read": {"type": "string"},
                                              "requested": {"type": "string"}, "rms": _NUMBER}}}}},
    },
    # A cell that did not finish says why in one line.
    "if": {"properties": {"status": {"enum": ["diverged", "failed"]}}},
    "then": {"required": ["error"], "properties": {"error": {"type": "string", "minLength": 1}}},
}

_LEADERBOARD_ROW = {
    "type": "object",
    "required": ["model", "dataset", "kind", "calibration", "n_seeds", "seeds", "metrics"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "dataset": {"type": "string", "minLength": 1},
        "kind": {"enum": ["image", "text"]},
        "calibration": {"type": "boolean"},
        "n_seeds": {"type": "integer", "minimum": 0},
        "seeds": {"type": "array", "items": {"type": "integer"}, "minItems": 0},
        "metrics": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["mean", "std", "values", "higher_is_better", "signature"],
                "properties": {
                    "mean": _NUMBER,
                    "std": {"type": "number", "minimum": 0},
                    "values": {"type": "array", "items": _NUMBER, "minItems": 1},
                    "higher_is_better": {"type": "boolean"},
                    "signature": {"type": "string", "minLength": 1},
                    "description": {"type": "string"},
                },
            },
        },
    },
}

RESULTS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "aigc-eval/results.schema.json",
    "title": "aigc-eval results.json",
    "type": "object",
    "required": ["schema_version", "run_id", "created", "suite", "versions", "machine", "runtime",
                 "phases", "extractors", "cells", "leaderboard"],
    "properties": {
        "schema_version": {"const": RESULTS_SCHEMA_VERSION},
        "run_id": {"type": "string", "minLength": 1},
        "created": {"type": "string"},
        "suite": {"type": "object", "required": ["name"],
                  "properties": {"name": {"type": "string"}, "path": {"type": ["string", "null"]},
                                 "config_hash": {"type": ["string", "null"]},
                                 "headline": {"type": "object", "additionalProperties": _STRING_LIST},
                                 "families": {"type": "object", "additionalProperties": _STRING_LIST}}},
        "git_commit": {"type": ["string", "null"]},
        "versions": _STRING_MAP,
        "machine": {"type": "object"},
        "runtime": {"type": "object",
                    "properties": {"device": {"type": "string"}, "threads": {"type": "integer"},
                                   "amp": {"type": "boolean"},
                                   "channels_last": {"type": "boolean"}}},
        "phases": _NUMBER_MAP,
        "extractors": {
            "type": "object",
            "additionalProperties": {
                "type": "object", "required": ["tag", "metric_name"],
                "properties": {"tag": {"type": "string"}, "metric_name": {"type": "string"},
                               "test_accuracy": _NUMBER_OR_NULL},
            },
        },
        "cells": {"type": "array", "items": _CELL},
        "leaderboard": {"type": "array", "items": _LEADERBOARD_ROW},
        "validity": _RECORD_LIST,
        "performance": _RECORD_LIST,
        "time_to_quality": {
            "type": "array",
            "items": {"type": "object",
                      "required": ["model", "dataset", "seed", "metric", "target", "steps_to_target",
                                   "seconds_to_target", "curve"],
                      "properties": {"model": {"type": "string"}, "dataset": {"type": "string"},
                                     "seed": {"type": "integer"}, "metric": {"type": "string"},
                                     "target": _NUMBER, "steps_to_target": {"type": ["integer", "null"]},
                                     "seconds_to_target": _NUMBER_OR_NULL,
                                     "curve": {"type": "array", "items": {
                                         "type": "object", "required": ["step", "seconds", "value"],
                                         "properties": {"step": {"type": "integer"}, "seconds": _NUMBER,
                                                        "value": _NUMBER}}}}},
        },
    },
}

# write_report's optional history input: {metric: [{run_id, created, model, dataset, value}]}.
HISTORY_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": {
        "type": "array",
        "items": {"type": "object", "required": ["run_id", "created", "model", "dataset", "value"],
                  "properties": {"run_id": {"type": "string"}, "created": {"type": "string"},
                                 "model": {"type": "string"}, "dataset": {"type": "string"},
                                 "value": _NUMBER}},
    },
}


def _where(error) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def validate_json(doc, schema, what: str) -> None:
    """Raise UserError naming the first field of `doc` that `schema` rejects."""
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(doc),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise UserError(f"{what}: {_where(first)}: {first.message}{more}")


def schema_json() -> str:
    """The text of reports/schema.json."""
    return json.dumps(RESULTS_SCHEMA, indent=2, ensure_ascii=False) + "\n"
