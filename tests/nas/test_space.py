"""The search space as named choices, its mutations, and the samplers' draws: every genotype the
search can visit builds with the zoo's NASNet builder and runs."""

from __future__ import annotations

import random

import optuna
import pytest
import torch

from cnnzoo.models.genotype import NASNET_A, OPERATION_NAMES
from cnnzoo.nas.proxy import candidate_kwargs
from cnnzoo.nas.space import SearchSpace, mutate
from cnnzoo.nas.strategies import GenotypeSampler, TrialSeededNSGAII, distributions
from cnnzoo.registry import create_model


def test_encode_decode_round_trip():
    space = SearchSpace()
    sampled = space.sample(random.Random(0))
    assert space.decode(space.encode(sampled)) == sampled
    # NASNet-A's explicit outputs are not a choice of the space (it uses the paper's rule).
    decoded = space.decode(space.encode(NASNET_A))
    assert decoded.normal.blocks == NASNET_A.normal.blocks
    assert set(space.encode(NASNET_A)) == set(space.choices())
    assert len(space.choices()) == 2 * 5 * 5  # two cells, five blocks, 2 inputs + 2 ops + combine


def test_a_mutation_changes_exactly_one_choice():
    space = SearchSpace()
    rng = random.Random(0)
    genotype = NASNET_A
    for _ in range(50):
        child = mutate(genotype, rng, space)
        before, after = space.encode(genotype), space.encode(child)
        assert sum(before[k] != after[k] for k in before) == 1
        genotype = child


def test_a_subset_space_stays_in_its_operations():
    space = SearchSpace(ops=("identity", "sep_conv_3x3"))
    rng = random.Random(1)
    genotype = space.sample(rng)
    for _ in range(20):
        genotype = mutate(genotype, rng, space)
        assert space.contains(genotype)
    assert not space.contains(NASNET_A)


def test_unknown_operation_is_named():
    with pytest.raises(ValueError, match=r"unknown operation\(s\) 'conv_9x9'; the space's"):
        SearchSpace(ops=("conv_9x9", "identity"))


def test_every_sampled_and_mutated_genotype_builds_and_runs():
    space = SearchSpace()
    rng = random.Random(2)
    genotypes = [space.sample(rng) for _ in range(12)]
    genotypes += [mutate(g, rng, space) for g in genotypes]
    x = torch.randn(2, 1, 28, 28)
    for genotype in genotypes:
        model = create_model(
            "nasnet_cifar", num_classes=10, in_chans=1, **candidate_kwargs(genotype, 1, 4)
        ).eval()
        with torch.inference_mode():
            out = model(x)
        assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_all_thirteen_operations_are_searched():
    assert SearchSpace().ops == OPERATION_NAMES and len(OPERATION_NAMES) == 13


def fake_score(trial: optuna.Trial, space: SearchSpace) -> float:
    params = {n: trial.suggest_categorical(n, o) for n, o in space.choices().items()}
    genotype = space.decode(params)
    return sum(op == "sep_conv_3x3" for b in genotype.normal.blocks for op in b.ops) / 10


def test_random_draws_depend_on_seed_and_trial_number_only():
    space = SearchSpace()
    runs = []
    for _ in range(2):
        study = optuna.create_study(
            sampler=GenotypeSampler(space, "random", seed=3), direction="maximize"
        )
        study.optimize(lambda t: fake_score(t, space), n_trials=4)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1] and runs[0][0] != runs[0][1]


def test_evolution_children_are_mutations_of_the_population():
    space = SearchSpace()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = GenotypeSampler(space, "evolution", seed=0, population=6, sample=3)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    study.optimize(lambda t: fake_score(t, space), n_trials=30)
    trials = study.trials
    for child in trials[6:]:
        earlier = [t.params for t in trials[: child.number]]
        # One choice away from some earlier candidate.
        assert min(sum(p[k] != child.params[k] for k in p) for p in earlier) == 1
    # Selection pushes the score up: the later candidates beat the random first population.
    first = sum(t.value for t in trials[:6]) / 6
    last = sum(t.value for t in trials[-6:]) / 6
    assert last > first


def test_nsga2_draws_follow_the_trial_not_the_process():
    # Two workers (two samplers of one seed) on one storage: the stock sampler would give both
    # the same random stream, and so the same candidates; here each trial number has its own.
    space = SearchSpace()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    studies = [
        optuna.create_study(
            storage=storage,
            study_name="shared",
            load_if_exists=True,
            directions=["maximize", "minimize"],
            sampler=TrialSeededNSGAII(population_size=4, seed=5),
        )
        for _ in range(2)
    ]
    space_distributions = distributions(space)
    shared = []
    for i in range(6):
        trial = studies[i % 2].ask(space_distributions)
        studies[i % 2].tell(trial, [fake_score(trial, space), float(i)])
        shared.append(trial.params)
    assert len({tuple(sorted(p.items())) for p in shared}) == 6
    # One worker alone draws the same candidates for the same trial numbers.
    alone = optuna.create_study(
        directions=["maximize", "minimize"], sampler=TrialSeededNSGAII(population_size=4, seed=5)
    )
    for i in range(4):  # the first generation is random: its draws are the trial's alone
        trial = alone.ask(space_distributions)
        alone.tell(trial, [fake_score(trial, space), float(i)])
        assert trial.params == shared[i]
