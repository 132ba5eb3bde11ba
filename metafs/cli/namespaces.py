"""`metafs namespaces ls|create|rm|label`, as ctr prints them."""

from __future__ import annotations

import argparse

from ..namespaces import Namespaces
from .common import open_store, parse_labels


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("namespaces", aliases=["namespace", "ns"], help="manage namespaces")
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    ls = verbs.add_parser("ls", aliases=["list"], help="list namespaces")
    ls.add_argument("-q", "--quiet", action="store_true", help="print only the names")
    ls.set_defaults(func=cmd_ls)

    create = verbs.add_parser("create", aliases=["c"], help="create a namespace")
    create.add_argument("name")
    create.add_argument("labels", nargs="*", metavar="LABEL", help="key=value")
    create.set_defaults(func=cmd_create)

    rm = verbs.add_parser("rm", aliases=["remove"], help="remove empty namespaces")
    rm.add_argument("names", nargs="+", metavar="NAME")
    rm.set_defaults(func=cmd_rm)

    label = verbs.add_parser("label", help="set and clear labels of a namespace")
    label.add_argument("name")
    label.add_argument("labels", nargs="*", metavar="LABEL", help="key=value; key= removes")
    label.set_defaults(func=cmd_label)


def cmd_ls(args: argparse.Namespace) -> int:
    with open_store(args) as store, store.read() as tx:
        ns = Namespaces(tx)
        rows = [(name, ns.labels(name)) for name in ns.list()]
    if args.quiet:
        for name, _ in rows:
            print(name)
        return 0
    table = [("NAME", "LABELS")]
    table += [
        (name, ",".join(f"{k}={v}" for k, v in sorted(labels.items()))) for name, labels in rows
    ]
    width = max(len(r[0]) for r in table)
    for name, labels in table:
        print(f"{name:<{width}} {labels} ")
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    with open_store(args) as store, store.write() as tx:
        Namespaces(tx).create(args.name, parse_labels(args.labels))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    status = 0
    with open_store(args) as store:
        for name in args.names:
            with store.write() as tx:
                Namespaces(tx).delete(name)
            print(name)
    return status


def cmd_label(args: argparse.Namespace) -> int:
    with open_store(args) as store, store.write() as tx:
        ns = Namespaces(tx)
        for key, value in parse_labels(args.labels).items():
            ns.set_label(args.name, key, value)
    return 0
