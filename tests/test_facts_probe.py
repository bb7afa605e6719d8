"""Probe sets for the facts oracle (issue 11): does it judge as a person who knows the world would?

Each set is generated, seeded, from the world's own vocabulary and facts, and every probe is
labelled by construction (from the world's tables, never from the parser) with the verdict a
person would give. The oracle's rules are exact, so it must agree with every label. The last
set is what it cannot judge: sentences a person reads as true or false that lie outside the
world's language, which the oracle calls ungrammatical; the test pins that, so the documented
limit cannot change unnoticed. Measured agreement (`pytest -s`; worlds 0-2, 200 probes a set, 220
for false facts, 7 for empty samples):

    true facts (every template)        1.000     truncated / missing '.'      1.000
    false facts (wrong object, ...)    1.000     extra trailing token         1.000
    swapped subject / object           1.000     two sentences glued          1.000
    out-of-vocabulary word             1.000     agreement / article errors   1.000
    duplicated word                    1.000     case, spacing, punctuation   1.000
    dropped word                       1.000     empty / punctuation only     1.000
    wrong word order                   1.000     outside the language         0.000 (a limit)

Decisions a person could make otherwise, taken here and in aigc_eval/worlds/facts.py: a sample
is one sentence ending in "." (no "." reads as unfinished; two sentences, or anything after
the ".", as a failure to stop); case and spacing are not part of a sentence.
"""
from __future__ import annotations

import numpy as np
import pytest

from aigc_eval.data import load_dataset
from aigc_eval.metrics import TextEvalSet, build_metric
from aigc_eval.worlds.facts import (CITIES, COLOURS, FALSE, JOBS, SPECIES, TRUE, UNGRAMMATICAL, VOCABULARY,
                                    FactsWorld, canonical)

N = 200
SEEDS = (0, 1, 2)
SINGULAR = ("lives_in", "job", "likes", "likes2", "taller", "shorter", "older", "younger")
CLASS_OF = {"lives_in": "lives_in", "job": "job", "likes": "likes", "likes2": "likes", "taller": "height",
            "shorter": "height", "older": "age", "younger": "age"}
TEMPLATES = ([("np", k) for k in SINGULAR] + [("who", k) for k in SINGULAR]
             + [("and", k) for k in ("lives_in", "job", "likes")])


class Person:
    """Writes sentences about one world and knows, from its tables alone, whether they are true."""

    def __init__(self, world: FactsWorld, seed: int):
        self.w, self.rng = world, np.random.default_rng([seed, 11])
        self.liked = {b: [o for o in world.beings if (b, o) in world.likes] for b in world.beings}
        self.disliked = {b: [o for o in world.beings if o != b and (b, o) not in world.likes] for b in world.beings}

    def pick(self, seq):
        return seq[self.rng.integers(len(seq))] if len(seq) else None

    def vp(self, s: str, kind: str, truth: bool) -> str | None:
        """A singular verb phrase about s, true or false as asked (None when the world has none)."""
        w = self.w
        if kind == "lives_in":
            return f"lives in {w.home[s] if truth else self.pick([c for c in CITIES if c != w.home[s]])}"
        if kind == "job":  # an animal has no job: "the red fox is a doctor" is false
            if truth and s not in w.job:
                return None
            return f"is a {w.job[s] if truth else self.pick([j for j in JOBS if j != w.job.get(s)])}"
        if kind == "likes":
            return f"likes {self.pick(self.liked[s] if truth else self.disliked[s])}"
        if kind == "likes2":
            b, c = self.rng.choice(self.liked[s], 2, replace=False)
            objs = [b, c if truth else self.pick(self.disliked[s])]
            return "likes {} and {}".format(*self.rng.permutation(objs))
        ranks = w.height if kind in ("taller", "shorter") else w.age
        higher = kind in ("taller", "older")  # "s is taller than o" holds when s ranks higher
        obj = self.pick([o for o in w.beings if o != s and ((ranks[s] > ranks[o]) == higher) == truth])
        return obj and f"is {kind} than {obj}"

    def plural(self, kind: str, truth: bool) -> str | None:
        w = self.w
        a, b = self.rng.choice(w.people if kind == "job" else w.beings, 2, replace=False)
        if kind == "lives_in":
            if w.home[a] == w.home[b]:
                city = w.home[a] if truth else self.pick([c for c in CITIES if c != w.home[a]])
            else:
                city = None if truth else w.home[a]
            return city and f"{a} and {b} live in {city}"
        if kind == "job":
            same = w.job[a] == w.job[b]
            return f"{a} and {b} are {w.job[a]}s" if same == truth else None
        c = self.pick([o for o in self.liked[a] if o != b])
        return f"{a} and {b} like {c}" if c and ((b, c) in w.likes) == truth else None

    def sentence(self, template, truth: bool) -> tuple[str, str]:
        """(sentence, relation class): the template filled in, true or false as asked."""
        form, kind = template
        while True:
            s = self.pick(self.w.beings)
            if form == "np":
                body = self.vp(s, kind, truth)
            elif form == "and":
                body = self.plural(kind, truth)
            else:  # a relative clause; when false, one of the two parts is
                rel_kind = "lives_in" if s not in self.w.job else self.pick(["lives_in", "job"])
                rel_true = truth or bool(self.rng.integers(2))
                rel, body = self.vp(s, rel_kind, rel_true), self.vp(s, kind, truth or not rel_true)
                body = body and f", who {rel} , {body}"
            if body:
                return (f"{s} {body} ." if form != "and" else f"{body} ."), CLASS_OF[kind]

    def sentences(self, truth: bool | None = None) -> list[tuple[str, str]]:
        """(sentence, label) over every template in turn; true, false, or either at random."""
        out = []
        for i in range(N):
            t = bool(self.rng.integers(2)) if truth is None else truth
            out.append((self.sentence(TEMPLATES[i % len(TEMPLATES)], t)[0], TRUE if t else FALSE))
        return out


# -- probe sets: (sentence, the verdict a person gives) ----------------------------------------------

NON_WORDS = ("zorp", "<unk>", "xq", "42", "@", "blorf", "qwerty")


def edited(edit):
    """A probe set of true and false sentences, each edited once into a sentence a person calls
    ungrammatical."""
    def probes(p: Person):
        return [(" ".join(edit(s.split(), p)), UNGRAMMATICAL) for s, _ in p.sentences()]
    return probes


def at(p: Person, tokens, end=0):
    return int(p.rng.integers(len(tokens) - end))


def false_facts(p: Person):
    """Every template with a wrong city, job, liked being or comparison, and animals the world lacks."""
    w = p.w
    ghosts = [f"the {c} {s}" for c in COLOURS for s in SPECIES if f"the {c} {s}" not in w.animals]
    about_ghosts = [p.pick([f"{g} lives in {p.pick(CITIES)} .", f"{p.pick(w.beings)} likes {g} .",
                            f"{g} is older than {p.pick(w.beings)} .", f"{p.pick(w.beings)} is taller than {g} ."])
                    for g in (p.pick(ghosts) for _ in range(N // 10))]
    return p.sentences(False) + [(s, FALSE) for s in about_ghosts]


def swapped(p: Person):
    """Subject and object traded: false for likes and comparisons, nonsense for homes and jobs."""
    w, out = p.w, []
    one_way = sorted((a, b) for a, b in w.likes if (b, a) not in w.likes)
    for i in range(N):
        a, b = p.rng.choice(w.beings, 2, replace=False)
        person, word = p.pick(w.people), p.pick(["taller", "shorter", "older", "younger"])
        ranks = w.height if word in ("taller", "shorter") else w.age
        high, low = (a, b) if ranks[a] > ranks[b] else (b, a)  # true: "high is taller than low"
        liker, liked = one_way[p.rng.integers(len(one_way))]
        out.append([(f"{liked} likes {liker} .", FALSE),
                    (f"{low} is {word} than {high} ." if word in ("taller", "older") else
                     f"{high} is {word} than {low} .", FALSE),
                    (f"{w.home[person]} lives in {person} .", UNGRAMMATICAL),
                    (f"{w.job[person]} is a {person} .", UNGRAMMATICAL)][i % 4])
    return out


def agreement_errors(p: Person):
    """Number and article errors, all in the vocabulary."""
    w, out = p.w, []
    for i in range(N):
        (a, b), c, city = p.rng.choice(w.people, 2, replace=False), p.pick(w.beings), p.pick(CITIES)
        job = p.pick(JOBS)
        out.append((p.pick([
            f"{a} live in {city} .", f"{a} and {b} lives in {city} .", f"{a} like {c} .",
            f"{a} and {b} likes {c} .", f"{a} is a {job}s .", f"{a} and {b} are {job} .",
            f"{a} and {b} are a {job}s .", f"{a} are a {job} .", f"{a} is {job} .",
            f"{p.pick(COLOURS)} {p.pick(SPECIES)} lives in {city} .", f"the {a} lives in {city} .",
        ]), UNGRAMMATICAL))
    return out


def surface_variants(p: Person):
    """Case, spacing and punctuation attached to words: a person reads the same sentence."""
    out = []
    for s, label in p.sentences():
        v = p.pick([str.upper, str.capitalize, str.title, str])(s)
        if p.rng.integers(2):
            v = v.replace(" .", ".").replace(" ,", ",")
        v = "".join(p.pick([" ", "  ", "\t", " \n "]) if ch == " " else ch for ch in f" {v} ")
        assert canonical(v) == s
        out.append((v, label))
    return out


def outside_the_language(p: Person):
    """What the oracle cannot judge: a person reads each as true or false, the oracle finds no
    sentence of its language (negation, paraphrase, invented beings, indefinites, constructions
    the grammar leaves out)."""
    w, out = p.w, []
    for i in range(N):
        (a, b, c), city, job = p.rng.choice(w.beings, 3, replace=False), p.pick(CITIES), p.pick(JOBS)
        ranks_ok = w.height[a] > w.height[b]
        colour, species = p.pick(COLOURS), p.pick(SPECIES)
        out.append(p.pick([
            (f"{a} does not live in {city} .", w.home[a] != city),
            (f"{a} is not a {job} .", w.job.get(a) != job),
            (f"{b} is liked by {a} .", (a, b) in w.likes),
            (f"{a} is from {city} .", w.home[a] == city),
            (f"{p.pick(['zara', 'tom', 'anna'])} lives in {city} .", False),  # no such person
            (f"a {colour} {species} lives in {city} .",
             any(w.home[x] == city for x in w.animals if x == f"the {colour} {species}")),
            (f"{a} and {b} are taller than {c} .", w.height[a] > w.height[c] and w.height[b] > w.height[c]),
            (f"{a} , who likes {b} , lives in {city} .", (a, b) in w.likes and w.home[a] == city),
            (f"{a} is taller than {b} and older than {b} .", ranks_ok and w.age[a] > w.age[b]),
        ]))
    return [(s, TRUE if t else FALSE) for s, t in out]


PROBE_SETS = {
    "true facts (every template)": lambda p: p.sentences(True),
    "false facts (wrong object, attribute, animal)": false_facts,
    "swapped subject / object": swapped,
    "out-of-vocabulary word": edited(lambda t, p: t[:(i := at(p, t))] + [p.pick(NON_WORDS)] + t[i + 1:]),
    "duplicated word": edited(lambda t, p: t[:(i := at(p, t)) + 1] + t[i:]),
    "dropped word": edited(lambda t, p: t[:(i := at(p, t))] + t[i + 1:]),
    "wrong word order (adjacent swap)": edited(lambda t, p: t[:(i := at(p, t, 1))] + [t[i + 1], t[i]] + t[i + 2:]),
    "truncated / missing '.'": edited(lambda t, p: t[:len(t) - 1 if p.rng.integers(2) else at(p, t, 1) + 1]),
    "extra trailing token": edited(lambda t, p: t + [p.pick(sorted(VOCABULARY))]),
    "two sentences glued": edited(lambda t, p: t + p.pick(p.sentences())[0].split()),
    "agreement / article errors": agreement_errors,
    "case, spacing, punctuation": surface_variants,
    "empty / punctuation only": lambda p: [(s, UNGRAMMATICAL) for s in ("", " ", "\t\n", ".", ",", ". .", ", .")],
    "outside the language": outside_the_language,
}
EXACT = [name for name in PROBE_SETS if name != "outside the language"]


def agreement(world, probes):
    verdicts = [world.judge(s).verdict for s, _ in probes]
    return float(np.mean([v == label for v, (_, label) in zip(verdicts, probes)])), verdicts


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", EXACT)
def test_oracle_judges_each_probe_set_as_a_person_does(name, seed):
    world = FactsWorld.generate(seed)
    probes = PROBE_SETS[name](Person(world, seed))
    rate, verdicts = agreement(world, probes)
    print(f"\n{name}, world {seed}: {rate:.3f} of {len(probes)}")
    assert len(probes) >= 7 and {label for _, label in probes} <= {TRUE, FALSE, UNGRAMMATICAL}
    assert rate == 1.0, [(s, label, v) for (s, label), v in zip(probes, verdicts) if v != label][:5]


@pytest.mark.parametrize("seed", SEEDS)
def test_true_probes_cover_every_template_and_read_their_relation(seed):
    world, person = FactsWorld.generate(seed), Person(FactsWorld.generate(seed), seed)
    for template in TEMPLATES:
        for _ in range(5):
            sentence, relation = person.sentence(template, True)
            j = world.judge(sentence)
            assert (j.verdict, j.relation) == (TRUE, relation), (template, sentence, j)


@pytest.mark.parametrize("seed", SEEDS)
def test_what_the_oracle_cannot_judge(seed):
    """A person reads these as true or false; the oracle calls them ungrammatical (agreement 0),
    as the module docstring of aigc_eval/worlds/facts.py records."""
    world = FactsWorld.generate(seed)
    probes = outside_the_language(Person(world, seed))
    rate, verdicts = agreement(world, probes)
    print(f"\noutside the language, world {seed}: {rate:.3f} of {len(probes)}")
    assert len(probes) >= N and {label for _, label in probes} == {TRUE, FALSE}
    assert set(verdicts) == {UNGRAMMATICAL} and rate == 0.0


def test_the_metric_reads_a_surface_variant_as_the_training_sentence():
    """Judged true, and not novel: "Alice lives in Paris." is the training sentence it spells."""
    facts = load_dataset("facts")
    variants = [s.capitalize().replace(" .", ".").replace(" ,", ",") for s in facts.train[:50]]
    assert all(v != s for v, s in zip(variants, facts.train))
    eval_set = TextEvalSet(generated=variants, reference=list(facts.test), train=list(facts.train),
                           labels=None, dataset_meta=facts.meta)
    scores = {s.name: s.value for s in build_metric("facts_oracle").compute(eval_set)}
    assert scores["true_rate"] == 1.0 and scores["novelty"] == 0.0
