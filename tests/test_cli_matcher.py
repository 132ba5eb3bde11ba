"""The matcher (metafs/cli/matcher.py) parses a command line as argparse does, or leaves it to
argparse: on command lines made from the grammar table, valid ones and broken ones, whatever
the matcher accepts argparse parses to the same namespace."""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metafs.cli import parser
from metafs.cli.grammar import PARSERS
from metafs.cli.matcher import match

# words that are, or look like, what argparse treats specially
TRICKY = ["--", "-", "-h", "--help", "--version", "--st", "--form", "-nx", "-q", "--quiet=1"]
TRICKY += ["", "a b", "-1", "--format=json", "--format=xml", "--store=", "=", "ls", "list"]
PLAIN = st.sampled_from(["x", "a=b", "web", "sha256:1", "0", "12", "json", "table", "-"])
WORD = st.one_of(PLAIN, st.sampled_from(TRICKY))


def option_words(flag: str, spec: tuple[object, ...], draw: st.DrawFn, chaos: bool) -> list[str]:
    _dest, action, _const, kind, choices = spec
    if action not in ("store", "append"):
        return [flag]
    if chaos:
        value = draw(WORD)
    elif choices:
        value = draw(st.sampled_from(list(choices)))  # type: ignore[call-overload]
    elif kind == "int":
        value = str(draw(st.integers(0, 99)))
    else:
        value = draw(PLAIN)
    if flag.startswith("--") and draw(st.booleans()):
        return [f"{flag}={value}"]
    return [flag, value]


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """A walk down the table: at each parser, some of its options, then its positional words
    or a command word; now and then (`chaos`) a wrong value, a word out of place, help."""
    chaos = draw(st.integers(0, 4)) == 0
    argv: list[str] = []
    key = ""
    while True:
        entry = PARSERS[key]
        options = sorted(entry["options"].items())  # type: ignore[attr-defined]
        if not chaos:
            options = [(flag, spec) for flag, spec in options if spec[1] != "defer"]
        words: list[list[str]] = []
        for _ in range(draw(st.integers(0, 3)) if options else 0):
            flag, spec = draw(st.sampled_from(options))
            words.append(option_words(flag, spec, draw, chaos))
        commands = entry.get("commands")
        if commands and (entry["command_required"] or draw(st.booleans())):
            name = draw(st.sampled_from(sorted(commands)))  # type: ignore[arg-type]
            argv += [w for chunk in words for w in chunk] + [name]
            key = commands[name]  # type: ignore[index]
            continue
        positionals = []
        for _dest, nargs, _kind, _choices in entry["positionals"]:  # type: ignore[attr-defined]
            low, high = {None: (1, 1), "?": (0, 1), "*": (0, 3), "+": (1, 3)}.get(nargs, (0, 3))
            positionals += [draw(PLAIN) for _ in range(draw(st.integers(low, high)))]
        if chaos and draw(st.booleans()):
            positionals.append(draw(WORD))
        chunks = [*words, positionals] if positionals else words
        if chaos:
            chunks = [*words, *([w] for w in positionals)]
        order = draw(st.permutations(range(len(chunks)))) if chunks else []
        argv += [w for i in order for w in chunks[i]]
        break
    if chaos and draw(st.booleans()):
        argv.insert(draw(st.integers(0, len(argv))), draw(WORD))
    return argv


def argparse_namespace(argv: list[str]) -> dict[str, object] | None:
    """What argparse parses `argv` to; None when it stops (help or a usage error)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            return vars(parser(argv).parse_args(argv))
        except SystemExit:
            return None


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
def test_what_the_matcher_accepts_argparse_parses_the_same(argv: list[str]) -> None:
    matched = match(argv)
    if matched is not None:
        assert vars(matched) == argparse_namespace(argv), argv


@pytest.mark.parametrize(
    "argv",
    [
        ["images", "ls", "-q"],
        ["--store", "/s", "-n", "ns", "images", "ls", "-q"],
        ["i", "list", "--format", "json", "name==a", "labels.x"],
        ["containers", "ls", "--format=json"],
        ["snapshots", "--snapshotter", "native", "ls"],
        ["snapshots", "ls", "--snapshotter", "native"],
        ["content", "ls", "-q"],
        ["leases", "ls", "-q"],
        ["namespaces", "ls", "-q"],
        ["images", "put", "x", "--digest", "sha256:1", "--size", "12", "--label", "a=b"],
        ["images", "tag", "--force", "a", "b", "c"],
        ["containers", "rm", "a", "b"],
        ["gc", "--format", "json"],
    ],
)
def test_the_common_command_lines_need_no_argparse(argv: list[str]) -> None:
    matched = match(argv)
    assert matched is not None
    assert vars(matched) == argparse_namespace(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["--version"],
        ["images"],
        ["images", "ls", "-h"],
        ["images", "ls", "--form", "json"],  # argparse takes the abbreviation
        ["images", "ls", "--format", "xml"],  # not a choice
        ["images", "put", "x", "--digest", "d", "--size", "big"],  # not an int
        ["images", "put", "x", "--digest", "d"],  # --size is required
        ["images", "ls", "--", "-q"],
        ["images", "ls", "-qn", "x"],
        ["images", "nope"],
        ["images", "label", "x", "-r", "a=b"],  # positionals on both sides of an option
        ["--address=--", "check"],  # argparse drops an attached "--" (found by hypothesis)
        ["--store=--", "images", "ls"],
    ],
)
def test_the_matcher_leaves_the_rest_to_argparse(argv: list[str]) -> None:
    assert match(argv) is None
