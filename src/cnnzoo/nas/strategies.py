"""How the next candidate is chosen: random search, or regularized (aging) evolution.

Both are Optuna samplers over the named choices of a :class:`~cnnzoo.nas.space.SearchSpace`, so
their only state is the study's storage: any number of worker processes, on any number of
machines, can draw from one study. A candidate's randomness comes from ``(seed, trial number)``,
never from the process that happens to run it.

Regularized evolution (Real et al. 2019, Algorithm 1): the first ``population`` candidates are
random; after that each new one is a mutation of the best of ``sample`` candidates drawn from the
``population`` most recently finished ones. Taking the most recent, not the best, is the "aging"
that regularizes the search: a genotype survives only by having good children.
"""

from __future__ import annotations

import random

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from cnnzoo.nas.space import SearchSpace, mutate

STRATEGIES = ("evolution", "random")
POPULATION = 20  # P of Algorithm 1, sized for a budget of ~100 candidates (the paper: 100)
SAMPLE = 5  # S of Algorithm 1 (the paper's CIFAR runs: 25 of 100)


def distributions(space: SearchSpace) -> dict[str, CategoricalDistribution]:
    """Optuna's form of the space's named choices."""
    return {name: CategoricalDistribution(options) for name, options in space.choices().items()}


class GenotypeSampler(optuna.samplers.BaseSampler):
    """Draws whole genotypes: at random, or by regularized evolution.

    Args:
        space: the search space.
        strategy: ``"random"`` or ``"evolution"``.
        seed: with the trial number, fixes each candidate's draw.
        population: P, the candidates evolution keeps (the most recently finished).
        sample: S, the candidates of the population a parent is the best of.
    """

    def __init__(self, space: SearchSpace, strategy: str, *, seed: int = 0,
                 population: int = POPULATION, sample: int = SAMPLE) -> None:  # fmt: skip
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
        if not 1 <= sample <= population:
            raise ValueError(f"the sample ({sample}) must be 1 .. the population ({population})")
        self.space, self.strategy, self.seed = space, strategy, seed
        self.population, self.sample = population, sample
        self.space_distributions = distributions(space)

    def rng(self, trial: optuna.trial.FrozenTrial) -> random.Random:
        return random.Random(f"{self.seed}:{trial.number}")

    def infer_relative_search_space(self, study, trial):
        return dict(self.space_distributions)

    def sample_relative(self, study, trial, search_space):
        if not search_space:
            return {}
        rng = self.rng(trial)
        parent = self.parent(study, rng) if self.strategy == "evolution" else None
        genotype = self.space.sample(rng) if parent is None else mutate(parent, rng, self.space)
        return self.space.encode(genotype)

    def parent(self, study, rng: random.Random):
        """The best of ``sample`` of the ``population`` latest finished candidates, or ``None``
        while fewer than ``population`` have finished."""
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(done) < self.population:
            return None
        latest = sorted(done, key=lambda t: (t.datetime_complete, t.number))[-self.population:]
        best = max(rng.sample(latest, self.sample), key=lambda t: (t.value, -t.number))
        return self.space.decode(best.params)

    def sample_independent(self, study, trial, param_name, param_distribution):
        options = param_distribution.choices
        return options[self.rng(trial).randrange(len(options))]
