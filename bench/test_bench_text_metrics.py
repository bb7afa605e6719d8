"""Text-metric speed: Self-BLEU at 10,000 x ~20 tokens (budget 5 s), BLEU, ROUGE and chrF throughput.

Run: .venv/bin/python -m pytest bench/test_bench_text_metrics.py --benchmark-only
Corpora are seeded Zipfian word sequences (5,000 words, 15-25 tokens): realistic n-gram repetition.
extra_info also holds the CPU seconds of one extra call (`cpu_s`): the wall time on a shared 2-core
machine swings with the other jobs, the CPU time much less.
"""
import random
import time

import pytest
from sacrebleu.metrics import BLEU as SacreBLEU

from aigc_eval.metrics import TextEvalSet
from aigc_eval.metrics.bleu import BLEU
from aigc_eval.metrics.chrf import ChrF
from aigc_eval.metrics.rouge import ROUGE
from aigc_eval.metrics.self_bleu import SelfBLEU

N = 10_000


def zipf_corpus(n, seed, vocab=5000):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(vocab)]
    weights = [1 / (rank + 1) for rank in range(vocab)]
    return [" ".join(rng.choices(words, weights, k=rng.randint(15, 25))) for _ in range(n)]


@pytest.fixture(scope="module")
def generated():
    return zipf_corpus(N, seed=0)


@pytest.fixture(scope="module")
def test_set():
    return zipf_corpus(N, seed=1)


def text_set(generated, reference, reconstructions=None):
    return TextEvalSet(generated=generated, reference=reference, train=[], reconstructions=reconstructions)


def cpu_seconds(fn, *args):
    start = time.process_time()
    fn(*args)
    return time.process_time() - start


def naive_self_bleu_seconds(sentences, order=4):
    bleu = SacreBLEU(tokenize="none", max_ngram_order=order, effective_order=True)
    start = time.perf_counter()
    for i, hyp in enumerate(sentences):
        bleu.sentence_score(hyp, sentences[:i] + sentences[i + 1:])
    return time.perf_counter() - start


def test_self_bleu_10k(pinned_benchmark, generated):
    data = text_set(generated, ["unused"])
    scores = pinned_benchmark.pedantic(SelfBLEU().compute, args=(data,), rounds=3, iterations=1)
    small = generated[:300]
    naive_s = naive_self_bleu_seconds(small)
    start = time.perf_counter()
    SelfBLEU(orders=(4,)).per_sentence(small)
    fast_s = time.perf_counter() - start
    pinned_benchmark.extra_info.update(
        n=N, mean_tokens=sum(len(s.split()) for s in generated) / N, orders="2-5",
        sentences_per_s=N / pinned_benchmark.stats.stats.mean,
        cpu_s=cpu_seconds(SelfBLEU().compute, data),
        naive_s_at_300_order4=naive_s, fast_s_at_300_order4=fast_s, speedup_at_300=naive_s / fast_s,
        naive_s_at_10k_extrapolated=naive_s * (N / 300) ** 2,
        values={s.name: s.value for s in scores})


def test_bleu_throughput(pinned_benchmark, generated, test_set):
    data = text_set(generated, test_set)
    pinned_benchmark.pedantic(BLEU().compute, args=(data,), rounds=3, iterations=1)
    pinned_benchmark.extra_info.update(n_gen=N, n_ref=N, orders="2-5",
                                       sentences_per_s=N / pinned_benchmark.stats.stats.mean,
                                       cpu_s=cpu_seconds(BLEU().compute, data))


def test_rouge_throughput(pinned_benchmark, generated, test_set):
    data = text_set(generated, test_set, reconstructions=(test_set, generated))
    pinned_benchmark.pedantic(ROUGE().compute, args=(data,), rounds=3, iterations=1)
    pinned_benchmark.extra_info.update(n_pairs=N, types="rouge1,rouge2,rougeL",
                                       pairs_per_s=N / pinned_benchmark.stats.stats.mean,
                                       cpu_s=cpu_seconds(ROUGE().compute, data))


def test_chrf_throughput(pinned_benchmark, generated, test_set):
    n = 2000
    data = text_set(generated[:n], test_set[:n], reconstructions=(test_set[:n], generated[:n]))
    pinned_benchmark.pedantic(ChrF().compute, args=(data,), rounds=3, iterations=1)
    pinned_benchmark.extra_info.update(n_pairs=n, pairs_per_s=n / pinned_benchmark.stats.stats.mean,
                                       cpu_s=cpu_seconds(ChrF().compute, data))
