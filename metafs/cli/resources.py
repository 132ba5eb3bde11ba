"""`metafs leases ls`, `metafs snapshots ls`, `metafs content ls`: what ctr lists of them."""

from __future__ import annotations

import argparse

from .. import filters
from ..codec import now_ns
from . import records
from .common import open_store
from .formats import (
    emit,
    go_json,
    human_duration,
    human_size,
    label_list,
    local_rfc3339,
    rfc3339,
    sorted_map,
)
from .options import add_ls_arguments, default_snapshotter
from .tables import tabwrite

LEASE_FIELDS: filters.Fields[records.Lease] = filters.Fields(
    "leases", {"id": lambda lease: lease.id}, {"labels": lambda lease: lease.labels}
)
SNAPSHOT_FIELDS: filters.Fields[records.Snapshot] = filters.Fields(
    "snapshots",
    {
        "kind": lambda s: s.kind.lower(),
        "name": lambda s: s.key,
        "parent": lambda s: s.parent,
    },
    {"labels": lambda s: s.labels},
)
BLOB_FIELDS: filters.Fields[records.Blob] = filters.Fields(
    "content",
    {"digest": lambda b: b.digest, "size": lambda b: str(b.size)},
    {"labels": lambda b: b.labels},
)

SNAPSHOTS_LS_DESCRIPTION = """\
KEY, PARENT and KIND, as ctr. --format json prints containerd's snapshots.Info fields
(kind, name, parent, labels, created, updated) plus children, snapshotter, backend_name.

KIND comes from the snapshotter in ctr, and meta.db does not store it. metafs derives it:
a snapshot that has children, or whose key is a digest (containerd commits unpacked layers
under their chain ID, sha256:...), is Committed; any other is Active. A View (read-only
snapshot) therefore shows as Active."""


def register(sub: argparse._SubParsersAction) -> None:
    leases = sub.add_parser(
        "leases", aliases=["lease"], help="list leases", description="Leases of the namespace."
    )
    lease_verbs = leases.add_subparsers(dest="verb", metavar="VERB", required=True)
    ls = lease_verbs.add_parser(
        "ls",
        aliases=["list"],
        help="list leases",
        description=(
            "ID, CREATED AT (local time, as ctr) and LABELS. An expiring lease carries its\n"
            "expiry in the label containerd.io/gc.expire. --format json adds the resources\n"
            "each lease holds."
        ),
    )
    add_ls_arguments(ls, LEASE_FIELDS, quiet="print only the lease ids")
    ls.set_defaults(func=cmd_leases_ls)

    snapshots = sub.add_parser(
        "snapshots",
        aliases=["snapshot"],
        help="list snapshots",
        description="Snapshot records of one snapshotter in the namespace.",
    )
    _snapshotter_option(snapshots, default_snapshotter())
    snapshot_verbs = snapshots.add_subparsers(dest="verb", metavar="VERB", required=True)
    ls = snapshot_verbs.add_parser(
        "ls",
        aliases=["list"],
        help="list snapshots",
        description=SNAPSHOTS_LS_DESCRIPTION,
    )
    _snapshotter_option(ls, argparse.SUPPRESS)
    add_ls_arguments(ls, SNAPSHOT_FIELDS, quiet=None)
    ls.set_defaults(func=cmd_snapshots_ls)

    content = sub.add_parser(
        "content", help="list content blobs", description="Content blobs of the namespace."
    )
    content_verbs = content.add_subparsers(dest="verb", metavar="VERB", required=True)
    ls = content_verbs.add_parser(
        "ls",
        aliases=["list"],
        help="list content blobs",
        description=(
            "DIGEST, SIZE, AGE (time since the blob was committed, as ctr) and LABELS,\n"
            "tab-separated as ctr prints them. LABELS are sorted (ctr 1.6 prints them in\n"
            "random order)."
        ),
    )
    add_ls_arguments(ls, BLOB_FIELDS, quiet="print only the digests")
    ls.set_defaults(func=cmd_content_ls)


def _snapshotter_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--snapshotter",
        default=default,
        help="snapshotter whose snapshots to list (default: $CONTAINERD_SNAPSHOTTER, "
        "else overlayfs)",
    )


def cmd_leases_ls(args: argparse.Namespace) -> int:
    match = filters.parse(args.filters, LEASE_FIELDS)
    with open_store(args, readonly=True) as store, store.read() as tx:
        leases = match.select(records.leases(tx, args.namespace))
    if args.format == "json":
        emit(
            go_json(
                [
                    {
                        "ID": lease.id,
                        "CreatedAt": rfc3339(lease.created_at),
                        "Labels": sorted_map(lease.labels),
                        "Resources": [{"ID": r.id, "Type": r.type} for r in lease.resources],
                    }
                    for lease in leases
                ]
            )
        )
    elif args.quiet:
        emit("".join(f"{lease.id}\n" for lease in leases))
    else:
        text = "ID\tCREATED AT\tLABELS\t\n" + "".join(
            f"{lease.id}\t{local_rfc3339(lease.created_at)}\t{label_list(lease.labels)}\t\n"
            for lease in leases
        )
        emit(tabwrite(text, minwidth=1, tabwidth=8, padding=1))
    return 0


def cmd_snapshots_ls(args: argparse.Namespace) -> int:
    match = filters.parse(args.filters, SNAPSHOT_FIELDS)
    with open_store(args, readonly=True) as store, store.read() as tx:
        snapshots = match.select(records.snapshots(tx, args.namespace, args.snapshotter))
    if args.format == "json":
        emit(
            go_json(
                [
                    {
                        "kind": s.kind,
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
            f"{s.key}\t{s.parent}\t{s.kind}\t\n" for s in snapshots
        )
        emit(tabwrite(text, minwidth=1, tabwidth=8, padding=1))
    return 0


def cmd_content_ls(args: argparse.Namespace) -> int:
    match = filters.parse(args.filters, BLOB_FIELDS)
    with open_store(args, readonly=True) as store, store.read() as tx:
        blobs = match.select(records.blobs(tx, args.namespace))
    if args.format == "json":
        emit(
            go_json(
                [
                    {
                        "Digest": b.digest,
                        "Size": b.size,
                        "CreatedAt": rfc3339(b.created_at),
                        "UpdatedAt": rfc3339(b.updated_at),
                        "Labels": sorted_map(b.labels),
                    }
                    for b in blobs
                ]
            )
        )
    elif args.quiet:
        emit("".join(f"{b.digest}\n" for b in blobs))
    else:
        now = now_ns()
        text = "DIGEST\tSIZE\tAGE\tLABELS\n" + "".join(
            f"{b.digest}\t{human_size(b.size)}\t{human_duration(now - b.created_at)}\t"
            f"{label_list(b.labels)}\n"
            for b in blobs
        )
        emit(tabwrite(text, minwidth=1, tabwidth=8, padding=1, padchar="\t"))
    return 0
