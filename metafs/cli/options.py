"""Options and checks the ctr-like command groups share: `ls` arguments, filters, namespaces."""

from __future__ import annotations

import argparse
import os
from typing import TypeVar

from .. import filters, validation
from .formats import add_format_option

T = TypeVar("T")

FILTER_HELP = """\
filters (containerd's syntax):
  FIELD==VALUE   equal             FIELD!=VALUE   not equal (absent counts as "")
  FIELD~=REGEX   regex search      FIELD          field present (e.g. labels.KEY)
  A,B            both A and B      F1 F2 (two arguments): F1 or F2
  Quote a value or label key with "..." (Go escapes) when it holds spaces, commas, / or |
  (a / or | starts a quoted string, as in containerd), and quote the whole filter for the
  shell. labels.a.b and labels."a.b" are the same key. Examples:
    'labels."io.example/owner"==alice'   'name=="odd name:1"'   'name~=alpine,labels.env'
"""


def add_ls_arguments(
    parser: argparse.ArgumentParser,
    fields: filters.Fields[T] | None,
    *,
    quiet: str | None,
) -> None:
    """-q (when `quiet` says what it prints), --format, and FILTER arguments for `fields`."""
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
        parser.epilog = FILTER_HELP
        parser.formatter_class = argparse.RawDescriptionHelpFormatter


def default_snapshotter() -> str:
    """ctr's default: $CONTAINERD_SNAPSHOTTER, else overlayfs."""
    return os.environ.get("CONTAINERD_SNAPSHOTTER") or "overlayfs"


def write_namespace(args: argparse.Namespace) -> str:
    """The namespace a writing command works in, checked as containerd checks it."""
    return validation.identifier(args.namespace, "namespace")
