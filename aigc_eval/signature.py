"""Score signatures, in the style of sacrebleu: every number states the protocol that made it.

Example: ``fd|ext:digits-cnn@3f2a1c9d0b1e|n_gen:2000|n_ref:360|seed:0|tf:0.4.0|torch:2.14.1``.
Two scores are comparable only when their signatures agree apart from the `seed:` field
(`Signature.comparable`); `Signature.parse` is the only reader of a signature string.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .runtime import library_versions

# Short keys for the libraries that can change a number.
SEED_FIELD = "seed"  # the one field that may differ between comparable scores
_LIB_KEYS = {"torch-fidelity": "tf", "torch": "torch", "sacrebleu": "sb", "rouge-score": "rs", "scikit-learn": "sk",
             "transformers": "hf", "aigc-eval": "ae"}


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

    @classmethod
    def parse(cls, text: str) -> "Signature":
        """The Signature that str() printed as `text`: `metric|key:value|...` (a part without a
        colon is a key with no value)."""
        metric, *parts = str(text).split("|")
        fields = {}
        for part in parts:
            key, colon, value = part.partition(":")
            fields[key] = value if colon else None
        return cls(metric, fields)

    def _protocol(self) -> tuple[str, dict]:
        """What two comparable scores share: the metric and every field but the seed, as text."""
        return self.metric, {k: None if v is None else str(v) for k, v in self.fields.items() if k != SEED_FIELD}

    def without_seed(self) -> "Signature":
        return Signature(self.metric, {k: v for k, v in self.fields.items() if k != SEED_FIELD})

    def comparable(self, other: "Signature") -> bool:
        """True when two scores measure the same thing the same way: equal apart from the seed."""
        return self._protocol() == other._protocol()

    def difference(self, other: "Signature") -> str:
        """'' when comparable, else the fields that differ, one line: `n_gen: 720 → 2000`."""
        (ma, fa), (mb, fb) = self._protocol(), other._protocol()
        fa, fb = {"metric": ma, **fa}, {"metric": mb, **fb}
        return ", ".join(f"{k}: {fa.get(k, '-')} → {fb.get(k, '-')}"
                         for k in dict.fromkeys([*fa, *fb]) if fa.get(k) != fb.get(k))

    def __str__(self) -> str:
        return "|".join([self.metric] + [k if v is None else f"{k}:{v}" for k, v in self.fields.items()])


# What a score is to the metric-validity table: a ground truth of an oracle world (hallucination,
# controllability), a proxy that may or may not track one (FD, precision, BLEU), the noise of an
# estimate (kid_std, a sampling spread), or another output of an oracle that is neither.
TRUTH, PROXY, UNCERTAINTY, DETAIL = "truth", "proxy", "uncertainty", "detail"
ROLES = (TRUTH, PROXY, UNCERTAINTY, DETAIL)


@dataclass(frozen=True)
class Score:
    """One metric value with its signature. `higher_is_better` drives highlighting and gating; `role`
    (ROLES) says what the validity table does with it."""

    name: str
    value: float
    signature: Signature
    higher_is_better: bool
    description: str = ""
    role: str = PROXY

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"score {self.name}: role must be one of {', '.join(ROLES)}, got {self.role!r}")

    def to_json(self) -> dict:
        return {"value": float(self.value), "signature": str(self.signature),
                "higher_is_better": self.higher_is_better, "description": self.description, "role": self.role}
