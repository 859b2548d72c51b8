"""``cnnzoo nas train`` and ``cnnzoo nas show``: a searched cell, trained at full size or drawn.

``nas train`` stacks the cell of a genotype file N times with P penultimate filters into the
zoo's ``nasnet_cifar`` network (ScheduledDropPath on) and trains it with the training engine,
with every flag of ``cnnzoo train``; ``nas show`` draws its normal and reduction cell.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from cnnzoo.options import argv_of, option
from cnnzoo.train.config import TrainConfig

GENOTYPE_HELP = "a genotype, e.g. a search's best_genotype.json, or its pareto.json with --trial"
TRIAL_HELP = "the member of a pareto.json to take, by trial number"
NO_TRIAL = "none: the file is one genotype"


@dataclass(frozen=True)
class TransferConfig:
    """What ``cnnzoo nas train`` adds to ``cnnzoo train``'s flags.

    Attributes:
        genotype: a genotype JSON file, or a ``pareto.json`` with ``trial``.
        trial: the member of a ``pareto.json`` to take, by trial number.
        num_cells: N, normal cells per stack.
        penultimate_filters: P, the width of the last cell; default: from ``filters``.
        filters: F, the first stack's filters, when P is not given.
        drop_path_prob: ScheduledDropPath of the last cell at the end of training.
    """

    genotype: str = option(help=GENOTYPE_HELP, metavar="GENOTYPE.json")
    trial: int | None = option(None, help=TRIAL_HELP, metavar="N", default_help=NO_TRIAL)
    num_cells: int = option(2, help="normal cells per stack", metavar="N")
    penultimate_filters: int | None = option(
        None, help="width of the last cell", metavar="P", default_help="from --filters"
    )
    filters: int = option(16, help="the first stack's filters, when P is not given", metavar="F")
    drop_path_prob: float = option(0.2, help="ScheduledDropPath of the last cell at the end")

    def model_kwargs(self) -> dict:
        """``nasnet_cifar``'s options for this cell at N and P (or F).

        Raises:
            ValueError: an unreadable genotype file, or a ``trial`` it does not have.
        """
        from cnnzoo.nas.outputs import genotype_from_file
        from cnnzoo.nas.proxy import candidate_kwargs

        genotype = genotype_from_file(self.genotype, self.trial)
        return candidate_kwargs(
            genotype,
            self.num_cells,
            self.filters,
            self.drop_path_prob,
            penultimate_filters=self.penultimate_filters,
        )


def train_cell(config: TransferConfig, train: TrainConfig) -> int:
    """Train the network of ``config``'s cell with ``train``'s recipe flags (its ``model`` is
    replaced); a stop prints the command that continues it.

    Returns:
        0, or the stop's exit code.
    """
    from cnnzoo.nas.proxy import MODEL
    from cnnzoo.train.launch import run_training

    train = dataclasses.replace(train, model=MODEL, model_kwargs=config.model_kwargs())
    return run_training(
        "nas train",
        train,
        lambda again: ["nas", "train", *argv_of(config), *argv_of(again, skip=("model",))],
    )


@dataclass(frozen=True)
class ShowConfig:
    """What ``cnnzoo nas show`` draws.

    Attributes:
        genotype: a genotype JSON file, or a ``pareto.json`` with ``trial``.
        trial: the member of a ``pareto.json`` to take, by trial number.
        out: the stem of the PNG and SVG files; default: beside the genotype file
            (``-trialN`` added for a member of a front).
    """

    genotype: str = option(help=GENOTYPE_HELP, metavar="GENOTYPE.json")
    trial: int | None = option(None, help=TRIAL_HELP, metavar="N", default_help=NO_TRIAL)
    out: str | None = option(
        None,
        help="writes STEM.png and STEM.svg",
        metavar="STEM",
        default_help="beside the genotype",
    )

    @property
    def stem(self) -> str:
        if self.out:
            return self.out
        stem = Path(self.genotype).with_suffix("")
        return str(stem if self.trial is None else stem.with_name(f"{stem.name}-trial{self.trial}"))


def show_cell(config: ShowConfig) -> list[str]:
    """Draw both cells of the genotype to ``STEM.png`` and ``STEM.svg``; one line per file."""
    from cnnzoo.nas.draw import save_genotype
    from cnnzoo.nas.outputs import genotype_from_file

    genotype = genotype_from_file(config.genotype, config.trial)
    return [f"wrote {path}" for path in save_genotype(genotype, config.stem)]
