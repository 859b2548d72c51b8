"""The flags of every command are generated from its configuration dataclass: the parser's
defaults are the dataclass's, every flag's help shows its default, and every list of names is the
keys of the table it names."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

import pytest

from cnnzoo.cli import COMMANDS, build_parser, load
from cnnzoo.options import (
    NESTED,
    add_options,
    argv_of,
    check_choices,
    config_from_args,
    flags,
    names_of,
    option,
    resolve,
)


def commands():
    """``(name, Command)`` of every command and sub-command that has flags of its own."""
    for name, command in COMMANDS.items():
        for verb, sub in (command.verbs or {}).items():
            yield f"{name} {verb}", sub
        if command.configs:
            yield name, command


COMMAND_NAMES = [name for name, _ in commands()]
EVERY = dict(commands())


def sub_parser(name: str) -> argparse.ArgumentParser:
    words = name.split()
    _, sub = build_parser(words[0])
    p = sub.choices[words[0]]
    for word in words[1:]:
        (verbs,) = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        p = verbs.choices[word]
    return p


def required_values(cls: type, skip=()) -> dict:
    """A value for each field of ``cls`` without a default: a name of its table, else ``"x"``."""
    values = {}
    for flag in flags(cls, skip=skip):
        if flag.default is dataclasses.MISSING:
            one = resolve(flag.option.choices)[0] if flag.option.choices else "x"
            values[flag.name] = (one,) if flag.many else one
    return values


def test_every_command_has_flags_from_a_configuration():
    expected = {"list", "summary", "compare", "explain", "train", "eval", "predict", "bench"}
    expected |= {"plot", "export", "embed", "report", "nas search", "nas train", "nas show"}
    expected |= {"inspect"}
    expected |= {"draw"}
    assert set(COMMAND_NAMES) == expected
    assert all(EVERY[name].configs for name in expected)


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_the_parser_defaults_are_the_configuration_defaults(name):
    """No flag given: each configuration is its dataclass's defaults, and gives back no flag."""
    command = EVERY[name]
    argv, required, positionals = name.split(), {}, {}
    for path in command.configs:
        required[path] = required_values(load(path), command.skip)
        positionals[path] = [
            v
            for value in required[path].values()
            for v in (value if isinstance(value, tuple) else [value])
        ]
        argv += positionals[path]
    args = build_parser(name.split()[0])[0].parse_args(argv)
    for path in command.configs:
        cls = load(path)
        extra = {f: "x" for f in command.skip if f in {g.name for g in dataclasses.fields(cls)}}
        expected = cls(**required[path], **extra)
        assert config_from_args(cls, args, **extra) == expected
        assert argv_of(expected, skip=command.skip) == positionals[path]


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_help_lists_every_flag_with_its_default(name, monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")  # one line per flag: nothing wraps inside a default
    parser = sub_parser(name)
    text = " ".join(parser.format_help().split())
    command = EVERY[name]
    for path in command.configs:
        for flag in flags(load(path), skip=command.skip):
            if not flag.positional:
                on = flag.kind is not bool or not flag.default
                assert (flag.string if on else f"--no-{flag.string[2:]}") in text
            else:
                assert flag.name in {a.dest for a in parser._actions}
            if flag.default is not dataclasses.MISSING:
                assert f"default: {flag.shown_default()}" in text, flag.string


def test_help_of_the_whole_command_line_builds_no_flags():
    _, sub = build_parser("")
    assert set(COMMANDS) <= set(sub.choices)
    assert all(
        not [a for a in p._actions if a.option_strings and a.dest != "help"]
        for p in sub.choices.values()
    )


def test_name_lists_are_their_tables_keys():
    from cnnzoo.analysis.command import (
        COMPARE_FORMATS,
        DTYPES,
        SUMMARY_FORMATS,
        CompareConfig,
        ExplainConfig,
        SummaryConfig,
    )
    from cnnzoo.analysis.explain import TOPICS
    from cnnzoo.bench.core import BenchConfig
    from cnnzoo.bench.render import RENDERERS
    from cnnzoo.evaluate.loop import TTA
    from cnnzoo.export.command import WRITERS, ExportConfig
    from cnnzoo.nas.search import SearchConfig
    from cnnzoo.nas.strategies import STRATEGIES
    from cnnzoo.train.build import PRECISIONS
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.optim import OPTIMIZERS, SCHEDULES
    from cnnzoo.train.recipes import NAMED
    from cnnzoo.viz.plot import CHARTS, PlotConfig

    tables = [
        (TrainConfig, "optimizer", OPTIMIZERS),
        (TrainConfig, "schedule", SCHEDULES),
        (TrainConfig, "precision", PRECISIONS),
        (TrainConfig, "recipe_name", NAMED),
        (TrainConfig, "tta", TTA),
        (SummaryConfig, "dtype", DTYPES),
        (SummaryConfig, "format", SUMMARY_FORMATS),
        (CompareConfig, "format", COMPARE_FORMATS),
        (ExplainConfig, "topic", TOPICS),
        (PlotConfig, "kind", CHARTS),
        (BenchConfig, "format", RENDERERS),
        (ExportConfig, "format", WRITERS),
        (SearchConfig, "strategy", STRATEGIES),
    ]
    for cls, name, table in tables:
        assert names_of(cls, name) == tuple(table), (cls.__name__, name)
    # and the parser offers exactly those names
    choices = {
        a.dest: a.choices or a.metavar
        for a in sub_parser("train")._actions
        if a.dest in ("optimizer", "schedule", "precision")
    }
    assert choices == {
        "optimizer": tuple(OPTIMIZERS),
        "schedule": tuple(SCHEDULES),
        "precision": PRECISIONS,
    }
    (kind,) = [a for a in sub_parser("plot")._actions if a.dest == "kind"]
    assert kind.choices == tuple(CHARTS)
    (fmt,) = [a for a in sub_parser("bench")._actions if a.dest == "format"]
    assert fmt.metavar == "{" + ",".join(RENDERERS) + "}"


@dataclass(frozen=True)
class Inner:
    size: int = option(3, help="the inner size", flag="--inner-size")
    hidden: int = 7


@dataclass(frozen=True)
class Example:
    name: str = option(help="a name")
    on: bool = option(True, help="turned off by --no-on")
    names: tuple[str, ...] = option(("a",), help="several", nargs="+")
    sizes: tuple[int, ...] = option(
        (1,), help="comma-separated", parse=lambda t: tuple(int(v) for v in t.split(","))
    )
    kind: str = option("x", help="", choices={"x": 1, "y": 2})
    rate: float | None = option(None, help="a rate", default_help="none at all")
    inner: Inner = field(default_factory=Inner, metadata={NESTED: True})
    internal: int = 0


def test_the_types_defaults_and_syntax_follow_the_fields():
    parser = argparse.ArgumentParser()
    add_options(parser, Example)
    args = parser.parse_args(["n"])
    assert config_from_args(Example, args) == Example("n")
    assert (args.on, args.names, args.sizes, args.inner_size) == (True, ("a",), "1", 3)
    argv = ["n", "--no-on", "--names", "b", "c", "--sizes", "2,3", "--kind", "y", "--rate", "0.5"]
    config = config_from_args(Example, parser.parse_args([*argv, "--inner-size", "4"]))
    assert config == Example("n", False, ("b", "c"), (2, 3), "y", 0.5, Inner(4))
    assert argv_of(config) == [*argv, "--inner-size", "4"]
    with pytest.raises(SystemExit):
        parser.parse_args(["n", "--kind", "z"])
    helps = {a.dest: a.help for a in parser._actions}
    assert helps["rate"] == "a rate (default: none at all)"
    assert helps["kind"] == "default: x" and helps["on"] == "turned off by --no-on (default: on)"
    assert helps["inner_size"] == "the inner size (default: 3)"


def test_check_choices_names_the_flag_and_the_table():
    check_choices(Example("n"))
    with pytest.raises(ValueError, match="--kind must be one of x, y, got 'z'"):
        check_choices(Example("n", kind="z"))


def test_a_flag_whose_default_is_none_must_say_what_that_means():
    @dataclass(frozen=True)
    class Unsaid:
        path: str | None = option(None, help="a path")

    with pytest.raises(TypeError, match="--path"):
        add_options(argparse.ArgumentParser(), Unsaid)


def test_flags_given_as_a_mapping_are_read_as_text_and_checked():
    assert config_from_args(Example, {"sizes": "4,5"}, name="n") == Example("n", sizes=(4, 5))
    with pytest.raises(TypeError, match="Example has no flag sizez"):
        config_from_args(Example, {"sizez": "4"}, name="n")
