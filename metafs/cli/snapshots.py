"""`metafs snapshots [--snapshotter S] ls|rm|label`, as ctr's `snapshots` verbs behave and print.

Only the snapshot records are here: preparing, committing or mounting a snapshot is the
snapshotter's work, which metafs does not do.
"""

from __future__ import annotations

from .. import filters
from ..content import is_digest
from ..gclabels import LABEL_ROOT
from ..snapshots import Snapshot, Snapshots
from .common import computed, open_store, parse_labels, update
from .formats import emit, emit_labels, go_json, rfc3339, sorted_map
from .options import (
    add_label_verb,
    add_ls_verb,
    add_rm_verb,
    default_snapshotter,
    label_paths,
    write_namespace,
)
from .tables import tabwrite

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    import argparse

    from ..store import Txn


def snapshot_kind(snapshot: Snapshot) -> str:
    """The KIND ctr prints, derived from metadata alone (the snapshotter knows it, meta.db does
    not): a snapshot with children, or whose key is a digest (containerd commits unpacked
    layers under their chain ID), is Committed; any other is Active."""
    return "Committed" if snapshot.children or is_digest(snapshot.key) else "Active"


FIELDS: filters.Fields[Snapshot] = filters.Fields(
    "snapshots",
    {
        "kind": lambda s: snapshot_kind(s).lower(),
        "name": lambda s: s.key,
        "parent": lambda s: s.parent,
    },
    {"labels": lambda s: s.labels},
)

LS_DESCRIPTION = """\
KEY, PARENT and KIND, as ctr. --format json prints containerd's snapshots.Info fields
(kind, name, parent, labels, created, updated) plus children, snapshotter, backend_name.

KIND comes from the snapshotter in ctr, and meta.db does not store it. metafs derives it:
a snapshot that has children, or whose key is a digest (containerd commits unpacked layers
under their chain ID, sha256:...), is Committed; any other is Active. A View (read-only
snapshot) therefore shows as Active."""

RM_DESCRIPTION = f"""\
Remove the snapshot records KEY..., in the order given (a child before its parent), all or
nothing: a KEY that does not exist or still has children is refused and nothing is removed.
Prints nothing, as ctr.

Whatever else the removed snapshots alone kept (a parent nothing else uses) is collected in
the same transaction, as containerd's collector would soon after. As in containerd, nothing
checks whether a container still names the snapshot, and a snapshot labelled
{LABEL_ROOT} is removed too: the label only protects it from collection."""


def register(sub: argparse._SubParsersAction) -> None:
    import argparse  # here: a valid one-shot command line is parsed without it

    group = sub.add_parser(
        "snapshots",
        aliases=["snapshot"],
        help="list, remove and label snapshots",
        description="Snapshot records of one snapshotter in the namespace.",
    )
    _snapshotter_option(group, computed(default_snapshotter))
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    ls = add_ls_verb(
        verbs, cmd_ls, FIELDS, quiet=None, help="list snapshots", description=LS_DESCRIPTION
    )
    rm = add_rm_verb(
        verbs,
        cmd_rm,
        "keys",
        "KEY",
        help="remove snapshots",
        description=RM_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    label = add_label_verb(verbs, cmd_label, "KEY", "snapshot")
    for verb in (ls, rm, label):
        _snapshotter_option(verb, argparse.SUPPRESS)


def _snapshotter_option(parser: argparse.ArgumentParser, default: str) -> None:
    """--snapshotter, given before the verb (as ctr takes it) or after it."""
    parser.add_argument(
        "--snapshotter",
        default=default,
        help="the snapshotter whose snapshots these are (default: $CONTAINERD_SNAPSHOTTER, "
        "else overlayfs)",
    )


def cmd_ls(args: argparse.Namespace) -> int:
    match = filters.parse(args.filters, FIELDS)
    with open_store(args, readonly=True) as store, store.read() as tx:
        snapshots = match.select(list(Snapshots(tx, args.namespace).list(args.snapshotter)))
    if args.format == "json":
        emit(
            go_json(
                [
                    {
                        "kind": snapshot_kind(s),
                        "name": s.key,
                        "parent": s.parent,
                        "labels": sorted_map(s.labels),
                        "created": rfc3339(s.created_at),
                        "updated": rfc3339(s.updated_at),
                        "children": s.children,
                        "snapshotter": s.snapshotter,
                        "backend_name": s.name,
                    }
                    for s in snapshots
                ]
            )
        )
    else:
        text = "KEY\tPARENT\tKIND\t\n" + "".join(
            f"{s.key}\t{s.parent}\t{snapshot_kind(s)}\t\n" for s in snapshots
        )
        emit(tabwrite(text, minwidth=1, tabwidth=8, padding=1))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    namespace = write_namespace(args)

    def change(tx: Txn) -> None:
        snapshots = Snapshots(tx, namespace)
        for key in dict.fromkeys(args.keys):
            snapshots.remove(args.snapshotter, key)

    update(args, change)
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    labels = parse_labels(args.labels)
    namespace = write_namespace(args)

    def change(tx: Txn) -> Snapshot:
        snapshots = Snapshots(tx, namespace)
        if labels:
            snapshot = Snapshot(args.snapshotter, args.name, labels=labels)
            return snapshots.update(snapshot, *label_paths(labels))
        return snapshots.get(args.snapshotter, args.name)

    emit_labels(update(args, change).labels)
    return 0
