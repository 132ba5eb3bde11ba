"""`metafs gc [--dry-run] [--all-namespaces]` and `metafs gc explain KIND ID...`."""

from __future__ import annotations

import argparse

from .. import gc
from ..namespaces import Namespaces
from ..store import Txn
from .common import open_store, update
from .formats import add_text_or_json, emit, go_json

DESCRIPTION = """\
Remove every snapshot, content record, ingest and lease of the namespace that nothing keeps,
with containerd's rules: images keep their target digest, containers their snapshot, unexpired
leases what they hold, and the labels containerd.io/gc.root and containerd.io/gc.ref.* keep
what they name; a snapshot keeps its parent. Deleting an image or a container already does this
in the same transaction; run it after changes that only drop references (a new image target, a
removed label, an expired lease).

Prints one line per resource removed (or, with --dry-run, that would be): NAMESPACE KIND ID,
where KIND is lease, snapshot, ingest or content and ID is the lease id, SNAPSHOTTER/KEY, the
ingest ref or the digest (the rest of the line: it may hold spaces). Leases come first, then
snapshots, ingests and content, each in key order. --format json prints a JSON array of
{"namespace", "kind", "id"} objects (a snapshot's also with "snapshotter" and "key")."""

USAGE = """\
metafs [-n NS] gc [-h] [--dry-run] [--all-namespaces] [--format {text,json}]
       metafs [-n NS] gc explain [--format {text,json}]
                                 {snapshot SNAPSHOTTER KEY|content DIGEST|ingest REF|lease ID}"""

EXPLAIN = """\
Why is this resource not collected? Prints, for every reference to it, the chain of
references from a root (an image, a container, a lease, a gc.root label, an unexpired ingest)
to it, a blank line between two chains: all of them must go before it is collected. Or says
that nothing references it and the next collection removes it. --format json prints one
object: "namespace", "resource" ({"kind", "id"}), "kept" (true or false) and "chains", each a
list of {"what", "via"} links from the root ("via" of a root says why it is one, or is "")."""


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser(
        "gc",
        help="collect unreferenced snapshots, content, ingests and leases",
        description=DESCRIPTION,
        usage=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group.add_argument(
        "--dry-run", action="store_true", help="print what would be removed; remove nothing"
    )
    group.add_argument(
        "--all-namespaces", action="store_true", help="collect every namespace, not just -n"
    )
    add_text_or_json(group)
    group.set_defaults(func=cmd_gc)
    verbs = group.add_subparsers(dest="verb", metavar="explain", prog="metafs gc")
    explain = verbs.add_parser(
        "explain", help="why a resource is not collected", description=EXPLAIN
    )
    add_text_or_json(explain)
    kinds = explain.add_subparsers(dest="kind", metavar="KIND", required=True)
    snapshot = kinds.add_parser("snapshot", help="a snapshot record")
    snapshot.add_argument("snapshotter")
    snapshot.add_argument("key")
    kinds.add_parser("content", help="a content record").add_argument("digest")
    kinds.add_parser("ingest", help="an ingest").add_argument("ref")
    kinds.add_parser("lease", help="a lease").add_argument("id")
    explain.set_defaults(func=cmd_explain)


def cmd_gc(args: argparse.Namespace) -> int:

    def collect(tx: Txn) -> list[tuple[str, list[gc.Resource]]]:
        names = list(Namespaces(tx).list()) if args.all_namespaces else [args.namespace]
        return [(ns, gc.collect(tx, ns, dry_run=args.dry_run)) for ns in names]

    if args.dry_run:
        with open_store(args, readonly=True) as store, store.read() as tx:
            removed = collect(tx)
    else:
        removed = update(args, collect)
    if args.format == "json":
        emit(go_json([resource_json(ns, resource) for ns, found in removed for resource in found]))
    else:
        emit("".join(f"{ns} {r.kind} {r.id}\n" for ns, found in removed for r in found))
    return 0


def resource_json(namespace: str, resource: gc.Resource) -> dict[str, str]:
    out = {"namespace": namespace, "kind": resource.kind, "id": resource.id}
    if resource.kind == gc.SNAPSHOT:
        out |= {"snapshotter": resource.snapshotter, "key": resource.key}
    return out


def cmd_explain(args: argparse.Namespace) -> int:
    ident = {
        "snapshot": lambda: f"{args.snapshotter}/{args.key}",
        "content": lambda: args.digest,
        "ingest": lambda: args.ref,
        "lease": lambda: args.id,
    }[args.kind]()
    with open_store(args, readonly=True) as store, store.read() as tx:
        explanation = gc.explain(tx, args.namespace, args.kind, ident)
    if args.format == "json":
        chains = [[{"what": link.what, "via": link.via} for link in c] for c in explanation.chains]
        resource = explanation.resource
        emit(
            go_json(
                {
                    "namespace": explanation.namespace,
                    "resource": {"kind": resource.kind, "id": resource.id},
                    "kept": explanation.kept,
                    "chains": chains,
                }
            )
        )
    else:
        emit(explanation.text())
    return 0
