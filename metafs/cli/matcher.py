"""A valid command line, parsed without argparse: argparse and what it imports (re, gettext...)
take longer than the rest of a one-shot `metafs images ls -q` together.

The grammar is the table scripts/grammar reads off the argparse parsers (`grammar.PARSERS`), so
the parsers stay the one source of truth. `match` gives the namespace argparse would give, or
None for anything it does not fully understand: help, --version, an unknown or abbreviated
option, a missing or extra argument, a value that does not convert or is not a choice, `--`,
a value starting with "-". The caller then parses with argparse, which prints its usual help
or error. tests/test_cli_matcher.py checks, on generated command lines, that whatever `match`
accepts, argparse parses to the same namespace.
"""

from __future__ import annotations

from .grammar import PARSERS

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from argparse import Namespace
    from typing import Any

    Values = dict[str, tuple[str, Any]]
else:

    class Namespace:
        """What argparse.Namespace offers the commands: attributes."""

        def __init__(self, **values: object) -> None:
            self.__dict__.update(values)

        def __repr__(self) -> str:
            fields = ", ".join(f"{k}={v!r}" for k, v in sorted(self.__dict__.items()))
            return f"Namespace({fields})"


class _Defer(Exception):
    """Left to argparse."""


_BOUNDS = {None: (1, 1), "?": (0, 1), "*": (0, 1 << 30), "+": (1, 1 << 30)}


def match(argv: list[str]) -> Namespace | None:
    """The namespace argparse's parser gives for `argv`, or None: leave it to argparse."""
    try:
        values = _parse("", argv, ())
    except _Defer:
        return None
    return Namespace(**{dest: _resolve(how, what) for dest, (how, what) in values.items()})


def _resolve(how: str, what: object) -> object:
    if how == "value":
        return list(what) if isinstance(what, list) else what  # not the table's own list
    module, _colon, name = str(what).partition(":")
    value = getattr(__import__(module, fromlist=[name]), name)
    return value() if how == "call" else value


def _parse(key: str, args: list[str], ancestors: tuple[Any, ...]) -> Values:
    """The values of the parser `key` (and of the command parsers below it) for `args`, each
    as ("value", v), or ("call"/"import", "module:name") for a default still to be made."""
    entry: Any = PARSERS[key]
    if entry["defer"]:
        raise _Defer
    values: Values = dict(entry["defaults"])
    options = entry["options"]
    commands = entry.get("commands")
    positional: list[str] = []
    closed = False  # an option came after positional arguments: none may follow it
    seen = set()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and arg != "-":
            if any(_ambiguous(level["options"], arg) for level in ancestors):
                raise _Defer
            name, eq, attached = arg.partition("=") if arg.startswith("--") else (arg, "", "")
            spec = options.get(name)
            if spec is None:
                raise _Defer
            dest, action, const, kind, choices = spec
            closed = bool(positional)
            if action in ("store", "append"):
                if eq:
                    value, i = attached, i + 1
                elif i + 1 < len(args) and not (args[i + 1].startswith("-") and args[i + 1] != "-"):
                    value, i = args[i + 1], i + 2
                else:
                    raise _Defer
                if value == "--":  # argparse drops it from an attached value (3.11, 3.12)
                    raise _Defer
                converted = _convert(value, kind, choices)
                if action == "append":
                    previous = values.get(dest, ("value", None))[1]
                    converted = [*(previous or ()), converted]
                values[dest] = ("value", converted)
            elif eq:
                raise _Defer
            else:
                i += 1
                if action == "store_true":
                    values[dest] = ("value", True)
                elif action == "store_false":
                    values[dest] = ("value", False)
                elif action == "store_const":
                    values[dest] = ("value", const)
                elif action == "count":
                    values[dest] = ("value", (values.get(dest, ("value", None))[1] or 0) + 1)
                else:
                    raise _Defer
            seen.add(dest)
        elif commands is not None:
            sub = commands.get(arg)
            if sub is None:
                raise _Defer
            values[entry["command_dest"]] = ("value", arg)
            values.update(_parse(sub, args[i + 1 :], (*ancestors, entry)))
            break
        elif closed:
            raise _Defer
        else:
            positional.append(arg)
            i += 1
    else:
        if commands is not None and entry["command_required"]:
            raise _Defer  # no command given
    if not seen.issuperset(entry["required"]):
        raise _Defer
    if commands is None:
        values.update(_positionals(entry["positionals"], positional, values))
    return values


def _ambiguous(options: dict[str, object], arg: str) -> bool:
    """Whether argparse, at a parser above the command that gets `arg`, stops at it as an
    abbreviation of more than one of its own options."""
    name = arg.partition("=")[0]
    if arg in options or name in options:
        return False
    if arg.startswith("--"):
        found = [flag for flag in options if flag.startswith(name)]
    else:
        found = [flag for flag in options if flag == arg[:2] or flag.startswith(arg)]
    return len(found) > 1


def _convert(value: str, kind: str | None, choices: tuple[str, ...] | None) -> object:
    converted: object = value
    if kind == "int":
        try:
            converted = int(value)
        except ValueError:
            raise _Defer from None
    if choices is not None and converted not in choices:
        raise _Defer
    return converted


def _positionals(
    specs: tuple[tuple[str, str | None, str | None, tuple[str, ...] | None], ...],
    args: list[str],
    values: Values,
) -> Values:
    """`args` given to the positional arguments as argparse's greedy pattern gives them; all
    of them must be taken."""
    counts = _fit([spec[1] for spec in specs], len(args))
    if counts is None or sum(counts) != len(args):
        raise _Defer
    out: Values = {}
    pos = 0
    for (dest, nargs, kind, choices), count in zip(specs, counts, strict=True):
        chunk = [_convert(arg, kind, choices) for arg in args[pos : pos + count]]
        pos += count
        if nargs is None:
            out[dest] = ("value", chunk[0])
        elif nargs == "?":
            if chunk:
                out[dest] = ("value", chunk[0])
        elif chunk or values.get(dest, ("value", None))[1] is None:
            out[dest] = ("value", chunk)  # "*" without arguments: the default, else []
    return out


def _fit(nargs: list[str | None], available: int) -> list[int] | None:
    """How many arguments each positional takes: greedy, the first fit in order, as
    argparse's regular expression over them matches (not necessarily taking all)."""
    if not nargs:
        return []
    low, high = _BOUNDS[nargs[0]]
    for count in range(min(high, available), low - 1, -1):
        rest = _fit(nargs[1:], available - count)
        if rest is not None:
            return [count, *rest]
    return None
