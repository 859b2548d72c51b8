"""Command-line flags generated from configuration dataclasses, so that a default exists once.

Each field that is a flag says so beside its default, with :func:`option` (its help text, and
where the field's name and type do not say it: the flag, the metavar, the table of its names, how
its text is read). :func:`add_options` adds a configuration's flags to a parser,
:func:`config_from_args` builds the configuration from the parsed flags, and :func:`argv_of` is
its inverse (the flags that make a configuration). What a flag accepts follows from the field:

- ``str``, ``int``, ``float`` (or ``X | None``): a value of that type.
- ``bool``: ``--x`` (store true) for a ``False`` default, ``--no-x`` for a ``True`` one, both for
  a ``None`` one (left out: ``None``).
- ``tuple[X, ...]``: several values after the flag (``nargs``), or one text such as
  ``"eager,fold"`` read by the field's ``parse``.
- a field without a default: a positional argument.
- ``choices``: a table (a name -> factory dict, or a tuple of names) whose keys are the values;
  ``"module:NAME"`` names a table that cannot be imported where the configuration is defined.

Every flag's help ends with its default: the value as the flag writes it, or the option's
``default_help`` (what ``None`` means, e.g. "from the model's recipe"); a flag whose default is
``None`` or empty must say what that means.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import types
import typing
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import MISSING, dataclass
from typing import Any, Literal

OPTION = "cnnzoo.option"  # the key of a field's metadata that holds its Option
# ... that marks a field holding a configuration whose option fields are flags of this one:
# ``field(default_factory=Proxy, metadata={NESTED: True})``
NESTED = "cnnzoo.nested"


@dataclass(frozen=True)
class Option:
    """How a configuration field is given on the command line.

    Args:
        help: what the flag does, without its default (added from the field).
        default_help: the default in words, where the value does not say it (``None``: "from
            the model's recipe").
        flag: the option string; default ``--`` and the field's name with ``-`` for ``_``.
        metavar: the value's name in the help.
        choices: the table whose names are the values (a mapping's keys or a sequence), or
            ``"module:NAME"`` of such a table.
        checked_by: ``"parser"``: argparse refuses another value (a usage error); ``"config"``:
            the configuration refuses it (one line of bad input) and the help lists the names.
        nargs: ``"+"``, ``"*"`` or ``"?"`` for a field of several values (or an optional
            positional).
        parse: reads the flag's text into the field's value when the configuration is built (a
            ``ValueError`` is bad input); the flag's default is the default as text.
        type: reads the text while the flags are parsed (a ``ValueError`` or
            ``argparse.ArgumentTypeError`` is a usage error).
        text: the value as the flag writes it (default: comma-separated for a tuple, ``str``).
        positional: a positional argument even though the field has a default.
    """

    help: str
    default_help: str | None = None
    flag: str | None = None
    metavar: str | None = None
    choices: Mapping[str, Any] | Sequence[str] | str | None = None
    checked_by: Literal["parser", "config"] = "parser"
    nargs: str | None = None
    parse: Callable[[str], Any] | None = None
    type: Callable[[str], Any] | None = None
    text: Callable[[Any], str] | None = None
    positional: bool = False


def option(default: Any = MISSING, *, default_factory: Any = MISSING, **kwargs: Any) -> Any:
    """A dataclass field that is a flag: ``default`` (or ``default_factory``) and the
    :class:`Option` made of ``kwargs``."""
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={OPTION: Option(**kwargs)}
    )


@dataclass(frozen=True)
class Flag:
    """One flag of a configuration: where its value goes, its option and its default."""

    dest: str  # the attribute of the parsed flags
    path: tuple[str, ...]  # the field, through nested configurations
    option: Option
    kind: Any  # the field's type without ``None``
    default: Any  # MISSING for a required field

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def positional(self) -> bool:
        return self.default is MISSING or self.option.positional

    @property
    def string(self) -> str:
        """``--batch-size``, or the positional's name."""
        if self.positional:
            return self.name
        return self.option.flag or f"--{self.name.replace('_', '-')}"

    @property
    def many(self) -> bool:
        return typing.get_origin(self.kind) is tuple

    def as_text(self, value: Any) -> str:
        if self.option.text is not None:
            return self.option.text(value)
        if isinstance(value, tuple):
            return ",".join(map(str, value))
        return str(value)

    def shown_default(self) -> str:
        """The default as the help shows it."""
        if self.option.default_help is not None:
            return self.option.default_help
        if self.kind is bool:
            return "on" if self.default else "off"
        if self.default is None or self.default == ():
            raise TypeError(f"{self.string}: say what its default means (default_help)")
        if self.many and self.option.nargs:
            return " ".join(map(str, self.default))
        return self.as_text(self.default)


def resolve(table: Mapping[str, Any] | Sequence[str] | str) -> tuple[str, ...]:
    """The names of a table, or of the table ``"module:NAME"``."""
    if isinstance(table, str):
        module, name = table.split(":")
        table = getattr(importlib.import_module(module), name)
    return tuple(table)


def names_of(cls: type, name: str) -> tuple[str, ...]:
    """The names field ``name`` of configuration ``cls`` takes (its option's ``choices``)."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return resolve(field.metadata[OPTION].choices)


def _without_none(kind: Any) -> Any:
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return args[0] if len(args) == 1 else kind
    return kind


def flags(cls: type, *, skip: Collection[str] = ()) -> list[Flag]:
    """The flags of configuration ``cls`` in field order (a nested configuration's in its place),
    without the fields named in ``skip``."""

    def walk(cls: type, path: tuple[str, ...]) -> Iterator[Flag]:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in skip and not path:
                continue
            default = f.default
            if default is MISSING and f.default_factory is not MISSING:
                default = f.default_factory()
            if f.metadata.get(NESTED):
                yield from walk(hints[f.name], (*path, f.name))
            elif OPTION in f.metadata:
                dest = "_".join((*path, f.name))
                kind = _without_none(hints[f.name])
                yield Flag(dest, (*path, f.name), f.metadata[OPTION], kind, default)

    return list(walk(cls, ()))


def _help(flag: Flag) -> str:
    text = flag.option.help
    if not flag.positional or flag.default is not MISSING:
        shown = flag.shown_default()
        text = f"{text} (default: {shown})" if text else f"default: {shown}"
    return text.replace("%", "%%")


def argument(flag: Flag) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The ``add_argument`` call of ``flag``: its names and keywords."""
    opt = flag.option
    kwargs: dict[str, Any] = {"help": _help(flag)}
    if not flag.positional:
        kwargs["dest"] = flag.dest
    if flag.kind is bool and flag.default is None:
        kwargs.update(action=argparse.BooleanOptionalAction, default=None)
        return (flag.string,), kwargs
    if flag.kind is bool:
        kwargs.update(action="store_false" if flag.default else "store_true")
        names = (f"--no-{flag.string[2:]}",) if flag.default else (flag.string,)
        return names, kwargs
    if flag.default is not MISSING:
        parsed_later = opt.parse is not None and flag.default is not None
        kwargs["default"] = flag.as_text(flag.default) if parsed_later else flag.default
    if opt.nargs or (flag.positional and flag.default is not MISSING):
        kwargs["nargs"] = opt.nargs or "?"
    if opt.parse is None:
        element = typing.get_args(flag.kind)[0] if flag.many else flag.kind
        kwargs["type"] = opt.type or (element if element in (int, float) else None)
        if kwargs["type"] is None:
            del kwargs["type"]
    if opt.choices is not None:
        names = resolve(opt.choices)
        if opt.checked_by == "parser":
            kwargs["choices"] = names
        elif opt.metavar is None:
            kwargs["metavar"] = "{" + ",".join(names) + "}"
    if opt.metavar is not None:
        kwargs["metavar"] = opt.metavar
    return (flag.string,), kwargs


def add_options(
    parser: argparse.ArgumentParser, cls: type, *, skip: Collection[str] = ()
) -> list[Flag]:
    """Add the flags of configuration ``cls`` (less ``skip``) to ``parser``; returns them."""
    found = flags(cls, skip=skip)
    for flag in found:
        names, kwargs = argument(flag)
        parser.add_argument(*names, **kwargs)
    return found


def config_from_args(cls: type, args: argparse.Namespace | Mapping[str, Any], **extra: Any):
    """The configuration ``cls`` whose fields are the flags of the same names.

    Args:
        cls: a configuration dataclass with :func:`option` fields.
        args: the parsed flags (or a mapping of flag values; a missing one keeps its default).
        extra: fields given directly (not flags, or flags replaced).

    Raises:
        ValueError: a flag's text its ``parse`` cannot read.
        TypeError: a mapping with a name that is no flag of ``cls``.
    """
    known = flags(cls, skip=extra)
    if isinstance(args, argparse.Namespace):
        values = vars(args)  # also holds the other flags of the command line
    else:
        values = dict(args)
        unknown = set(values) - {flag.dest for flag in known}
        if unknown:
            raise TypeError(f"{cls.__name__} has no flag {', '.join(sorted(unknown))}")
    fields: dict[str, Any] = {}
    nested_fields: dict[str, dict[str, Any]] = {}
    for flag in known:
        if flag.dest not in values:
            continue
        value = values[flag.dest]
        if flag.option.parse is not None and isinstance(value, str):
            value = flag.option.parse(value)
        elif flag.many and isinstance(value, list):
            value = tuple(value)
        if len(flag.path) == 1:
            fields[flag.name] = value
        else:
            nested_fields.setdefault(flag.path[0], {})[flag.name] = value
    hints = typing.get_type_hints(cls)
    for name, values_ in nested_fields.items():
        fields[name] = hints[name](**values_)
    return cls(**fields, **extra)


def argv_of(config: Any, *, skip: Collection[str] = ()) -> list[str]:
    """The arguments that make ``config``, the inverse of :func:`config_from_args`: positionals,
    then the flags whose value is not the default (fields in ``skip`` and non-flags left out)."""
    positionals: list[str] = []
    rest: list[str] = []
    for flag in flags(type(config), skip=skip):
        value = config
        for name in flag.path:
            value = getattr(value, name)
        if flag.positional:
            if value != flag.default:
                positionals += [*map(str, value)] if flag.many else [str(value)]
        elif value != flag.default:
            if flag.kind is bool and flag.default is None:
                rest.append(flag.string if value else f"--no-{flag.string[2:]}")
            elif flag.kind is bool:
                rest.append(argument(flag)[0][0])
            elif flag.many and flag.option.nargs:
                rest += [flag.string, *map(str, value)]
            else:
                rest += [flag.string, flag.as_text(value)]
    return [*positionals, *rest]


def require(condition: bool, message: str) -> None:
    """Raise a ``ValueError`` with ``message`` (one line of bad input) unless ``condition``."""
    if not condition:
        raise ValueError(message)


def check_choices(config: Any, names: Sequence[str] | None = None) -> None:
    """Raise a ``ValueError`` for a field of ``config`` (those in ``names``, default all) whose
    value is not a name of its table: ``--optimizer must be one of sgd, adamw, got 'x'``."""
    for flag in flags(type(config)):
        chosen = names is None or flag.name in names
        if flag.option.choices is None or len(flag.path) > 1 or not chosen:
            continue
        value = getattr(config, flag.name)
        known = resolve(flag.option.choices)
        if value is not None and value not in known:
            raise ValueError(f"{flag.string} must be one of {', '.join(known)}, got {value!r}")


def comma_names(known: Mapping[str, Any] | Sequence[str], what: str, *, every: str | None = None):
    """A ``parse`` for ``"eager,fold"`` -> ``("eager", "fold")``, names of the table ``known``;
    ``"all"`` is every name (or only those in ``every``, when given).

    The returned function raises ``ValueError`` for an unknown name, listing the known ones.
    """

    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        if names == ("all",):
            return tuple(every or known)
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise ValueError(
                f"unknown {what} {', '.join(map(repr, unknown)) or repr(text)}; "
                f"known: {', '.join(known)} (or all)"
            )
        return tuple(dict.fromkeys(names))

    return parse


def count_or_all(flag: str) -> Callable[[str], int | None]:
    """A ``parse`` for a number of images or ``all`` (-> ``None``); its ``ValueError`` names
    ``flag``: ``--n must be a number of images or 'all', got 'x'``. :func:`count_text` writes
    the value back."""

    def parse(text: str) -> int | None:
        if text == "all":
            return None
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{flag} must be a number of images or 'all', got {text!r}") from None

    return parse


def count_text(count: int | None) -> str:
    """A value of :func:`count_or_all` as the flag writes it (``None`` -> ``all``)."""
    return "all" if count is None else str(count)


def positive_ints(text: str, flag: str, count: int | None = None) -> tuple[int, ...]:
    """``"1,8"`` -> ``(1, 8)``: positive integers (exactly ``count`` of them if given).

    Raises:
        ValueError: naming the flag and the text.
    """
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1 or (count is not None and len(values) != count):
        shape = "C,H,W" if count == 3 else "comma-separated"
        raise ValueError(f"{flag} must be {shape} positive integers, got {text!r}")
    return values


def input_size(text: str) -> tuple[int, int, int]:
    """``--input``: ``"3,224,224"`` -> ``(3, 224, 224)``.

    Raises:
        ValueError: anything but three positive integers.
    """
    return positive_ints(text, "--input", 3)


def usage_error(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` for :class:`Option`'s ``type``: its ``ValueError`` becomes argparse's usage error
    with the same message."""

    def read(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return read


def joined(values: Sequence[str]) -> str:
    """Names for a help text: ``"a, b or c"``."""
    values = list(values)
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"
