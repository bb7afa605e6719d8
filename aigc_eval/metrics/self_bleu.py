"""Self-BLEU-n (Zhu et al. 2018, Texygen): diversity of the generated sentences; lower is more diverse.

Aggregation, as Texygen: every generated sentence is scored with sentence BLEU against all the
*other* generated sentences as references, and the N scores are averaged. Sentence BLEU is
sacrebleu's sentence_bleu (effective order, exp smoothing by default) on our tokens (see bleu.py).
Scale 0-100. Self-BLEU grows with N, so n_gen is in every signature.

Exact and near-linear. Naively each sentence is matched against the N-1 others: quadratic, 38 s at
N=1,000 and about an hour at 10k on this 2-core machine. Clipping only needs, per n-gram, the
largest count in any *other* sentence. Keeping the two largest per-sentence counts of every n-gram
(and the sentence holding the largest) gives it in O(1): the second largest for the holder, the
largest for everyone else; one sort of the (n-gram, sentence) pairs finds them. The brevity penalty
takes the closest other length from a histogram of lengths (ties to the shorter, as sacrebleu). The
integer statistics equal sacrebleu's and sacrebleu's compute_bleu scores them, so every
per-sentence value equals the naive one exactly (tests/test_self_bleu.py). Measured 10,000
sentences of ~20 tokens, orders 2-5: 0.5 s CPU (bench/test_bench_text_metrics.py).
"""
from __future__ import annotations

from collections import Counter
from statistics import fmean

import numpy as np

from ..errors import NotApplicable, UserError
from ..tokenize import tokenize
from .base import Metric, TextEvalSet
from .bleu import BleuStats, NgramCounts, check_orders, check_smoothing, closest_length, sentence_bleus


def clip_by_others(gram: np.ndarray, sentence: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Each (n-gram, sentence) count clipped by the n-gram's largest count in any *other* sentence.

    Per n-gram: the largest count, the sentence holding it, and the second largest (equal to the
    largest when two sentences tie). The largest among the others is the second largest for the
    holder and the largest for everyone else.
    """
    if len(gram) == 0:  # no sentence is long enough for this order
        return count
    by_count = np.lexsort((-count, gram))  # group by n-gram, largest count first
    gram, sentence, count = gram[by_count], sentence[by_count], count[by_count]
    group_start = np.flatnonzero(np.r_[True, gram[1:] != gram[:-1]])
    group_size = np.diff(np.r_[group_start, len(gram)])
    largest, holder = count[group_start], sentence[group_start]
    second = np.where(group_size > 1, count[np.minimum(group_start + 1, len(gram) - 1)], 0)
    group = np.repeat(np.arange(len(group_start)), group_size)
    others_max = np.where(sentence == holder[group], second[group], largest[group])
    clipped = np.empty_like(count)
    clipped[by_count] = np.minimum(count, others_max)  # back to the caller's pair order
    return clipped


def leave_one_out_stats(sentences, mode: str, max_order: int) -> BleuStats:
    """Statistics of each sentence against all the other sentences as references."""
    counts = NgramCounts.of([tokenize(s, mode) for s in sentences], max_order)
    clipped = [clip_by_others(g, s, c) for g, s, c in zip(counts.gram, counts.sentence, counts.count)]
    length_hist = Counter(counts.lengths.tolist())
    closest_other = {length: closest_length(length, [r for r, c in length_hist.items() if r != length or c > 1])
                     for length in length_hist}
    ref_len = [closest_other[length] for length in counts.lengths.tolist()]
    return BleuStats.of(counts.lengths, ref_len, clipped, counts.sentence)


class SelfBLEU(Metric):
    """Self-BLEU-n for each n in `orders`: mean sentence BLEU of each sample against the others."""

    name = "self_bleu"
    kind = "text"

    def __init__(self, orders=(2, 3, 4, 5), smooth_method: str = "exp", smooth_value: float | None = None):
        self.orders = check_orders(self.name, orders)
        self.smooth_method, self.smooth_value = smooth_method, smooth_value
        self.smooth_signature = check_smoothing(self.name, smooth_method, smooth_value)

    def per_sentence(self, sentences, mode: str = "space") -> dict[int, list[float]]:
        """order -> each sentence's BLEU against all the others (0-100)."""
        stats = leave_one_out_stats(sentences, mode, max(self.orders))
        return {n: sentence_bleus(stats, n, self.smooth_method, self.smooth_value) for n in self.orders}

    def compute(self, eval_set: TextEvalSet):
        if len(eval_set.generated) < 2:
            raise NotApplicable(f"{self.name}: needs at least 2 generated sentences, got {len(eval_set.generated)}")
        per_sentence = self.per_sentence(eval_set.generated, eval_set.tokenize)
        return [self.score(f"self_bleu{n}", fmean(values),
                           eval_set.signature(self.name, order=n, refs="other-gen", agg="sent-mean", eff="yes",
                                              smooth=self.smooth_signature),
                           False, f"Self-BLEU-{n} (0-100): mean sentence BLEU of each generated sentence against "
                                  f"all the others; lower is more diverse; grows with n_gen")
                for n, values in per_sentence.items()]
