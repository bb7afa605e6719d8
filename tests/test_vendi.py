"""Vendi score against the published README values of vertaix/Vendi-Score and the definition.

Library values below were computed with vendi-score 0.0.3 (PyPI sdist, scipy 1.17, numpy 2.4) on
2026-12-03: score([0,0,10,10,20,20], exp(-|a-b|)) = 2.999999995877701 (README: "2.9999"),
score_K([[1,.9,0],[.9,1,0],[0,0,1]]) = 2.1573004833739833 (README: "2.1573"), score_X of
default_rng(0).normal(size=(50, 8)) = 7.397530734332801. The package is not a dependency (last
release 2022, sdist only, imports nltk/transformers/datasets for text); when it is installed the
last test compares live.
"""
import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import normalize

from aigc_eval.metrics.vendi import ngram_cosine_kernel, vendi_from_kernel, vendi_of_features, vendi_of_ngrams


def test_published_toy_example_is_three():
    samples = np.array([0, 0, 10, 10, 20, 20], dtype=float)
    K = np.exp(-np.abs(samples[:, None] - samples[None, :]))
    assert vendi_from_kernel(K) == pytest.approx(2.999999995877701, abs=1e-12)
    assert vendi_of_features(samples[:, None], kernel="rbf", sigma=1e-3) == pytest.approx(3.0, abs=1e-9)


def test_published_3x3_kernel():
    K = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert vendi_from_kernel(K) == pytest.approx(2.1573004833739833, abs=1e-12)
    # by hand: eigenvalues of K/3 are 1.9/3, 0.1/3, 1/3
    p = np.array([1.9, 0.1, 1.0]) / 3
    assert vendi_from_kernel(K) == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-13)


@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_identical_items_give_one_and_orthogonal_items_give_n(n):
    assert vendi_from_kernel(np.ones((n, n))) == pytest.approx(1.0, abs=1e-9)
    assert vendi_from_kernel(np.eye(n)) == pytest.approx(n, rel=1e-12)
    row = np.random.default_rng(n).normal(size=16)
    assert vendi_of_features(np.tile(row, (n, 1))) == pytest.approx(1.0, abs=1e-9)
    assert vendi_of_features(np.eye(n) * 3.0) == pytest.approx(n, rel=1e-12)  # cosine ignores scale


def test_features_match_library_value_and_primal_equals_dual():
    x = np.random.default_rng(0).normal(size=(50, 8))
    assert vendi_of_features(x) == pytest.approx(7.397530734332801, rel=1e-12)  # dual (d < n)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert vendi_from_kernel(xn @ xn.T) == pytest.approx(7.397530734332801, rel=1e-12)  # primal
    assert vendi_of_features(xn, kernel="linear") == pytest.approx(7.397530734332801, rel=1e-12)


def test_rbf_kernel_equals_explicit_kernel_and_median():
    x = np.random.default_rng(1).normal(size=(30, 3))
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    assert vendi_of_features(x, "rbf", sigma=0.7) == pytest.approx(vendi_from_kernel(np.exp(-d2 / 0.98)), rel=1e-10)
    med = np.sqrt(np.median(d2[np.triu_indices(30, 1)]))
    assert vendi_of_features(x, "rbf", sigma="median") == pytest.approx(
        vendi_of_features(x, "rbf", sigma=med), rel=1e-12)


SENTENCES = ["the cat sat on the mat", "the cat sat on the mat", "a dog ran in the park",
             "the dog sat on the mat", "birds fly over the sea at dawn", "the the the the"]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_ngram_kernel_equals_sklearn_count_vectors(n):
    """The library's recipe: CountVectorizer n-gram counts, L2-normalised, dot products."""
    vec = CountVectorizer(tokenizer=str.split, token_pattern=None, ngram_range=(n, n), lowercase=False)
    x = normalize(vec.fit_transform(SENTENCES))
    expected = (x @ x.T).toarray()
    np.testing.assert_allclose(ngram_cosine_kernel(SENTENCES, n), expected, atol=1e-14)
    assert vendi_of_ngrams(SENTENCES, n) == pytest.approx(vendi_from_kernel(expected), rel=1e-12)


def test_ngram_vendi_hand_values():
    assert vendi_of_ngrams(["a b c", "a b c", "a b c"], 2) == pytest.approx(1.0, abs=1e-12)
    assert vendi_of_ngrams(["a b", "c d", "e f", "g h"], 1) == pytest.approx(4.0, rel=1e-12)
    # "a b" and "a c" share 1 of 2 unigrams: cosine 1/2, eigenvalues of K/2 are 3/4, 1/4
    p = np.array([0.75, 0.25])
    assert vendi_of_ngrams(["a b", "a c"], 1) == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-12)
    # the averaged kernel over orders (1, 2): bigrams differ, so K_12 = (1/2 + 0)/2
    p = np.array([1.25, 0.75]) / 2
    assert vendi_of_ngrams(["a b", "a c"], (1, 2)) == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-12)
    # a sentence shorter than n is a distinct item of its own
    assert vendi_of_ngrams(["a b c", "a b c", "x"], 2) == pytest.approx(np.exp(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3))))
    assert vendi_of_ngrams(["猫が座る", "猫が座る"], 2, mode="char") == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: vendi_from_kernel(np.ones((2, 3))), "square"),
    (lambda: vendi_from_kernel(np.array([[1.0, 0.5], [0.2, 1.0]])), "symmetric"),
    (lambda: vendi_from_kernel(2 * np.eye(2)), "unit diagonal"),
    (lambda: vendi_from_kernel(np.array([[1.0, np.nan], [np.nan, 1.0]])), "NaN"),
    (lambda: vendi_of_features(np.zeros((0, 3))), "non-empty"),
    (lambda: vendi_of_features(np.zeros((2, 3))), "all zero"),
    (lambda: vendi_of_features(np.ones((2, 3)), kernel="poly"), "unknown kernel"),
    (lambda: vendi_of_features(np.ones((2, 3)), kernel="rbf"), "needs sigma"),
    (lambda: vendi_of_features(np.ones((2, 3)), kernel="rbf", sigma=-1.0), "positive"),
    (lambda: vendi_of_features(np.ones((2, 3)), kernel="cosine", sigma=1.0), "applies to kernel=.rbf. only"),
    (lambda: vendi_of_features(np.ones((2, 3)), kernel="linear"), "unit norm"),
    (lambda: vendi_of_ngrams([], 1), "at least one"),
    (lambda: vendi_of_ngrams("a b c", 1), "not one string"),
    (lambda: vendi_of_ngrams(["a b"], 0), "positive integer"),
])
def test_bad_input_is_one_line_value_error(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_against_installed_library():
    vendi = pytest.importorskip("vendi_score.vendi")
    x = np.random.default_rng(2).normal(size=(40, 5))
    assert vendi_of_features(x) == pytest.approx(vendi.score_X(x), rel=1e-10)
    samples = [0, 0, 10, 10, 20, 20]
    K = np.exp(-np.abs(np.subtract.outer(samples, samples)).astype(float))
    assert vendi_from_kernel(K) == pytest.approx(vendi.score(samples, lambda a, b: np.exp(-abs(a - b))), rel=1e-12)


def test_ngram_dual_route_equals_kernel_route():
    """Unigrams over a 5-word vocabulary, 40 sentences (2 without a bigram): V < n takes the dual route."""
    rng = np.random.default_rng(9)
    words = "a b c d e".split()
    sentences = [" ".join(rng.choice(words, rng.integers(1, 6))) for _ in range(40)] + ["x", "y"]
    for n in (1, 2):
        expected = vendi_from_kernel(ngram_cosine_kernel(sentences, n))
        assert vendi_of_ngrams(sentences, n) == pytest.approx(expected, rel=1e-10)
