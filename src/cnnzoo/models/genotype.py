"""The NASNet search space as data: a genotype is a normal and a reduction cell of B blocks.

Zoph, Vasudevan, Shlens & Le, CVPR 2018, https://arxiv.org/abs/1707.07012, Sec. 3 and Fig. 3: a
cell takes the outputs of the two previous cells (hidden states 0 and 1) and builds B = 5 blocks.
Block ``j`` picks two hidden states among ``0 .. j + 1``, applies one operation to each, and
combines the two results by addition or concatenation into hidden state ``j + 2``. The cell's
output concatenates some hidden states (by default the paper's rule: every block output that no
block reads).

This module holds the types (:class:`Block`, :class:`CellGenotype`, :class:`Genotype`), their
validation (once, when a genotype is constructed), their JSON form, and :data:`NASNET_A`, the
searched cell of Fig. 4. It depends on nothing else in cnnzoo: the NASNet builder
(``models/nasnet.py``) turns a genotype into modules, the search (``cnnzoo.nas``) samples and
mutates genotypes.

JSON form (:meth:`Genotype.to_json`)::

    {"normal":    {"blocks": [{"inputs": [0, 1], "ops": ["sep_conv_5x5", "sep_conv_3x3"],
                               "combine": "add"}, ...],
                   "concat": [1, 2, 3, 4, 5, 6]},
     "reduction": {...},
     "num_blocks": 5}

``concat`` may be ``null`` (the paper's rule) and ``combine`` may be left out (``"add"``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NUM_BLOCKS = 5  # Sec. 3: "B = 5" blocks per cell
# Sec. 3 fixes B = 5 for the whole space; room for twice as many, so that the size of a network
# a genotype file asks for stays bounded.
MAX_BLOCKS = 2 * NUM_BLOCKS
MAX_FILE_BYTES = 1 << 20  # a genotype is ~1 kB, a pareto.json of hundreds of them well under this
NUM_INPUTS = 2  # Sec. 3: a cell's inputs are the outputs of the two previous cells
COMBINES = ("add", "concat")  # Sec. 3, step 5: element-wise addition or concatenation

# Sec. 3: the 13 operations the controller chooses from, in the paper's order (TF-slim names for
# the ones NASNet-A uses: none, avg_pool_3x3, max_pool_3x3, separable_kxk_2).
OPERATION_NAMES = (
    "identity",
    "conv_1x3_3x1",  # 1x3 then 3x1 convolution
    "conv_1x7_7x1",  # 1x7 then 7x1 convolution
    "dil_conv_3x3",  # 3x3 dilated convolution
    "avg_pool_3x3",
    "max_pool_3x3",
    "max_pool_5x5",
    "max_pool_7x7",
    "conv_1x1",
    "conv_3x3",
    "sep_conv_3x3",  # depthwise-separable convolutions
    "sep_conv_5x5",
    "sep_conv_7x7",
)


def _tuple(value: Any) -> Any:
    """Lists (JSON's arrays) become tuples; anything else is left for :func:`check_genotype`."""
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Block:
    """One block of a cell (Sec. 3, steps 1-5): two hidden-state indices, one operation for each,
    and how the two results are combined (``"add"`` or ``"concat"``)."""

    inputs: tuple[int, int]
    ops: tuple[str, str]
    combine: str = "add"

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", _tuple(self.inputs))
        object.__setattr__(self, "ops", _tuple(self.ops))

    @property
    def units(self) -> int:
        """Width of the block's output in multiples of the cell's filters."""
        return NUM_INPUTS if self.combine == "concat" else 1


@dataclass(frozen=True)
class CellGenotype:
    """The blocks of one cell and the hidden states concatenated into its output.

    Args:
        blocks: the cell's blocks; block ``j`` creates hidden state ``j + 2`` and may read states
            ``0 .. j + 1`` (0: previous cell's output, 1: the one before).
        concat: indices of the hidden states concatenated into the output; ``None`` for the
            paper's rule, every block output that no block reads.
    """

    blocks: tuple[Block, ...]
    concat: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", _tuple(self.blocks))
        object.__setattr__(self, "concat", _tuple(self.concat))

    @property
    def read_states(self) -> frozenset[int]:
        """The hidden states some block uses as an input."""
        return frozenset(i for block in self.blocks for i in block.inputs)

    @property
    def output_states(self) -> tuple[int, ...]:
        """The hidden states concatenated into the cell's output, in order."""
        if self.concat is not None:
            return self.concat
        read = self.read_states
        return tuple(i for i in range(NUM_INPUTS, NUM_INPUTS + len(self.blocks)) if i not in read)

    @property
    def units(self) -> int:
        """Width of the cell's output in multiples of its filters."""
        return sum(
            1 if i < NUM_INPUTS else self.blocks[i - NUM_INPUTS].units for i in self.output_states
        )


@dataclass(frozen=True)
class Genotype:
    """A point of the search space: the normal and the reduction cell, ``num_blocks`` blocks each.

    Constructing one validates it (:func:`check_genotype`); a malformed genotype raises
    ``ValueError`` naming the cell, the block and the problem. :meth:`to_json` /
    :meth:`from_json` (and ``to_dict`` / ``from_dict``) round-trip it.
    """

    normal: CellGenotype
    reduction: CellGenotype
    num_blocks: int = NUM_BLOCKS

    def __post_init__(self) -> None:
        check_genotype(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (the module docstring shows its form)."""

        def cell(c: CellGenotype) -> dict[str, Any]:
            blocks = [
                {"inputs": list(b.inputs), "ops": list(b.ops), "combine": b.combine}
                for b in c.blocks
            ]
            return {"blocks": blocks, "concat": None if c.concat is None else list(c.concat)}

        return {
            "normal": cell(self.normal),
            "reduction": cell(self.reduction),
            "num_blocks": self.num_blocks,
        }

    def to_json(self, indent: int | None = None) -> str:
        """The genotype as JSON text (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Genotype:
        """Rebuild a genotype from :meth:`to_dict`'s output; ``ValueError`` if malformed."""
        _check_keys(data, "genotype", required={"normal", "reduction"}, optional={"num_blocks"})
        cells = {name: _cell_from_dict(data[name], name) for name in ("normal", "reduction")}
        return cls(**cells, num_blocks=data.get("num_blocks", NUM_BLOCKS))

    @classmethod
    def from_json(cls, text: str) -> Genotype:
        """Rebuild a genotype from :meth:`to_json`'s output; ``ValueError`` if malformed."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"genotype: not valid JSON: {err}") from None
        return cls.from_dict(data)

    @classmethod
    def from_file(cls, path: str | Path) -> Genotype:
        """Read a genotype JSON file; ``ValueError`` naming the file if it is missing or
        malformed."""
        text = read_genotype_file(path)
        try:
            return cls.from_json(text)
        except ValueError as err:
            raise ValueError(f"genotype file {str(path)!r}: {err}") from None


def read_genotype_file(path: str | Path) -> str:
    """The text of a genotype file (or a ``pareto.json`` of them), refused unread past
    :data:`MAX_FILE_BYTES`.

    Raises:
        ValueError: one line naming the file: missing, unreadable, too large or not UTF-8.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ValueError(f"genotype file {str(path)!r}: {err.strerror or err}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(
            f"genotype file {str(path)!r}: larger than {MAX_FILE_BYTES:,} bytes, "
            "too large for a genotype or a pareto.json"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"genotype file {str(path)!r}: not UTF-8 text ({err.reason})") from None


def as_genotype(genotype: Genotype | Mapping[str, Any] | str) -> Genotype:
    """A :class:`Genotype` from itself, its ``to_dict`` form or its JSON text."""
    if isinstance(genotype, Genotype):
        return genotype
    if isinstance(genotype, str):
        return Genotype.from_json(genotype)
    if isinstance(genotype, Mapping):
        return Genotype.from_dict(genotype)
    raise ValueError(f"genotype must be a Genotype, a dict or JSON text, got {type(genotype)}")


# --- reading the JSON form (structure only; the values are checked by check_genotype) ---------


def _check_keys(data: Any, where: str, *, required: set[str], optional: set[str]) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    missing = sorted(required - set(data))
    unknown = sorted(set(data) - required - optional)
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}")
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(required | optional)}")


def _cell_from_dict(data: Any, name: str) -> CellGenotype:
    where = f"{name} cell"
    _check_keys(data, where, required={"blocks"}, optional={"concat"})
    if not isinstance(data["blocks"], list):
        raise ValueError(f"{where}: 'blocks' must be a list")
    blocks = []
    for j, item in enumerate(data["blocks"]):
        _check_keys(item, f"{where}, block {j}", required={"inputs", "ops"}, optional={"combine"})
        blocks.append(Block(item["inputs"], item["ops"], item.get("combine", "add")))
    return CellGenotype(blocks, data.get("concat"))


# --- validation -------------------------------------------------------------------------------


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_genotype(genotype: Genotype) -> None:
    """Raise ``ValueError`` naming the cell, the block and the problem if ``genotype`` is not a
    point of the search space."""
    num_blocks = genotype.num_blocks
    if not _is_index(num_blocks):
        raise ValueError(f"genotype: num_blocks must be an integer, got {num_blocks!r}")
    if not 1 <= num_blocks <= MAX_BLOCKS:
        raise ValueError(
            f"genotype: num_blocks must be 1 .. {MAX_BLOCKS}, got {num_blocks} "
            f"(Sec. 3: B = {NUM_BLOCKS} blocks per cell)"
        )
    for name in ("normal", "reduction"):
        _check_cell(getattr(genotype, name), name, num_blocks)


def _check_cell(cell: Any, name: str, num_blocks: int) -> None:
    where = f"{name} cell"
    if not isinstance(cell, CellGenotype):
        raise ValueError(f"{where}: expected a CellGenotype, got {type(cell).__name__}")
    if not isinstance(cell.blocks, tuple):
        raise ValueError(f"{where}: blocks must be a tuple of Block, got {type(cell.blocks)}")
    if len(cell.blocks) != num_blocks:
        raise ValueError(
            f"{where}: has {len(cell.blocks)} blocks, expected num_blocks="
            f"{num_blocks} (Sec. 3: each cell has B blocks)"
        )
    for j, block in enumerate(cell.blocks):
        _check_block(block, f"{where}, block {j}", j)
    if cell.concat is not None:
        _check_concat(cell, where, NUM_INPUTS + num_blocks)


def _check_block(block: Any, at: str, j: int) -> None:
    if not isinstance(block, Block):
        raise ValueError(f"{at}: expected a Block, got {type(block).__name__}")
    pairs = (block.inputs, block.ops)
    if not all(isinstance(p, tuple) for p in pairs) or [len(p) for p in pairs] != [2, 2]:
        raise ValueError(
            f"{at}: needs exactly 2 inputs and 2 ops, got {block.inputs!r} and {block.ops!r}"
        )
    for op in block.ops:
        if op not in OPERATION_NAMES:
            raise ValueError(f"{at}: unknown operation {op!r}; known: {', '.join(OPERATION_NAMES)}")
    for i in block.inputs:
        if not _is_index(i) or not 0 <= i < NUM_INPUTS + j:
            raise ValueError(
                f"{at}: input index {i!r} out of range; block {j} may read hidden states "
                f"0..{NUM_INPUTS + j - 1} (0, 1: the cell's inputs, k >= 2: block k-2)"
            )
    if block.combine not in COMBINES:
        raise ValueError(f"{at}: unknown combine {block.combine!r}; known: {COMBINES}")


def _check_concat(cell: CellGenotype, where: str, states: int) -> None:
    if not isinstance(cell.concat, tuple):
        raise ValueError(f"{where}: 'concat' must be a list of hidden states or null")
    if not cell.concat:
        raise ValueError(f"{where}: concat is empty; list the hidden states of the output")
    for i in cell.concat:
        if not _is_index(i) or not 0 <= i < states:
            raise ValueError(f"{where}: concat index {i!r} out of range 0..{states - 1}")
    if len(set(cell.concat)) != len(cell.concat):
        raise ValueError(f"{where}: concat lists a hidden state twice: {list(cell.concat)}")
    dead = [
        k for k in range(NUM_INPUTS, states) if k not in cell.concat and k not in cell.read_states
    ]
    if dead:
        raise ValueError(
            f"{where}: the output of block(s) {[k - NUM_INPUTS for k in dead]} is "
            "neither read by a block nor concatenated"
        )


# Fig. 4, as TF-slim's NasNetANormalCell / NasNetAReductionCell write it (their
# ``hiddenstate_indices`` and ``operations`` read in pairs; none -> identity, separable_kxk_2 ->
# sep_conv_kxk). ``concat`` is what their ``used_hiddenstates`` leaves unmarked: more states than
# the paper's rule (6 and 4 instead of 5 and 3); DARTS' NASNet genotype uses the rule and is a
# different, smaller network.
NASNET_A = Genotype(
    normal=CellGenotype(
        (
            Block((0, 1), ("sep_conv_5x5", "sep_conv_3x3")),
            Block((1, 1), ("sep_conv_5x5", "sep_conv_3x3")),
            Block((0, 1), ("avg_pool_3x3", "identity")),
            Block((1, 1), ("avg_pool_3x3", "avg_pool_3x3")),
            Block((0, 0), ("sep_conv_3x3", "identity")),
        ),
        concat=(1, 2, 3, 4, 5, 6),  # used_hiddenstates = [1, 0, 0, 0, 0, 0, 0]: 6 states
    ),
    reduction=CellGenotype(
        (
            Block((0, 1), ("sep_conv_5x5", "sep_conv_7x7")),
            Block((0, 1), ("max_pool_3x3", "sep_conv_7x7")),
            Block((0, 1), ("avg_pool_3x3", "sep_conv_5x5")),
            Block((3, 2), ("identity", "avg_pool_3x3")),
            Block((2, 0), ("sep_conv_3x3", "max_pool_3x3")),
        ),
        concat=(3, 4, 5, 6),  # used_hiddenstates = [1, 1, 1, 0, 0, 0, 0]: 4 states
    ),
)
