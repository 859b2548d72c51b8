"""The search space's moves: genotypes drawn at random, from all 13 operations or a subset (the
random-search baseline that Zoph et al. 2018 compare their controller against)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from cnnzoo.models.genotype import (
    COMBINES,
    NUM_BLOCKS,
    NUM_INPUTS,
    OPERATION_NAMES,
    Block,
    CellGenotype,
    Genotype,
)


def random_cell(
    rng: random.Random,
    *,
    num_blocks: int = NUM_BLOCKS,
    ops: Sequence[str] = OPERATION_NAMES,
    combines: Sequence[str] = COMBINES,
) -> CellGenotype:
    """A cell drawn uniformly: each block's two inputs, two operations and combine; the output
    is the paper's rule (``concat=None``)."""
    return CellGenotype(
        tuple(
            Block(
                (rng.randrange(NUM_INPUTS + j), rng.randrange(NUM_INPUTS + j)),
                (rng.choice(ops), rng.choice(ops)),
                rng.choice(combines),
            )
            for j in range(num_blocks)
        )
    )


def random_genotype(
    rng: random.Random | int | None = None,
    *,
    num_blocks: int = NUM_BLOCKS,
    ops: Sequence[str] | None = None,
    combines: Sequence[str] = COMBINES,
) -> Genotype:
    """A genotype drawn uniformly from the search space: a random normal and reduction cell.

    Args:
        rng: a ``random.Random``, a seed, or ``None`` for a fresh unseeded generator.
        num_blocks: blocks per cell (B).
        ops: the operations to draw from; default all of ``OPERATION_NAMES``.
        combines: the combine methods to draw from.

    Raises:
        ValueError: an operation or combine that is not in the search space.
    """
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)
    options = {
        "num_blocks": num_blocks,
        "ops": tuple(ops or OPERATION_NAMES),
        "combines": tuple(combines),
    }
    return Genotype(random_cell(rng, **options), random_cell(rng, **options), num_blocks)
