"""`metafs backup DEST` and `metafs check`: a consistent copy of a live store, and a whole-store
verification."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import MetafsError
from .common import open_store
from .formats import emit

BACKUP = """\
Copy the whole store to DEST, a directory that does not exist yet (or is empty), while mounts
and other commands go on reading and writing: the copy is the store as one transaction saw
it, so it always opens and holds every object whole. A plain cp of a live store may copy
pages while they are being reused and make a copy that is torn. The copy is private to you
(0700, files 0600); use it with --store DEST, or check it with `metafs --store DEST check`."""

CHECK = """\
Read every key and every object of every namespace (images, containers, snapshots, content,
ingests, leases) and check that it decodes and passes the validation a write would apply.
Opens the store read-only. Prints one line per problem and exits 1; exits 0 after one summary
line when there is none."""


def register(sub: argparse._SubParsersAction) -> None:
    backup = sub.add_parser(
        "backup",
        help="copy the store consistently, while it is in use",
        description=BACKUP,
    )
    backup.add_argument("dest", type=Path, metavar="DEST")
    backup.set_defaults(func=cmd_backup)
    check = sub.add_parser(
        "check", help="verify that every object of the store reads and validates", description=CHECK
    )
    check.set_defaults(func=cmd_check)


def cmd_backup(args: argparse.Namespace) -> int:
    with open_store(args, readonly=True) as store:
        store.backup(str(args.dest))
        emit(f"copied store {store.path} to {args.dest}\n")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from ..check import check

    with open_store(args, readonly=True) as store, store.read() as tx:
        report = check(tx)
    if report.problems:
        emit("".join(f"{problem}\n" for problem in report.problems))
        count = len(report.problems)
        raise MetafsError(f"store {store.path}: {count} problem{'' if count == 1 else 's'}")
    emit(f"store {store.path}: no problems in {report.summary()}\n")
    return 0
