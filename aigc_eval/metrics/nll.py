"""Test-set negative log-likelihood per token, and perplexity, from the model itself.

The model computes `nll_per_token` on the reference sentences (nats per token, the end-of-sentence
token included, over the model's own vocabulary): exact for language models, the negative ELBO
(an upper bound on the NLL) for VAEs, absent for GANs, which then get no scores. The signature's
`bound` field says which, so an ELBO is never ranked as if it were an exact likelihood.
"""
from __future__ import annotations

import math

from .base import Metric, TextEvalSet


class NLL(Metric):
    name = "nll"
    kind = "text"

    def compute(self, eval_set: TextEvalSet):
        value = eval_set.nll_per_token
        if value is None:
            return []
        bound = eval_set.nll_is_bound
        sig = eval_set.signature(self.name, libs=("torch",), bound="elbo" if bound else "exact")
        what = "upper bound (negative ELBO)" if bound else "exact"
        return [
            self.score("nll", value, sig, False, f"test NLL in nats per token, {what}"),
            self.score("perplexity", math.exp(value), sig, False, f"exp(test NLL per token), {what}"),
        ]
