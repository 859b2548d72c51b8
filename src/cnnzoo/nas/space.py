"""The search space and its moves: genotypes drawn at random, from all 13 operations or a subset
(the random-search baseline that Zoph et al. 2018 compare their controller against), and the
mutations of regularized evolution (Real et al. 2019)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from cnnzoo.models.genotype import (
    COMBINES,
    MAX_BLOCKS,
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


# --- the space as named choices, and its mutations --------------------------------------------

CELLS = ("normal", "reduction")
SEARCH_COMBINES = ("add",)  # NASNet-A's and AmoebaNet's cells only add (Real et al. 2019, Sec. 3)


@dataclass(frozen=True)
class SearchSpace:
    """The cells a search may visit: ``num_blocks`` blocks of two inputs and two operations from
    ``ops``, combined by one of ``combines``; a normal and a reduction cell.

    A genotype is also a point of named choices (:meth:`choices`, :meth:`encode`,
    :meth:`decode`), one per input, operation and combine of each block: the form a study's
    storage keeps, and the one its samplers draw.
    """

    ops: tuple[str, ...] = OPERATION_NAMES
    combines: tuple[str, ...] = SEARCH_COMBINES
    num_blocks: int = NUM_BLOCKS

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "combines", tuple(self.combines))
        unknown = [op for op in self.ops if op not in OPERATION_NAMES]
        if unknown or not self.ops:
            raise ValueError(
                f"unknown operation(s) {', '.join(map(repr, unknown)) or '(none given)'}; the "
                f"space's operations: {', '.join(OPERATION_NAMES)}"
            )
        bad = [c for c in self.combines if c not in COMBINES]
        if bad or not self.combines:
            raise ValueError(f"unknown combine(s) {bad}; choose from {', '.join(COMBINES)}")
        if not 1 <= self.num_blocks <= MAX_BLOCKS:
            raise ValueError(f"a cell has 1 .. {MAX_BLOCKS} blocks, got {self.num_blocks}")

    def to_dict(self) -> dict:
        """Plain data; two searches share a study only if these are equal."""
        return {
            "ops": list(self.ops),
            "combines": list(self.combines),
            "num_blocks": self.num_blocks,
        }

    def choices(self) -> dict[str, tuple]:
        """Every named choice and its options, in a fixed order."""
        out: dict[str, tuple] = {}
        for cell in CELLS:
            for j in range(self.num_blocks):
                for k in range(NUM_INPUTS):
                    out[f"{cell}.{j}.input{k}"] = tuple(range(NUM_INPUTS + j))
                    out[f"{cell}.{j}.op{k}"] = self.ops
                out[f"{cell}.{j}.combine"] = self.combines
        return out

    def encode(self, genotype: Genotype) -> dict[str, object]:
        """The named choices of ``genotype`` (which must lie in this space)."""
        params: dict[str, object] = {}
        for cell in CELLS:
            for j, block in enumerate(getattr(genotype, cell).blocks):
                for k in range(NUM_INPUTS):
                    params[f"{cell}.{j}.input{k}"] = block.inputs[k]
                    params[f"{cell}.{j}.op{k}"] = block.ops[k]
                params[f"{cell}.{j}.combine"] = block.combine
        return params

    def decode(self, params: dict[str, object]) -> Genotype:
        """The genotype of named choices (the paper's output rule: unread states concatenated)."""
        cells = {
            cell: CellGenotype(
                tuple(
                    Block(
                        tuple(int(params[f"{cell}.{j}.input{k}"]) for k in range(NUM_INPUTS)),
                        tuple(str(params[f"{cell}.{j}.op{k}"]) for k in range(NUM_INPUTS)),
                        str(params[f"{cell}.{j}.combine"]),
                    )
                    for j in range(self.num_blocks)
                )
            )
            for cell in CELLS
        }
        return Genotype(cells["normal"], cells["reduction"], self.num_blocks)

    def contains(self, genotype: Genotype) -> bool:
        """Whether ``genotype`` uses only this space's operations, combines and block count."""
        return genotype.num_blocks == self.num_blocks and all(
            op in self.ops and block.combine in self.combines
            for cell in CELLS
            for block in getattr(genotype, cell).blocks
            for op in block.ops
        )

    def sample(self, rng: random.Random) -> Genotype:
        """A genotype drawn uniformly from the space."""
        return random_genotype(
            rng, num_blocks=self.num_blocks, ops=self.ops, combines=self.combines
        )


def mutate(genotype: Genotype, rng: random.Random, space: SearchSpace) -> Genotype:
    """One mutation of regularized evolution (Real et al. 2019, Sec. 3, Fig. 2).

    Picks the normal or the reduction cell, one of its blocks and one of the block's two
    pairwise combinations, then either replaces that side's input by another hidden state of the
    cell (hidden-state mutation) or its operation by another one (op mutation), with equal
    chance. The paper's third kind, the identity mutation, is left out: on a small budget a
    candidate identical to its parent is a wasted evaluation.
    """
    params = space.encode(genotype)
    cell, j, k = rng.choice(CELLS), rng.randrange(space.num_blocks), rng.randrange(NUM_INPUTS)
    inputs = [i for i in range(NUM_INPUTS + j) if i != params[f"{cell}.{j}.input{k}"]]
    ops = [op for op in space.ops if op != params[f"{cell}.{j}.op{k}"]]
    if ops and (not inputs or rng.random() < 0.5):
        params[f"{cell}.{j}.op{k}"] = rng.choice(ops)
    else:
        params[f"{cell}.{j}.input{k}"] = rng.choice(inputs)
    return space.decode(params)
