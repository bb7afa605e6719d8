"""BLEU, ROUGE and chrF agree with sacrebleu and rouge-score called directly, on real sentences."""
from statistics import fmean

import pytest
import sacrebleu
from rouge_score.rouge_scorer import RougeScorer
from sacrebleu.metrics import BLEU as SacreBLEU
from sacrebleu.metrics import CHRF

from aigc_eval.errors import UserError
from aigc_eval.metrics import TextEvalSet, build_metric
from aigc_eval.metrics.bleu import BLEU
from aigc_eval.metrics.chrf import ChrF
from aigc_eval.metrics.rouge import ROUGE

# Caption-style test set and samples, with the awkward cases: a duplicate, an empty line and
# one-token sentences on both sides.
TEST_SET = [
    "a man riding a wave on top of a surfboard",
    "a group of people standing around a kitchen",
    "a cat sitting on top of a wooden table",
    "two dogs playing with a frisbee in the park",
    "a plate of food with broccoli and rice",
    "a man riding a wave on top of a surfboard",
    "a red bus driving down a city street",
    "",
    "kitchen",
    "a woman holding an umbrella in the rain",
    "a dog sleeping on a couch",  # 6 tokens: 7-token samples sit halfway between 6 and 8 (ties go shorter)
]
GENERATED = [
    "a man riding a surfboard on a wave",
    "a cat sitting on a wooden table",
    "a group of people standing in a kitchen",
    "a dog playing with a frisbee",
    "a plate of rice and broccoli",
    "a red bus driving down a street in the city",
    "a cat sitting on a wooden table",
    "",
    "surfboard",
    "a woman with an umbrella walking in the rain",
    "two people riding bikes down a street",
]
CHINESE = ["今天天气很好", "我们一起去公园散步", "猫坐在木桌上", "一个男人在海浪上冲浪"]


def eval_set(generated, reference, tokenize="space", reconstructions=None):
    return TextEvalSet(generated=list(generated), reference=list(reference), train=[], tokenize=tokenize,
                       reconstructions=reconstructions)


def by_name(scores):
    return {s.name: s for s in scores}


@pytest.mark.parametrize("smooth", [{}, {"smooth_method": "floor"}, {"smooth_method": "add-k", "smooth_value": 1}],
                         ids=["exp", "floor", "add-k"])
def test_bleu_equals_sacrebleu_with_every_test_sentence_as_a_reference_stream(smooth):
    scores = by_name(BLEU(**smooth).compute(eval_set(GENERATED, TEST_SET)))
    n_gen = len(GENERATED)
    # sacrebleu's layout: K reference streams of N sentences, stream k = test[k] repeated N times.
    streams = [[ref] * n_gen for ref in TEST_SET]
    for n in (2, 3, 4, 5):
        direct = SacreBLEU(tokenize="none", max_ngram_order=n, **smooth).corpus_score(GENERATED, streams)
        assert scores[f"bleu{n}"].value == direct.score
        sentence = SacreBLEU(tokenize="none", max_ngram_order=n, effective_order=True, **smooth)
        texygen = fmean(sentence.sentence_score(hyp, TEST_SET).score for hyp in GENERATED)
        assert scores[f"bleu{n}_texygen"].value == texygen
    assert 0 < scores["bleu5"].value < scores["bleu4"].value < scores["bleu3"].value < scores["bleu2"].value < 100


def test_bleu_texygen_at_order_4_equals_sacrebleus_sentence_bleu_function():
    value = by_name(BLEU(orders=(4,)).compute(eval_set(GENERATED, TEST_SET)))["bleu4_texygen"].value
    assert value == fmean(sacrebleu.sentence_bleu(hyp, TEST_SET, tokenize="none").score for hyp in GENERATED)


def test_clipping_uses_the_best_single_test_sentence_not_the_pooled_test_set():
    # "the the the" matches one "the" in each reference; pooling both references would clip at 2.
    scores = by_name(BLEU(orders=(2,)).compute(eval_set(["the the the"], ["the cat", "the dog"])))
    direct = SacreBLEU(tokenize="none", max_ngram_order=2).corpus_score(["the the the"], [["the cat"], ["the dog"]])
    assert scores["bleu2"].value == direct.score
    assert direct.counts[0] == 1


def test_orders_longer_than_every_sentence():
    generated, test_set = ["a b", "b c", "c"], ["a b c", "b c"]
    scores = by_name(BLEU(orders=(4,)).compute(eval_set(generated, test_set)))
    direct = SacreBLEU(tokenize="none", max_ngram_order=4).corpus_score(generated, [[t] * 3 for t in test_set])
    assert scores["bleu4"].value == direct.score == 0.0  # no 4-grams and no effective order: 0, as sacrebleu
    sentence = SacreBLEU(tokenize="none", max_ngram_order=4, effective_order=True)
    assert scores["bleu4_texygen"].value == fmean(sentence.sentence_score(h, test_set).score for h in generated) > 0


def test_identical_chinese_strings_score_100_bleu_1_rouge_100_chrf():
    data = eval_set(CHINESE, CHINESE, tokenize="char", reconstructions=(CHINESE, CHINESE))
    bleu = by_name(BLEU().compute(data))
    assert len(bleu) == 8 and all(s.value == pytest.approx(100.0) for s in bleu.values())
    assert all(s.value == pytest.approx(1.0) for s in ROUGE().compute(data))
    assert ChrF().compute(data)[0].value == pytest.approx(100.0)
    # rouge-score's own tokenizer keeps only [a-z0-9]: the reason for ours.
    assert RougeScorer(["rouge1"]).score(CHINESE[0], CHINESE[0])["rouge1"].fmeasure == 0.0


def test_char_mode_matches_sacrebleus_char_tokenizer_on_raw_text():
    generated = ["我们去公园散步", "猫坐在桌上", "今天 天气 不错"]
    ours = by_name(BLEU(orders=(2,)).compute(eval_set(generated, CHINESE, tokenize="char")))["bleu2"].value
    direct = SacreBLEU(tokenize="char", max_ngram_order=2).corpus_score(
        generated, [[ref] * len(generated) for ref in CHINESE])
    assert ours == direct.score > 0


def test_rouge_equals_rouge_score_on_ascii_text():
    targets, outputs = TEST_SET[:10] + ["The Dog RAN home"], GENERATED[:10] + ["the dog ran away from home"]
    scores = by_name(ROUGE().compute(eval_set(GENERATED, TEST_SET, reconstructions=(targets, outputs))))
    scorer = RougeScorer(["rouge1", "rouge2", "rougeL"])  # default tokenizer: lowercase [a-z0-9] words
    direct = [scorer.score(t, o) for t, o in zip(targets, outputs)]
    for rouge_type in ("rouge1", "rouge2", "rougeL"):
        assert scores[rouge_type].value == fmean(d[rouge_type].fmeasure for d in direct)
    assert 0 < scores["rouge2"].value < scores["rouge1"].value < 1
    assert scores["rouge1"].signature.fields["n_pairs"] == len(targets)


def test_rouge_keeps_accented_words_whole():
    scores = by_name(ROUGE(rouge_types=["rouge1"]).compute(
        eval_set(["x"], ["x"], reconstructions=(["café crème brûlée"], ["café noir"]))))
    # tokens {café, crème, brûlée} vs {café, noir}: P = 1/2, R = 1/3
    assert scores["rouge1"].value == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))


def test_chrf_equals_sacrebleu_on_paired_text():
    targets, outputs = TEST_SET[:7], GENERATED[:7]
    for word_order, name in ((0, "chrf"), (2, "chrf++")):
        [score] = ChrF(word_order=word_order).compute(eval_set(GENERATED, TEST_SET, reconstructions=(targets, outputs)))
        assert score.name == name
        assert score.value == CHRF(word_order=word_order).corpus_score(outputs, [targets]).score


def test_paired_metrics_skip_unpaired_samples():
    data = eval_set(GENERATED, TEST_SET)
    assert ROUGE().compute(data) == [] and ChrF().compute(data) == []
    assert ROUGE().compute(eval_set(GENERATED, TEST_SET, reconstructions=([], []))) == []
    with pytest.raises(ValueError, match="2 targets but 1 outputs"):
        ROUGE().compute(eval_set(GENERATED, TEST_SET, reconstructions=(["a", "b"], ["a"])))


def test_signatures_carry_protocol_and_sample_counts():
    scores = by_name(build_metric("bleu", orders=(4,), smooth_method="floor").compute(eval_set(GENERATED, TEST_SET)))
    corpus, texygen = str(scores["bleu4"].signature), str(scores["bleu4_texygen"].signature)
    for part in (f"n_gen:{len(GENERATED)}", f"n_ref:{len(TEST_SET)}", "tok:space", "order:4", "smooth:floor[0.10]",
                 f"sb:{sacrebleu.__version__}"):
        assert part in corpus and part in texygen
    assert "agg:corpus" in corpus and "agg:sent-mean" in texygen and corpus != texygen
    assert scores["bleu4"].higher_is_better


@pytest.mark.parametrize("name, config, option", [
    ("bleu", {"orders": (0, 4)}, "bleu orders"),
    ("bleu", {"orders": ()}, "bleu orders"),
    ("bleu", {"smooth_method": "laplace"}, "bleu smooth_method"),
    ("self_bleu", {"orders": ("4",)}, "self_bleu orders"),
    ("rouge", {"rouge_types": ["rougeX"]}, "rouge rouge_types"),
    ("chrf", {"char_order": 0}, "chrf char_order"),
])
def test_bad_configuration_is_a_user_error_naming_the_option(name, config, option):
    with pytest.raises(UserError, match=option):
        build_metric(name, **config)


def test_bleu_without_a_test_set_is_a_user_error():
    with pytest.raises(UserError, match="bleu: needs generated sentences and a test set"):
        BLEU().compute(eval_set(GENERATED, []))
