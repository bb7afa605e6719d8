"""The linear-time Self-BLEU equals the naive quadratic computation exactly, sentence by sentence."""
import random
from statistics import fmean

import pytest
from sacrebleu.metrics import BLEU as SacreBLEU

from aigc_eval.errors import UserError
from aigc_eval.metrics import TextEvalSet
from aigc_eval.metrics.bleu import tokenized_lines
from aigc_eval.metrics.self_bleu import SelfBLEU

ORDERS = (2, 3, 4, 5)
CAPTIONS = [
    "a man riding a wave on top of a surfboard",
    "a man riding a wave on top of a surfboard",  # duplicate
    "a cat sitting on top of a wooden table",
    "a group of people standing around a kitchen",
    "",  # empty line
    "   ",  # whitespace only
    "kitchen",  # one token
    "kitchen",
    "a",
    "two dogs playing with a frisbee in the park",
    "a dog a dog a dog a dog",  # repeated n-grams inside one sentence
    "a dog a dog",
    "a red bus driving down a city street",
]


def naive_self_bleu(sentences, order, mode="space", **smooth):
    """Each sentence scored by sacrebleu's sentence_bleu against all the others (quadratic)."""
    lines = tokenized_lines(sentences, mode)
    bleu = SacreBLEU(tokenize="none", max_ngram_order=order, effective_order=True, **smooth)
    return [bleu.sentence_score(hyp, lines[:i] + lines[i + 1:]).score for i, hyp in enumerate(lines)]


def random_corpus(seed, n, vocab, max_len):
    """Tiny vocabularies force shared and repeated n-grams, ties for the largest count, equal lengths."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(vocab, k=rng.randint(0, max_len))) for _ in range(n)]


CORPORA = {
    "captions": (CAPTIONS, "space"),
    "random-3-words": (random_corpus(0, 80, ["a", "b", "c"], 8), "space"),
    "random-6-words": (random_corpus(1, 120, list("abcdef"), 12), "space"),
    "two-sentences": (["a b c d e", "a b c"], "space"),
    "equidistant-lengths": (["a b", "a b c", "a b c d", "b c d e f g", "a b c d e f g h"], "space"),
    "shorter-than-the-orders": (["a b", "a b", "b", "c"], "space"),
    "chinese-chars": (["今天天气很好", "今天天气不好", "我们去公园", "我们 去 公园", "好", ""], "char"),
}


@pytest.mark.parametrize("corpus", CORPORA)
@pytest.mark.parametrize("smooth", [{}, {"smooth_method": "floor"}, {"smooth_method": "none"}],
                         ids=["exp", "floor", "none"])
def test_per_sentence_scores_equal_naive_exactly(corpus, smooth):
    sentences, mode = CORPORA[corpus]
    fast = SelfBLEU(orders=ORDERS, **smooth).per_sentence(sentences, mode)
    for n in ORDERS:
        assert fast[n] == naive_self_bleu(sentences, n, mode, **smooth)


def test_compute_averages_sentence_scores_and_signs_the_sample_count():
    data = TextEvalSet(generated=CAPTIONS, reference=["unused"], train=[])
    scores = {s.name: s for s in SelfBLEU().compute(data)}
    assert sorted(scores) == [f"self_bleu{n}" for n in ORDERS]
    for n in ORDERS:
        assert scores[f"self_bleu{n}"].value == fmean(naive_self_bleu(CAPTIONS, n))
        assert f"n_gen:{len(CAPTIONS)}" in str(scores[f"self_bleu{n}"].signature)
        assert not scores[f"self_bleu{n}"].higher_is_better
    assert 0 < scores["self_bleu5"].value < scores["self_bleu2"].value < 100


def test_copies_score_100_and_disjoint_sentences_score_0():
    copies = SelfBLEU(orders=(4,)).per_sentence(["the cat sat on the mat"] * 5)[4]
    assert copies == [pytest.approx(100.0)] * 5
    disjoint = SelfBLEU(orders=(2,)).per_sentence(["a b c", "d e f", "g h i j"])[2]
    assert disjoint == [0.0, 0.0, 0.0]


def test_one_sentence_is_a_user_error():
    with pytest.raises(UserError, match="self_bleu: needs at least 2 generated sentences, got 1"):
        SelfBLEU().compute(TextEvalSet(generated=["a b c"], reference=[], train=[]))
