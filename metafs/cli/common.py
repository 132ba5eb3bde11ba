"""What every command shares: where the store is, which namespace, how tables are printed."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from ..store import Store


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line on stderr (`metafs: ...`), exit status 2."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("metafs").strip()
        prefix = f"metafs: {where}: " if where else "metafs: "
        self.exit(2, f"{prefix}{message} (see '{self.prog} --help')\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes one for every add_argument, and without a width it imports shutil
        # (with bz2, lzma, fnmatch: 2 ms) for shutil.get_terminal_size
        make: Callable[..., argparse.HelpFormatter] = self.formatter_class  # all take a width
        return make(prog=self.prog, width=help_width())


def help_width() -> int:
    """The width argparse gives help without a `width`: the terminal's (`$COLUMNS`, else
    stdout's, else 80 columns) less 2, as `shutil.get_terminal_size` finds it."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0 and sys.__stdout__ is not None:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (ValueError, OSError):  # stdout closed, detached, or not a terminal
            columns = 0
    return (columns or 80) - 2


def default_store_path() -> Path:
    """`$METAFS_STORE`, else the per-user data directory (`$XDG_DATA_HOME/metafs`)."""
    if env := os.environ.get("METAFS_STORE"):
        return Path(env)
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "metafs"


def default_namespace() -> str:
    """`$METAFS_NAMESPACE`, else ctr's `$CONTAINERD_NAMESPACE`, else `default`: the
    metafs-specific variable wins, so one shell can point ctr and metafs at different ones."""
    return os.environ.get("METAFS_NAMESPACE") or os.environ.get("CONTAINERD_NAMESPACE") or "default"


def add_global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        type=str,  # a directory, or a SCHEME://... locator (a Path would fold its "//")
        default=None,
        help="store directory (default: $METAFS_STORE, else $XDG_DATA_HOME/metafs); one that "
        "does not exist is created only at the default location and by import",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        default=default_namespace(),
        help="namespace (default: $METAFS_NAMESPACE, else $CONTAINERD_NAMESPACE as ctr, "
        "else 'default')",
    )


def store_locator(args: argparse.Namespace) -> str:
    """The store named by `--store` (else the default), as `metafs.engines.open_engine` takes
    it: a `SCHEME://...` locator as given, a directory made absolute (the mount's daemon
    changes its directory)."""
    if getattr(args, "containerd", False):  # a live node's metadata (docs/live.md)
        return f"containerd://{os.path.abspath(args.root)}"
    # $METAFS_STORE as given: default_store_path()'s Path would fold etcd:// into etcd:/
    where = args.store or os.environ.get("METAFS_STORE") or str(default_store_path())
    if "://" in where:
        return where
    return os.path.abspath(where)


def open_store(
    args: argparse.Namespace, *, readonly: bool = False, create: bool = False, **options: int
) -> Store:
    """The store the command names. A store is created where the user asked for one: at the
    default location (`$METAFS_STORE`, else the data directory), with `create` (`import`), or
    in an existing empty directory; a `--store` that does not exist is an error, so that a
    typo does not make (or mount) an empty store. `options`: the engine's own."""
    create = create or args.store is None
    return Store.open(store_locator(args), readonly=readonly, create=create, **options)


def parse_labels(items: list[str]) -> dict[str, str]:
    """ctr's LabelArgs: split on the first `=`; `k` alone means `k=true`; `k=` removes."""
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        labels[key] = value if sep else "true"
    return labels
