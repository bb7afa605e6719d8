"""The facts world: generator, dataset splits, the oracle on true and corrupted sentences, and FactsOracle."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from aigc_eval.data import load_dataset
from aigc_eval.metrics import TextEvalSet, build_metric
from aigc_eval.worlds.facts import (CITIES, FALSE, JOBS, RELATIONS, TRUE, UNGRAMMATICAL, VOCABULARY, FactsWorld,
                                    parse)


@pytest.fixture(scope="module")
def world():
    return FactsWorld.generate(0)


@pytest.fixture(scope="module")
def facts():
    return load_dataset("facts")


def verdict(world, sentence):
    return world.judge(sentence).verdict


# -- the world and the dataset -------------------------------------------------------------------

def test_world_is_deterministic_and_seed_dependent(world):
    assert FactsWorld.generate(0).fingerprint == world.fingerprint
    assert FactsWorld.generate(0).true_sentences() == world.true_sentences()
    assert FactsWorld.generate(1).fingerprint != world.fingerprint


def test_every_generated_sentence_is_true_and_labelled_by_its_form(world):
    for label, cls in enumerate(RELATIONS):
        for form in world.true_sentences()[cls]:
            assert form, f"{cls}: a corpus form has no true sentence"
            for sentence in form:
                j = world.judge(sentence)
                assert (j.verdict, j.relation) == (TRUE, cls), (sentence, j)


def test_dataset_splits(facts, world):
    assert facts.class_names == RELATIONS and facts.tokenize == "space"
    assert facts.meta["world"] == "facts" and facts.meta["world_hash"] == world.fingerprint
    assert 3000 <= len(facts.train) <= 5000 and 300 <= len(facts.test) <= 600
    assert len(set(facts.train)) == len(facts.train) and len(set(facts.test)) == len(facts.test)
    assert not set(facts.train) & set(facts.test), "test must hold only sentences unseen in training"
    for sentences, labels in ((facts.train, facts.train_y), (facts.test, facts.test_y)):
        assert sorted(set(labels.tolist())) == list(range(len(RELATIONS)))
        for s, y in zip(sentences, labels):
            j = world.judge(s)
            assert j.verdict == TRUE and j.relation == RELATIONS[y], (s, j)
    lengths = [len(s.split()) for s in facts.train]
    assert min(lengths) >= 4 and max(lengths) <= 16 and 8 <= np.mean(lengths) <= 11
    words = {w for s in facts.train for w in s.split()}
    assert 50 <= len(words) <= 150 and words <= VOCABULARY


def test_dataset_is_deterministic(facts):
    again = load_dataset("facts")
    assert again.fingerprint() == facts.fingerprint()
    other = load_dataset("facts", seed=1)
    assert other.fingerprint() != facts.fingerprint() and other.meta["world_hash"] != facts.meta["world_hash"]


# -- the oracle: false sentences ---------------------------------------------------------------------

def test_wrong_home_and_job_are_false(world):
    for b in world.beings:
        for city in CITIES:
            assert verdict(world, f"{b} lives in {city} .") == (TRUE if city == world.home[b] else FALSE)
    for p in world.people:
        for job in JOBS:
            assert verdict(world, f"{p} is a {job} .") == (TRUE if job == world.job[p] else FALSE)
    # animals have no job
    assert verdict(world, f"{world.animals[0]} is a doctor .") == FALSE


def test_swapped_objects_and_reversed_comparisons_are_false(world):
    for a, b in itertools.permutations(world.beings[::3], 2):
        taller = world.height[a] > world.height[b]
        older = world.age[a] > world.age[b]
        assert verdict(world, f"{a} is taller than {b} .") == (TRUE if taller else FALSE)
        assert verdict(world, f"{b} is taller than {a} .") == (FALSE if taller else TRUE)
        assert verdict(world, f"{a} is shorter than {b} .") == (FALSE if taller else TRUE)
        assert verdict(world, f"{a} is older than {b} .") == (TRUE if older else FALSE)
        assert verdict(world, f"{a} is younger than {b} .") == (FALSE if older else TRUE)
        assert verdict(world, f"{a} likes {b} .") == (TRUE if (a, b) in world.likes else FALSE)


def test_every_part_of_a_compound_sentence_must_hold(world):
    a = "alice"
    liked = sorted(o for s, o in world.likes if s == a)
    disliked = [b for b in world.beings if b != a and b not in liked]
    wrong_city = next(c for c in CITIES if c != world.home[a])
    assert verdict(world, f"{a} , who lives in {world.home[a]} , likes {liked[0]} .") == TRUE
    assert verdict(world, f"{a} , who lives in {wrong_city} , likes {liked[0]} .") == FALSE
    assert verdict(world, f"{a} likes {liked[0]} and {liked[1]} .") == TRUE
    assert verdict(world, f"{a} likes {liked[0]} and {disliked[0]} .") == FALSE
    mates = [b for b in world.beings if b != a and world.home[b] == world.home[a]]
    strangers = [b for b in world.beings if world.home[b] != world.home[a]]
    assert verdict(world, f"{a} and {mates[0]} live in {world.home[a]} .") == TRUE
    assert verdict(world, f"{a} and {strangers[0]} live in {world.home[a]} .") == FALSE


def test_degenerate_and_invented_entities_are_false(world):
    a = "alice"
    liked = sorted(o for s, o in world.likes if s == a)
    assert verdict(world, f"{a} likes {liked[0]} and {liked[0]} .") == FALSE
    assert verdict(world, f"{a} and {a} live in {world.home[a]} .") == FALSE
    assert verdict(world, f"{a} is taller than {a} .") == FALSE
    missing = next(f"the {c} {s}" for c in ("red", "grey", "white") for s in ("fox", "cat", "dog", "owl")
                   if f"the {c} {s}" not in world.animals)
    j = world.judge(f"{missing} lives in {world.home[a]} .")
    assert j.verdict == FALSE and j.subjects == (missing,)


# -- the oracle: ungrammatical sentences ------------------------------------------------------------

def test_dropped_and_swapped_words_are_ungrammatical(world, facts):
    for s in facts.train[:400] + facts.test:
        tokens = s.split()
        for i in range(len(tokens)):
            assert verdict(world, " ".join(tokens[:i] + tokens[i + 1:])) == UNGRAMMATICAL
            if i + 1 < len(tokens) and tokens[i] != tokens[i + 1]:
                swapped = tokens[:i] + [tokens[i + 1], tokens[i]] + tokens[i + 2:]
                assert verdict(world, " ".join(swapped)) == UNGRAMMATICAL


def test_shuffled_sentences_are_almost_always_ungrammatical(world, facts):
    # A shuffle can be grammatical (two names trading places): measured 4 of 3,277 here.
    rng = np.random.default_rng(0)
    shuffled = [" ".join(rng.permutation(s.split())) for s in facts.train]
    shuffled = [s for s, orig in zip(shuffled, facts.train) if s != orig]
    rate = np.mean([verdict(world, s) == UNGRAMMATICAL for s in shuffled])
    assert rate > 0.99


def test_invented_words_are_ungrammatical(world, facts):
    for s in facts.test[:100]:
        tokens = s.split()
        for i in range(len(tokens)):
            j = world.judge(" ".join(tokens[:i] + ["zorp"] + tokens[i + 1:]))
            assert j.verdict == UNGRAMMATICAL and "unknown word 'zorp'" in j.reason
    assert verdict(world, "alice lives in <unk> .") == UNGRAMMATICAL


@pytest.mark.parametrize("sentence", [
    "paris likes bob .",  # a city is not a being
    "alice lives in bob .",
    "alice is a paris .",
    "alice live in paris .",  # agreement
    "alice and bob lives in paris .",
    "alice and bob is taller than carol .",  # plural comparisons are not in the grammar
    "alice , who likes bob , lives in paris .",  # relative clauses state a home or a job
    "alice lives in paris",
    "alice lives in paris . .",
    "the red likes bob .",
    "",
])
def test_grammar_violations(world, sentence):
    assert verdict(world, sentence) == UNGRAMMATICAL


def test_relation_and_subjects_are_extracted(world):
    p = parse("alice and the red fox like bob and carol .")
    assert p.relation == "likes" and p.subjects == ("alice", "the red fox")
    assert set(p.atoms) == {("likes", s, o) for s in p.subjects for o in ("bob", "carol")}
    p = parse("bob , who is a baker , is younger than alice .")
    assert p.relation == "age" and p.subjects == ("bob",)
    assert set(p.atoms) == {("job", "bob", "baker"), ("older", "alice", "bob")}


# -- the FactsOracle metric ----------------------------------------------------------------------------

def text_set(facts, generated, labels=None, meta=None):
    return TextEvalSet(generated=list(generated), reference=list(facts.test), train=list(facts.train),
                       labels=labels, dataset_meta=facts.meta if meta is None else meta)


def oracle_scores(eval_set):
    return {s.name: s.value for s in build_metric("facts_oracle").compute(eval_set)}


def test_oracle_metric_rates(facts, world):
    novel, seen = facts.test[0], facts.train[0]
    false = f"alice lives in {next(c for c in CITIES if c != world.home['alice'])} ."
    ungrammatical = "alice lives in lives ."
    s = oracle_scores(text_set(facts, [novel, seen, false, ungrammatical] * 5))
    assert s == {"true_rate": 0.5, "factual_hallucination_rate": 0.25, "ungrammatical_rate": 0.25,
                 "novelty": 0.25}
    assert oracle_scores(text_set(facts, facts.test))["novelty"] == 1.0
    assert oracle_scores(text_set(facts, facts.train[:500]))["novelty"] == 0.0


def test_oracle_metric_controllability(facts):
    s = oracle_scores(text_set(facts, facts.test, labels=facts.test_y))
    assert s["controllability"] == 1.0
    shifted = (facts.test_y + 1) % len(RELATIONS)
    assert oracle_scores(text_set(facts, facts.test, labels=shifted))["controllability"] == 0.0
    garbled = ["alice alice ."] * len(facts.test)
    assert oracle_scores(text_set(facts, garbled, labels=facts.test_y))["controllability"] == 0.0
    assert "controllability" not in oracle_scores(text_set(facts, facts.test))


def test_oracle_metric_signature_and_other_datasets(facts):
    scores = build_metric("facts_oracle").compute(text_set(facts, facts.test[:10]))
    sig = str(scores[0].signature)
    assert sig.startswith("facts_oracle|") and f"@{facts.meta['world_hash']}" in sig and "n_gen:10" in sig
    assert build_metric("facts_oracle").compute(text_set(facts, facts.test, meta={"world": "shapes"})) == []
    assert build_metric("facts_oracle").compute(text_set(facts, facts.test, meta={})) == []
