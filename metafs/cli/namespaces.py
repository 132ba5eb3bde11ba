"""`metafs namespaces ls|create|rm|label`, as ctr's `namespaces` verbs behave and print."""

from __future__ import annotations

from ..namespaces import Namespaces
from .common import open_store, parse_labels, update
from .formats import emit, go_json, sorted_labels, sorted_map
from .options import add_ls_verb, add_rm_verb
from .tables import tabwrite

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    import argparse

    from ..store import Txn


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser(
        "namespaces",
        aliases=["namespace", "ns"],
        help="list and change namespaces",
        description="Namespaces: the top-level buckets that hold everything else (-n is ignored).",
    )
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    add_ls_verb(
        verbs,
        cmd_ls,
        None,
        quiet="print only the names",
        help="list namespaces",
        description="NAME and LABELS, as ctr.",
    )

    create = verbs.add_parser(
        "create",
        aliases=["c"],
        help="create a namespace",
        description=(
            "Create namespace NAME (letters and digits separated by single '.', '_' or '-', "
            "at most 76 characters) with labels KEY=VALUE (KEY alone means KEY=true)."
        ),
    )
    create.add_argument("name", metavar="NAME")
    create.add_argument("labels", nargs="*", metavar="KEY=VALUE")
    create.set_defaults(func=cmd_create)

    add_rm_verb(
        verbs,
        cmd_rm,
        "names",
        "NAME",
        help="remove empty namespaces",
        description=(
            "Remove namespaces and print each name. A namespace that still has images, "
            "blobs, containers or snapshots is refused. All or nothing."
        ),
    )

    label = verbs.add_parser(
        "label",
        help="set and clear labels of a namespace",
        description="KEY=VALUE sets, KEY alone means KEY=true, KEY= removes. Prints nothing.",
    )
    label.add_argument("name", metavar="NAME")
    label.add_argument("labels", nargs="*", metavar="KEY=VALUE")
    label.set_defaults(func=cmd_label)


def cmd_ls(args: argparse.Namespace) -> int:
    with open_store(args, readonly=True) as store, store.read() as tx:
        namespaces = Namespaces(tx)
        rows = [(name, namespaces.labels(name)) for name in namespaces.list()]
    if args.format == "json":
        emit(go_json([{"Name": name, "Labels": sorted_map(labels)} for name, labels in rows]))
    elif args.quiet:
        emit("".join(f"{name}\n" for name, _ in rows))
    else:
        text = "NAME\tLABELS\t\n" + "".join(
            f"{name}\t{','.join(sorted_labels(labels))}\t\n" for name, labels in rows
        )
        emit(tabwrite(text, minwidth=1, tabwidth=8, padding=1))
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    labels = parse_labels(args.labels)
    update(args, lambda tx: Namespaces(tx).create(args.name, labels))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    names = list(dict.fromkeys(args.names))

    def change(tx: Txn) -> None:
        namespaces = Namespaces(tx)
        for name in names:
            namespaces.delete(name)

    update(args, change)
    emit("".join(f"{name}\n" for name in names))
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    labels = parse_labels(args.labels)

    def change(tx: Txn) -> None:
        namespaces = Namespaces(tx)
        namespaces.labels(args.name)  # a missing namespace is an error even without labels
        for key, value in labels.items():
            namespaces.set_label(args.name, key, value)

    update(args, change)
    return 0
