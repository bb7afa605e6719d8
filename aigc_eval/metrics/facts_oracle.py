"""Exact hallucination, grammaticality, novelty and controllability rates on the `facts` world.

Every generated sentence is judged by the world's oracle (aigc_eval.worlds.facts) as true, false
(grammatical but contradicting the world: a factual hallucination) or ungrammatical. Rates are
shares of all generated sentences:

- true_rate, factual_hallucination_rate, ungrammatical_rate (these three sum to 1);
- novelty: true and not a training sentence (a fact the model was never shown), compared in
  the corpus's written form (aigc_eval.worlds.facts.canonical);
- controllability (conditional models only): the main clause states the requested relation
  class (eval_set.labels index aigc_eval.worlds.facts.RELATIONS); ungrammatical samples miss.

Other datasets get no scores. The signature names the world by the hash of its facts.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..signature import DETAIL, TRUTH
from ..worlds.facts import FALSE, RELATIONS, TRUE, UNGRAMMATICAL, FactsWorld, canonical
from .base import Metric, TextEvalSet


@lru_cache(maxsize=4)
def _world(seed: int) -> FactsWorld:
    return FactsWorld.generate(seed)


class FactsOracle(Metric):
    name = "facts_oracle"
    kind = "text"

    def compute(self, eval_set: TextEvalSet):
        meta = eval_set.dataset_meta
        if meta.get("world") != "facts" or not eval_set.generated:
            return []
        world = _world(int(meta["world_seed"]))
        judgements = [world.judge(s) for s in eval_set.generated]
        verdicts = np.array([j.verdict for j in judgements])
        train = set(eval_set.train)
        novel = [j.verdict == TRUE and canonical(s) not in train for s, j in zip(eval_set.generated, judgements)]
        sig = eval_set.signature(self.name, libs=(), world=f"facts-s{meta['world_seed']}@{world.fingerprint}")
        scores = [
            self.score("true_rate", np.mean(verdicts == TRUE), sig, True,
                       "share of samples that are true facts of the world", DETAIL),
            self.score("factual_hallucination_rate", np.mean(verdicts == FALSE), sig, False,
                       "share of samples that are grammatical but false in the world", TRUTH),
            self.score("ungrammatical_rate", np.mean(verdicts == UNGRAMMATICAL), sig, False,
                       "share of samples outside the grammar or vocabulary", TRUTH),
            self.score("novelty", np.mean(novel), sig, True,
                       "share of samples that are true and not in the training set", DETAIL),
        ]
        if eval_set.labels is not None:
            requested = [RELATIONS[int(k)] for k in np.asarray(eval_set.labels)]
            hits = [j.relation == r for j, r in zip(judgements, requested)]
            scores.append(self.score("controllability", np.mean(hits), sig, True,
                                     "share of samples whose main clause states the requested relation", TRUTH))
        return scores
