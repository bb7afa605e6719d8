"""`facts`: a small world of people, animals and cities whose every true sentence is known.

The world (seeded, deterministic) has 20 people and 12 animals ("beings"), 8 cities and 6 jobs:
every being lives in one city and has a rank in two total orders (height, age); every person has
one job; every being likes 5 others. Sentences are lower-case and space-tokenised, e.g.

    alice lives in paris .
    the red fox likes bob and carol .
    alice , who is a doctor , is taller than the grey owl .
    alice and the red fox live in paris .

Grammar (the parser below accepts exactly this; the vocabulary is fixed, 72 words):

    S       -> NP VP_SG "." | NP "," "who" REL "," VP_SG "." | NP "and" NP VP_PL "."
    REL     -> "lives" "in" CITY | "is" "a" JOB
    VP_SG   -> "lives" "in" CITY | "is" "a" JOB | "likes" OBJ | "is" CMP "than" NP
    VP_PL   -> "live" "in" CITY | "are" JOBS | "like" OBJ
    OBJ     -> NP | NP "and" NP
    CMP     -> "taller" | "shorter" | "older" | "younger"
    NP      -> NAME | "the" COLOUR SPECIES

A sentence means a conjunction of atomic facts (lives_in, job, likes, taller, older). The oracle
judges it `true` when every fact holds, `false` when it parses but some fact does not hold
(a factual hallucination: a wrong city, a reversed comparison, an animal that does not exist, or
the same being twice in one coordination), and `ungrammatical` when it does not parse or contains
a word outside the vocabulary. A sample is one sentence: its tokens are the words and the marks
"," and "." (case and spacing are not part of it, so "Alice lives in Paris." reads as the corpus's
"alice lives in paris ."); it ends at its ".", so a sample with no "." is unfinished and one that
runs on after it (a second sentence, a stray token) failed to stop; both are ungrammatical.

Calibration (tests/test_facts_probe.py): on generated probe sets, 200 a set on worlds 0-2, each
labelled by the verdict a person who knows the world gives, the oracle agrees on 100% of true
facts (every template and class), false facts (wrong city / job / liked being / comparison, an
animal with a job, a non-existent animal, one false part of a compound), swapped subject and
object, out-of-vocabulary words, duplicated, dropped and adjacent-swapped words, truncations,
trailing tokens, glued sentences, number and article errors, case / spacing / attached
punctuation (15.5% before case and spacing were normalised) and empty samples.

What it cannot judge (it calls each ungrammatical, where a person would say true or false):
sentences outside this grammar, whether or not every word is in the vocabulary: negation
("alice does not live in rome"), paraphrases ("bob is liked by alice", "alice is from paris"),
indefinites ("a red fox lives in lima"), plural comparisons, relative clauses other than
home / job, coordinated verb phrases; and invented beings with new names ("zara lives in
paris"), since it cannot tell a new name from a non-word (an invented animal of known words is
false). It judges the world only: real-world truths ("paris is in france") are not in its
language, and what a sentence implies beyond its atomic facts, its style and its fluency
beyond the grammar go unjudged. Two choices a person might make otherwise: the same being
twice in one coordination ("alice likes bob and bob") counts as false, and the facts of a
sentence glued after a complete one are not judged (the sample is ungrammatical).

Each sentence's class is the relation of its main clause: RELATIONS below, in label order.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..runtime import stable_hash

NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "kevin", "laura", "mike", "nina", "oscar", "paul", "quinn", "rose", "sam", "tina")
COLOURS = ("red", "brown", "black", "white", "grey", "golden")
SPECIES = ("fox", "cat", "dog", "owl", "bear", "wolf", "horse", "goat")
CITIES = ("paris", "rome", "oslo", "cairo", "lima", "tokyo", "delhi", "berlin")
JOBS = ("doctor", "teacher", "farmer", "baker", "pilot", "painter")
FUNCTION_WORDS = ("the", "lives", "live", "in", "likes", "like", "is", "are", "a", "taller", "shorter",
                  "older", "younger", "than", "who", "and", ",", ".")
VOCABULARY = frozenset(NAMES + COLOURS + SPECIES + CITIES + JOBS + tuple(j + "s" for j in JOBS)
                       + FUNCTION_WORDS)

RELATIONS = ("lives_in", "job", "likes", "height", "age")  # class labels, in this order
N_ANIMALS = 12
N_LIKED = 5
# comparative word -> (atomic relation, whether subject and object swap to state it)
COMPARATIVES = {"taller": ("taller", False), "shorter": ("taller", True),
                "older": ("older", False), "younger": ("older", True)}
CLASS_OF_ATOM = {"lives_in": "lives_in", "job": "job", "likes": "likes", "taller": "height", "older": "age"}

TRUE, FALSE, UNGRAMMATICAL = "true", "false", "ungrammatical"


@dataclass(frozen=True)
class Judgement:
    """The oracle's verdict on one sentence.

    relation: the main clause's class (one of RELATIONS), subjects: the main clause's subject
    NPs; both None/() when ungrammatical. reason: the unknown word, the parse failure, or the
    first false fact.
    """

    verdict: str
    relation: str | None = None
    subjects: tuple[str, ...] = ()
    reason: str = ""


class ParseError(Exception):
    pass


@dataclass(frozen=True)
class Parse:
    relation: str
    subjects: tuple[str, ...]
    atoms: tuple[tuple[str, str, str], ...]  # (relation, entity, value) facts, all must hold
    repeated: bool  # the same NP twice in one coordination


class _Parser:
    """Recursive descent over the grammar in the module docstring, building atomic facts."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.i = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, allowed) -> str:
        tok = self.peek()
        if tok is None or tok not in allowed:
            where = "end of sentence" if tok is None else repr(tok)
            raise ParseError(f"expected {' / '.join(sorted(allowed))[:60]} at token {self.i}, got {where}")
        self.i += 1
        return tok

    def np(self) -> str:
        if self.peek() == "the":
            self.i += 1
            return f"the {self.take(COLOURS)} {self.take(SPECIES)}"
        return self.take(NAMES)

    def objects(self) -> list[str]:
        objs = [self.np()]
        if self.peek() == "and":
            self.i += 1
            objs.append(self.np())
        return objs

    def vp(self, subjects: list[str], plural: bool) -> tuple[str, list[tuple[str, str, str]], list[str]]:
        """(main relation, facts, objects) of a verb phrase about every subject."""
        verb = self.take({"live", "are", "like"} if plural else {"lives", "is", "likes"})
        if verb in ("lives", "live"):
            self.take({"in"})
            city = self.take(CITIES)
            return "lives_in", [("lives_in", s, city) for s in subjects], []
        if verb == "are":
            job = self.take({j + "s" for j in JOBS})[:-1]
            return "job", [("job", s, job) for s in subjects], []
        if verb in ("likes", "like"):
            objs = self.objects()
            return "likes", [("likes", s, o) for s in subjects for o in objs], objs
        if self.peek() == "a":  # "is a JOB"
            self.i += 1
            job = self.take(JOBS)
            return "job", [("job", s, job) for s in subjects], []
        relation, swap = COMPARATIVES[self.take(COMPARATIVES)]
        self.take({"than"})
        obj = self.np()
        facts = [(relation, obj, s) if swap else (relation, s, obj) for s in subjects]
        return CLASS_OF_ATOM[relation], facts, []

    def sentence(self) -> Parse:
        subjects = [self.np()]
        atoms = []
        if self.peek() == "and":
            self.i += 1
            subjects.append(self.np())
        elif self.peek() == ",":
            self.i += 1
            self.take({"who"})
            _, rel_atoms, _ = self.vp(subjects, plural=False)
            if rel_atoms[0][0] not in ("lives_in", "job"):
                raise ParseError(f"a relative clause states lives in / is a, not {rel_atoms[0][0]}")
            atoms += rel_atoms
            self.take({","})
        relation, main_atoms, objs = self.vp(subjects, plural=len(subjects) == 2)
        self.take({"."})
        if self.peek() is not None:
            raise ParseError(f"unexpected {self.peek()!r} after the final '.' at token {self.i}")
        repeated = len(set(subjects)) < len(subjects) or len(set(objs)) < len(objs)
        return Parse(relation, tuple(subjects), tuple(atoms + main_atoms), repeated)


_TOKEN = re.compile(r"[^\s,.]+|[,.]")


def tokenize(sentence: str) -> list[str]:
    """The sentence's words and punctuation marks. Case and spacing are not part of a sentence:
    "Alice lives in Paris." reads as "alice lives in paris ." (a person reads the two as one
    sentence). The corpus and every model sample are already in that form, so this changes no
    verdict on them."""
    return _TOKEN.findall(sentence.lower())


def canonical(sentence: str) -> str:
    """The sentence as the corpus writes it: lower-case, one space between tokens."""
    return " ".join(tokenize(sentence))


def parse(sentence: str) -> Parse:
    """Parse a sentence (see tokenize()); raises ParseError when it is not in the grammar."""
    tokens = tokenize(sentence)
    unknown = [t for t in tokens if t not in VOCABULARY]
    if unknown:
        raise ParseError(f"unknown word {unknown[0]!r}")
    if not tokens:
        raise ParseError("empty sentence")
    return _Parser(tokens).sentence()


@dataclass(frozen=True, eq=False)
class FactsWorld:
    seed: int
    people: tuple[str, ...]
    animals: tuple[str, ...]  # "the red fox", ...
    home: dict  # being -> city
    job: dict  # person -> job
    likes: frozenset  # (liker, liked)
    height: dict  # being -> rank, higher is taller
    age: dict  # being -> rank, higher is older

    @classmethod
    def generate(cls, seed: int = 0) -> "FactsWorld":
        rng = np.random.default_rng(seed)
        pairs = [(c, s) for c in COLOURS for s in SPECIES]
        animals = tuple(f"the {c} {s}" for c, s in
                        (pairs[i] for i in sorted(rng.choice(len(pairs), N_ANIMALS, replace=False))))
        beings = NAMES + animals
        home = {b: CITIES[i] for b, i in zip(beings, rng.integers(0, len(CITIES), len(beings)))}
        job = {p: JOBS[i] for p, i in zip(NAMES, rng.integers(0, len(JOBS), len(NAMES)))}
        likes = set()
        for b in beings:
            others = [o for o in beings if o != b]
            likes.update((b, others[i]) for i in rng.choice(len(others), N_LIKED, replace=False))
        height = dict(zip(beings, rng.permutation(len(beings)).tolist()))
        age = dict(zip(beings, rng.permutation(len(beings)).tolist()))
        return cls(seed, NAMES, animals, home, job, frozenset(likes), height, age)

    @property
    def beings(self) -> tuple[str, ...]:
        return self.people + self.animals

    @cached_property
    def fingerprint(self) -> str:
        """Hash of every fact: two oracle numbers compare only under the same world."""
        return stable_hash([self.home, self.job, sorted(self.likes), self.height, self.age])

    def holds(self, atom: tuple[str, str, str]) -> bool:
        relation, a, b = atom
        if relation == "lives_in":
            return self.home.get(a) == b
        if relation == "job":
            return self.job.get(a) == b
        if relation == "likes":
            return (a, b) in self.likes
        ranks = self.height if relation == "taller" else self.age
        return a in ranks and b in ranks and ranks[a] > ranks[b]

    def judge(self, sentence: str) -> Judgement:
        try:
            p = parse(sentence)
        except ParseError as exc:
            return Judgement(UNGRAMMATICAL, reason=str(exc))
        if p.repeated:
            return Judgement(FALSE, p.relation, p.subjects, "the same being twice in one coordination")
        for atom in p.atoms:
            if not self.holds(atom):
                return Judgement(FALSE, p.relation, p.subjects, f"not {atom[1]} {atom[0]} {atom[2]}")
        return Judgement(TRUE, p.relation, p.subjects)

    # -- the generator: every true sentence of each corpus form --------------------------------
    def true_sentences(self) -> dict[str, list[list[str]]]:
        """{relation class: [sentences of form 1, of form 2, ...]}, each list sorted.

        These forms are the corpus; the grammar admits more (e.g. a relative clause before a
        coordinated object), which the oracle judges all the same.
        """
        beings = self.beings
        homes = {b: f"lives in {self.home[b]}" for b in beings}
        jobs = {p: f"is a {self.job[p]}" for p in self.people}

        def relatives(b):  # the relative clauses true of b
            return [f"{b} , who {homes[b]} ,"] + ([f"{b} , who {jobs[b]} ,"] if b in jobs else [])

        def ordered_pairs(group):
            return [(a, b) for a, b in itertools.permutations(group, 2)]

        def same(attr: dict):
            return [(a, b) for a, b in ordered_pairs(list(attr)) if attr[a] == attr[b]]

        liked = {b: sorted(o for s, o in self.likes if s == b) for b in beings}
        likers = {b: sorted(s for s, o in self.likes if o == b) for b in beings}
        forms = {
            "lives_in": [
                [f"{b} {homes[b]} ." for b in beings],
                [f"{p} , who {jobs[p]} , {homes[p]} ." for p in self.people],
                [f"{a} and {b} live in {self.home[a]} ." for a, b in same(self.home)],
            ],
            "job": [
                [f"{p} {jobs[p]} ." for p in self.people],
                [f"{p} , who {homes[p]} , {jobs[p]} ." for p in self.people],
                [f"{a} and {b} are {self.job[a]}s ." for a, b in same(self.job)],
            ],
            "likes": [
                [f"{a} likes {b} ." for a, b in sorted(self.likes)],
                [f"{a} likes {b} and {c} ." for a in beings for b, c in ordered_pairs(liked[a])],
                [f"{r} likes {b} ." for a, b in sorted(self.likes) for r in relatives(a)],
                [f"{a} and {b} like {c} ." for c in beings for a, b in ordered_pairs(likers[c])],
            ],
        }
        for cls, ranks, words in (("height", self.height, ("taller", "shorter")),
                                  ("age", self.age, ("older", "younger"))):
            greater = [(a, b) for a, b in ordered_pairs(beings) if ranks[a] > ranks[b]]
            forms[cls] = [
                [f"{a} is {words[0]} than {b} ." for a, b in greater]
                + [f"{b} is {words[1]} than {a} ." for a, b in greater],
                [f"{r} is {words[0]} than {b} ." for a, b in greater for r in relatives(a)]
                + [f"{r} is {words[1]} than {a} ." for a, b in greater for r in relatives(b)],
            ]
        return {cls: [sorted(f) for f in forms[cls]] for cls in RELATIONS}


def split_corpus(world: FactsWorld, n_train_per_class: int, n_test_per_class: int,
                 test_fraction: float, seed: int):
    """Train and test sentences with class labels, disjoint, balanced over each class's forms.

    Per class, each form's sentences are shuffled and interleaved round-robin, so both splits mix
    the forms evenly; the class's first min(n_test_per_class, ceil(test_fraction * size)) go to
    test, the next (up to n_train_per_class) to train. Small classes stay small: the split
    reflects the world rather than padding it.
    """
    rng = np.random.default_rng([seed, 1])
    splits = {"train": ([], []), "test": ([], [])}
    for label, cls in enumerate(RELATIONS):
        shuffled = [[form[i] for i in rng.permutation(len(form))] for form in world.true_sentences()[cls]]
        mixed = [s for group in itertools.zip_longest(*shuffled) for s in group if s is not None]
        n_test = min(n_test_per_class, int(np.ceil(test_fraction * len(mixed))))
        parts = {"test": mixed[:n_test], "train": mixed[n_test:n_test + n_train_per_class]}
        for split, sentences in parts.items():
            splits[split][0].extend(sentences)
            splits[split][1].extend([label] * len(sentences))
    out = {}
    for split, (sentences, labels) in splits.items():
        order = rng.permutation(len(sentences))
        out[split] = (tuple(sentences[i] for i in order), np.asarray(labels, dtype=np.int64)[order])
    return out
