"""What every command shares: where the store is, which namespace, how tables are printed."""

from __future__ import annotations

import os

from ..contexts import contextmanager
from ..errors import Conflict
from ..store import ATTEMPTS, Store

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator
    from typing import TypeVar

    from ..store import Txn

    T = TypeVar("T")


class Computed(str):
    """A default computed from the environment when the parser is built: the grammar table
    (scripts/grammar) records the function that computes it (`source`), not the value."""

    source = ""


def computed(func: Callable[[], str]) -> str:
    """`func()`, marked as computed (see Computed)."""
    value = Computed(func())
    value.source = f"{func.__module__}:{func.__qualname__}"
    return value


def default_store_path() -> str:
    """`$METAFS_STORE`, else the per-user data directory (`$XDG_DATA_HOME/metafs`)."""
    if env := os.environ.get("METAFS_STORE"):
        return env
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    return os.path.join(data, "metafs")


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
        default=computed(default_namespace),
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
    where = args.store or os.environ.get("METAFS_STORE") or default_store_path()
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


def update(args: argparse.Namespace, change: Callable[[Txn], T]) -> T:
    """Run `change(tx)` in a write transaction of the store the command names and return what
    it returns (`Store.update`). On etcd a commit that met another process's is refused whole
    and `change` runs again on what is there now, so it must only read and change `tx`: the
    command prints what it returns, after the commit."""
    with open_store(args) as store, gives_up_clearly(store):
        return store.update(change)


@contextmanager
def gives_up_clearly(store: Store, attempts: int = ATTEMPTS) -> Iterator[None]:
    """A `Store.update` inside whose every run (`attempts` of them) met another writer's
    commit fails with one line that says so (rather than the last run's)."""
    try:
        yield
    except Conflict as exc:
        if type(exc) is not Conflict:  # a read of a compacted revision: its own message
            raise
        raise Conflict(
            f'store "{store.path}": another writer committed during each of the {attempts} runs '
            "of this change, which changed nothing"
        ) from None


def parse_labels(items: list[str]) -> dict[str, str]:
    """ctr's LabelArgs: split on the first `=`; `k` alone means `k=true`; `k=` removes."""
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        labels[key] = value if sep else "true"
    return labels
