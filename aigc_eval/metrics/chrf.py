"""chrF (Popović 2015) via sacrebleu, on paired (target, output) texts only.

Reference handling: chrF needs an aligned reference. For paired texts (reconstructions, or outputs
conditioned on a test sentence) it is sacrebleu's corpus chrF with the targets as the one reference
stream. Unpaired samples are skipped (no scores): sacrebleu's multi-reference chrF keeps the best
reference per hypothesis, so the whole test set as references would cost |test| times a single
pass (10,000 pairs alone take about 5 s here), and BLEU already covers that comparison. Texts go
through the shared tokenizer first (see bleu.py); chrF removes whitespace before its character
n-grams, so that only matters for word n-grams (word_order > 0). Scale 0-100.
"""
from __future__ import annotations

from sacrebleu.metrics.chrf import CHRF

from ..errors import UserError
from .base import Metric, TextEvalSet
from .bleu import tokenized_lines
from .rouge import reconstruction_pairs


class ChrF(Metric):
    name = "chrf"
    kind = "text"

    def __init__(self, char_order: int = CHRF.CHAR_ORDER, word_order: int = CHRF.WORD_ORDER, beta: int = CHRF.BETA):
        for option, value, low in (("char_order", char_order, 1), ("word_order", word_order, 0), ("beta", beta, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise UserError(f"chrf {option}: expected an integer >= {low}, got {value!r}")
        self.char_order, self.word_order, self.beta = char_order, word_order, beta

    def compute(self, eval_set: TextEvalSet):
        pairs = reconstruction_pairs(eval_set)
        if pairs is None:
            return []
        targets, outputs = (tokenized_lines(texts, eval_set.tokenize) for texts in pairs)
        chrf = CHRF(char_order=self.char_order, word_order=self.word_order, beta=self.beta)
        value = chrf.corpus_score(outputs, [targets]).score
        name = "chrf" + "+" * self.word_order  # chrF+ adds word unigrams, chrF++ word bigrams too
        sig = eval_set.signature(self.name, n_pairs=len(targets), char_order=self.char_order,
                                 word_order=self.word_order, beta=self.beta)
        return [self.score(name, value, sig, True,
                           f"{name} (0-100): character n-gram F-beta of outputs against their targets")]
