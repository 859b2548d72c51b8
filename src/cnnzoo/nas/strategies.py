"""How the next candidate is chosen: random search, regularized (aging) evolution, or NSGA-II.

All are Optuna samplers over the named choices of a :class:`~cnnzoo.nas.space.SearchSpace`, so
their only state is the study's storage: any number of worker processes, on any number of
machines, can draw from one study. A candidate's randomness comes from ``(seed, trial number)``,
never from the process that happens to run it.

Regularized evolution (Real et al. 2019, Algorithm 1): the first ``population`` candidates are
random; after that each new one is a mutation of the best of ``sample`` candidates drawn from the
``population`` most recently finished ones. Taking the most recent, not the best, is the "aging"
that regularizes the search: a genotype survives only by having good children.

NSGA-II (Deb et al. 2002) is Optuna's own sampler, searching for the Pareto front of two
objectives at once: validation top-1 (up) and the profiler's MACs (down). Its first generation
of ``population`` candidates is random; later ones cross over and mutate the choices of parents
picked by non-domination rank and crowding distance.
"""

from __future__ import annotations

import random

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from cnnzoo.nas.space import SearchSpace, mutate

STRATEGIES = ("evolution", "random", "nsga2")
DIRECTIONS = {"score": "maximize", "macs": "minimize"}  # what each objective wants
POPULATION = 20  # P of Algorithm 1, sized for a budget of ~100 candidates (the paper: 100)
SAMPLE = 5  # S of Algorithm 1 (the paper's CIFAR runs: 25 of 100)


def objectives(strategy: str) -> tuple[str, ...]:
    """The values a strategy's study optimizes, in order: the validation score, and for
    ``nsga2`` also the MACs."""
    return ("score", "macs") if strategy == "nsga2" else ("score",)


def make_sampler(
    space: SearchSpace,
    strategy: str,
    *,
    seed: int = 0,
    population: int = POPULATION,
    sample: int = SAMPLE,
) -> optuna.samplers.BaseSampler:
    """The sampler of ``strategy`` (``sample`` is evolution's only)."""
    if strategy == "nsga2":
        return TrialSeededNSGAII(population_size=population, seed=seed)
    return GenotypeSampler(space, strategy, seed=seed, population=population, sample=sample)


def trial_seed(seed: int, number: int) -> int:
    """A 32-bit seed of ``(seed, trial number)``, the same in every process."""
    return random.Random(f"{seed}:{number}").getrandbits(32)


class TrialSeededNSGAII(optuna.samplers.NSGAIISampler):
    """Optuna's NSGA-II whose random draws are seeded by ``(seed, trial number)``.

    The stock sampler seeds one random stream per process: two workers, or a resumed run, given
    the same seed would draw the same candidates again. Re-seeding both of its streams (the
    crossover's and the first generation's) before each trial makes a candidate's draw depend on
    its trial only. Those streams are attributes of Optuna's class (pinned in the project's
    requirements); a test checks that the draws follow the trial number.
    """

    def __init__(self, *, population_size: int, seed: int) -> None:
        super().__init__(population_size=population_size, seed=seed)
        self.trial_seed_base = seed

    def before_trial(self, study, trial) -> None:
        value = trial_seed(self.trial_seed_base, trial.number)
        self._rng.rng.seed(value)
        self._random_sampler._rng.rng.seed(value ^ 0x5EED)
        super().before_trial(study, trial)


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

    def __init__(
        self,
        space: SearchSpace,
        strategy: str,
        *,
        seed: int = 0,
        population: int = POPULATION,
        sample: int = SAMPLE,
    ) -> None:
        if strategy not in STRATEGIES or strategy == "nsga2":
            raise ValueError(f"GenotypeSampler draws by evolution or random, not {strategy!r}")
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
        latest = sorted(done, key=lambda t: (t.datetime_complete, t.number))[-self.population :]
        best = max(rng.sample(latest, self.sample), key=lambda t: (t.value, -t.number))
        return self.space.decode(best.params)

    def sample_independent(self, study, trial, param_name, param_distribution):
        options = param_distribution.choices
        return options[self.rng(trial).randrange(len(options))]
