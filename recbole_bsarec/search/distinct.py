"""Ray's HyperOptSearch without repeats. TPE samples discrete domains with replacement, and a repeated
configuration trains, with the search's one seed, to the identical result: a repeat is drawn again instead."""

from functools import partial

import numpy as np
from hyperopt import rand
from ray.tune.search import Searcher
from ray.tune.search.hyperopt import HyperOptSearch

DRAWS = 200


class SpaceSpent(Exception):
    """Every configuration drawn was one the search had already tried."""


def fresh(algo, new_ids, domain, trials, seed):
    """hyperopt's ``algo``, drawn again with new seeds while it proposes what ``trials`` already hold: first
    ``algo`` itself, then uniformly at random; SpaceSpent when every draw repeats."""
    seen = [doc["misc"]["vals"] for doc in trials.trials]
    seeds = np.random.default_rng(seed)
    for draw in range(DRAWS):
        docs = (algo if draw < DRAWS // 4 else rand.suggest)(new_ids, domain, trials, seed)
        if docs[0]["misc"]["vals"] not in seen:
            return docs
        seed = int(seeds.integers(2**31 - 1))
    raise SpaceSpent


class DistinctHyperOptSearch(HyperOptSearch):
    """HyperOptSearch whose every trial is a configuration not tried before; it ends the search once none
    is left, so more samples than a discrete space holds cannot run one twice."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.algo = partial(fresh, self.algo)

    def suggest(self, trial_id):
        try:
            return super().suggest(trial_id)
        except SpaceSpent:
            return Searcher.FINISHED
