"""`metafs content ls|rm|label`, as ctr's `content` verbs behave and print.

Only the blob records are here (digest, size, labels, times): the bytes live in containerd's
content store, which metafs does not have, so ctr's fetch, get, push and the like have no
counterpart.
"""

from __future__ import annotations

from .. import filters, validation
from ..codec import now_ns
from ..content import Blob, Content
from .common import open_store, parse_labels, update
from .formats import (
    emit,
    emit_labels,
    go_json,
    human_duration,
    human_size,
    label_list,
    rfc3339,
    sorted_map,
)
from .options import (
    add_label_verb,
    add_ls_verb,
    add_rm_verb,
    delete_present,
    label_paths,
    report_deleted,
    write_namespace,
)
from .tables import tabwrite

FIELDS: filters.Fields[Blob] = filters.Fields(
    "content",
    {"digest": lambda b: b.digest, "size": lambda b: str(b.size)},
    {"labels": lambda b: b.labels},
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    import argparse

    from ..store import Txn

RM_DESCRIPTION = """\
Remove the blob records and print each digest removed, as ctr. A DIGEST that is not a valid
digest is refused and nothing is removed; one that has no record gets a warning on stderr and
is skipped (ctr skips it silently; exit status 0 in both).

What only the removed records referenced (through containerd.io/gc.ref.* labels: a manifest's
config and layers, a config's snapshots) is collected in the same transaction, as containerd's
collector would soon after. An image whose target is removed stays, pointing at a digest
without record, as in containerd."""


def register(sub: argparse._SubParsersAction) -> None:
    import argparse  # here: a valid one-shot command line is parsed without it

    group = sub.add_parser(
        "content",
        help="list, remove and label content blob records",
        description="Content blob records of the namespace.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    add_ls_verb(
        verbs,
        cmd_ls,
        FIELDS,
        quiet="print only the digests",
        help="list content blobs",
        description=(
            "DIGEST, SIZE, AGE (time since the blob was committed, as ctr) and LABELS,\n"
            "tab-separated as ctr prints them. LABELS are sorted (ctr 1.6 prints them in\n"
            "random order)."
        ),
    )
    add_rm_verb(
        verbs,
        cmd_rm,
        "digests",
        "DIGEST",
        help="remove blob records",
        description=RM_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_label_verb(verbs, cmd_label, "DIGEST", "blob record")


def cmd_ls(args: argparse.Namespace) -> int:
    match = filters.parse(args.filters, FIELDS)
    with open_store(args, readonly=True) as store, store.read() as tx:
        blobs = match.select(list(Content(tx, args.namespace).list()))
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


def cmd_rm(args: argparse.Namespace) -> int:
    digests = [validation.digest(digest) for digest in args.digests]
    namespace = write_namespace(args)
    deleted, skipped = update(
        args, lambda tx: delete_present(digests, Content(tx, namespace).delete)
    )
    report_deleted(deleted, skipped)
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    digest = validation.digest(args.name)
    labels = parse_labels(args.labels)
    namespace = write_namespace(args)

    def change(tx: Txn) -> Blob:
        content = Content(tx, namespace)
        if labels:
            return content.update(Blob(digest, labels=labels), *label_paths(labels))
        return content.get(digest)

    emit_labels(update(args, change).labels)
    return 0
