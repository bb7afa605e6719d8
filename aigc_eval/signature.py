"""Score signatures, in the style of sacrebleu: every number states the protocol that made it.

Example: ``fd|ext:digits-cnn@3f2a1c9d0b1e|n_gen:2000|n_ref:360|seed:0|tf:0.4.0|torch:2.14.1``.
Two scores are comparable only when their signatures are equal.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .runtime import library_versions

# Short keys for the libraries that can change a number.
_LIB_KEYS = {"torch-fidelity": "tf", "torch": "torch", "sacrebleu": "sb", "rouge-score": "rs", "aigc-eval": "ae"}


@dataclass(frozen=True)
class Signature:
    metric: str
    fields: dict = field(default_factory=dict)

    @classmethod
    def build(cls, metric: str, libs=("torch-fidelity", "torch"), **fields) -> "Signature":
        versions = library_versions()
        merged = {k: v for k, v in fields.items() if v is not None}
        for lib in (*libs, "aigc-eval"):  # our own version last: it defines every metric's code
            merged[_LIB_KEYS[lib]] = versions.get(lib, "none")
        return cls(metric, merged)

    def __str__(self) -> str:
        return "|".join([self.metric] + [f"{k}:{v}" for k, v in self.fields.items()])


@dataclass(frozen=True)
class Score:
    """One metric value with its signature. `higher_is_better` drives highlighting and gating."""

    name: str
    value: float
    signature: Signature
    higher_is_better: bool
    description: str = ""

    def to_json(self) -> dict:
        return {"value": float(self.value), "signature": str(self.signature),
                "higher_is_better": self.higher_is_better, "description": self.description}
