"""Verbs, options and checks the ctr-like command groups share: ls, rm and label, filters,
namespaces."""

from __future__ import annotations

import os

from .. import validation
from ..errors import NotFound
from .formats import add_format_option, emit, warn

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterable
    from typing import Any, TypeVar

    from .. import filters

    T = TypeVar("T")
    Command = Callable[[argparse.Namespace], int]
    Verbs = argparse._SubParsersAction[argparse.ArgumentParser]

FILTER_HELP = """\
filters (containerd's syntax):
  FIELD==VALUE   equal             FIELD!=VALUE   not equal (absent counts as "")
  FIELD~=REGEX   regex search      FIELD          field present (e.g. labels.KEY)
  A,B            both A and B      F1 F2 (two arguments): F1 or F2
  Quote a value or label key with "..." (Go escapes) when it holds spaces, commas, / or |
  (a / or | starts a quoted string, as in containerd), and quote the whole filter for the
  shell. labels.a.b and labels."a.b" are the same key. Examples:
"""


def filter_examples(fields: filters.Fields[Any]) -> list[str]:
    """Filters that work on `fields` (the help shows them; the tests run them)."""
    first = next(iter(fields.scalars))
    examples = [f"'{first}==\"a b:1\"'"]
    if "labels" in fields.maps:
        examples.insert(0, "'labels.\"io.example/owner\"==alice'")
        examples.append(f"'{first}~=^web,labels.env'")
    else:
        examples.append(f"'{first}~=^web'")
    return examples


def add_ls_verb(
    verbs: Verbs,
    func: Command,
    fields: filters.Fields[T] | None,
    *,
    quiet: str | None,
    **options: Any,
) -> argparse.ArgumentParser:
    """`ls` (alias `list`): -q when `quiet` says what it prints, --format, and FILTER
    arguments for `fields`; `options` go to add_parser (help, description, ...)."""
    parser = verbs.add_parser("ls", aliases=["list"], **options)
    if quiet is not None:
        parser.add_argument("-q", "--quiet", action="store_true", help=quiet)
    add_format_option(parser)
    if fields is not None:
        parser.add_argument(
            "filters",
            nargs="*",
            metavar="FILTER",
            help=f"show only what matches; fields: {fields.describe()}",
        )
        parser.epilog = FILTER_HELP + "    " + "   ".join(filter_examples(fields)) + "\n"
        import argparse  # here: a valid one-shot command line is parsed without it

        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.set_defaults(func=func)
    return parser


def add_rm_verb(
    verbs: Verbs, func: Command, dest: str, metavar: str, **options: Any
) -> argparse.ArgumentParser:
    """`rm` with ctr's aliases for it, taking one or more METAVAR as `dest`."""
    parser = verbs.add_parser("rm", aliases=["remove", "delete", "del"], **options)
    parser.add_argument(dest, nargs="+", metavar=metavar)
    parser.set_defaults(func=func)
    return parser


LABEL_DESCRIPTION = """\
Labels as ctr parses them: KEY=VALUE sets, KEY alone means KEY=true, KEY= removes. Prints the
{what}'s labels afterwards, sorted, comma-separated (ctr prints them in Go's random map order)."""


def add_label_verb(verbs: Verbs, func: Command, metavar: str, what: str) -> argparse.ArgumentParser:
    """`label METAVAR KEY=VALUE...` (as args.name and args.labels) for a `what`."""
    parser = verbs.add_parser(
        "label",
        help=f"set and clear labels of {'an' if what[0] in 'aeiou' else 'a'} {what}",
        description=LABEL_DESCRIPTION.format(what=what),
    )
    parser.add_argument("name", metavar=metavar)
    parser.add_argument("labels", nargs="*", metavar="KEY=VALUE")
    parser.set_defaults(func=func)
    return parser


def label_paths(labels: dict[str, str]) -> list[str]:
    """The field paths of an update that sets or removes just these labels."""
    return [f"labels.{key}" for key in labels]


def delete_present(
    names: Iterable[str], delete: Callable[[str], object]
) -> tuple[list[str], list[NotFound]]:
    """Delete each name once, skipping those that do not exist, as ctr's images rm and
    content rm do; return the names deleted and the errors of those skipped."""
    deleted, skipped = [], []
    for name in dict.fromkeys(names):
        try:
            delete(name)
        except NotFound as exc:
            skipped.append(exc)
        else:
            deleted.append(name)
    return deleted, skipped


def report_deleted(deleted: list[str], skipped: list[NotFound]) -> None:
    """Each name deleted on stdout, and a warning on stderr for each one skipped."""
    emit("".join(f"{name}\n" for name in deleted))
    for exc in skipped:
        warn(str(exc))


def default_snapshotter() -> str:
    """ctr's default: $CONTAINERD_SNAPSHOTTER, else overlayfs."""
    return os.environ.get("CONTAINERD_SNAPSHOTTER") or "overlayfs"


def write_namespace(args: argparse.Namespace) -> str:
    """The namespace a writing command works in, checked as containerd checks it."""
    return validation.identifier(args.namespace, "namespace")
