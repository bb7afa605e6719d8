"""ROUGE-1/2/L F-measure (rouge-score) on paired (target, output) texts, e.g. VAE reconstructions.

Unpaired samples have no target, so ROUGE is computed only when the eval set carries
`reconstructions` and is skipped (no scores) otherwise. rouge-score's default tokenizer keeps only
[a-z0-9], so identical Chinese strings score 0 and accented words are cut apart; here it gets the
shared tokenizer (aigc_eval.tokenize, the same tokens BLEU sees) after lowercasing, as rouge-score
lowercases. No stemming. Scores are F-measures in [0, 1], averaged over the pairs.
"""
from __future__ import annotations

from statistics import fmean

from rouge_score.rouge_scorer import RougeScorer
from rouge_score.tokenizers import Tokenizer

from ..errors import UserError
from ..tokenize import tokenize
from .base import Metric, TextEvalSet

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


class SharedTokenizer(Tokenizer):
    """rouge-score tokenizer object: lowercase, split with aigc_eval.tokenize, drop punctuation-only
    tokens. Like rouge-score's default it ignores punctuation (so scores equal it on ASCII text:
    bench/test_bench_peers.py), but it keeps letters of every script, where the default keeps only
    [a-z0-9] and scores identical Chinese strings 0."""

    def __init__(self, mode: str):
        self.mode = mode

    def tokenize(self, text: str) -> list[str]:
        return [t for t in tokenize(text.lower(), self.mode) if any(c.isalnum() for c in t)]


def reconstruction_pairs(eval_set: TextEvalSet) -> tuple[list[str], list[str]] | None:
    """(targets, outputs), or None when the model produced no paired texts."""
    if eval_set.reconstructions is None:
        return None
    targets, outputs = eval_set.reconstructions
    if len(targets) != len(outputs):
        raise ValueError(f"reconstructions: {len(targets)} targets but {len(outputs)} outputs")
    return (list(targets), list(outputs)) if targets else None


class ROUGE(Metric):
    name = "rouge"
    kind = "text"

    def __init__(self, rouge_types=ROUGE_TYPES):
        self.rouge_types = tuple(rouge_types)
        unknown = [t for t in self.rouge_types if t != "rougeL" and not (t[:5] == "rouge" and t[5:].isdigit())]
        if not self.rouge_types or unknown:
            raise UserError(f"rouge rouge_types: expected rougeN (e.g. rouge1) or rougeL, got {list(self.rouge_types)}")

    def compute(self, eval_set: TextEvalSet):
        pairs = reconstruction_pairs(eval_set)
        if pairs is None:
            return []
        scorer = RougeScorer(list(self.rouge_types), tokenizer=SharedTokenizer(eval_set.tokenize))
        per_pair = [scorer.score(target, output) for target, output in zip(*pairs)]  # target first
        sig = eval_set.signature(self.name, libs=("rouge-score",), n_pairs=len(per_pair), case="lc", stem="no",
                                 agg="mean-f")
        return [self.score(t, fmean(s[t].fmeasure for s in per_pair), sig, True,
                           f"{t} F-measure (0-1) of outputs against their targets, mean over pairs")
                for t in self.rouge_types]
