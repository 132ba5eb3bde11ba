"""`metafs leases ls|create|rm`, as ctr's `leases` verbs behave and print."""

from __future__ import annotations

import os

from .. import filters
from ..codec import now_ns
from ..errors import InvalidArgument
from ..leases import LABEL_EXPIRE, Lease, Leases
from .common import open_store, parse_labels, update
from .formats import emit, go_json, label_list, local_rfc3339, rfc3339, sorted_map
from .options import add_ls_verb, add_rm_verb, write_namespace
from .tables import tabwrite

FIELDS: filters.Fields[Lease] = filters.Fields(
    "leases", {"id": lambda lease: lease.id}, {"labels": lambda lease: lease.labels}
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    import argparse

    from ..store import Txn

CREATE_DESCRIPTION = f"""\
Create a lease and print its id, as ctr. Labels are KEY=VALUE, and KEY alone means KEY=true
as for the other metafs commands (ctr's leases create alone drops such a label).

The expiry is the label {LABEL_EXPIRE}: now + DURATION, in RFC 3339 (UTC here; ctr
writes local time, containerd reads either). Until then the lease keeps what it holds from
collection; once it has passed, the next collection removes the lease and what only it held.
A new lease holds nothing: metafs has no command that adds resources to it."""

RM_DESCRIPTION = """\
Remove the leases and print each id, as ctr; all or nothing: if one ID does not exist nothing
is removed (ctr removes the ones before it). What only the removed leases held is collected
in the same transaction: ctr's --sync waits for containerd's collector to do that, metafs
always does it, so it has no --sync."""

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = r"(\d+\.?\d*|\.\d+)(" + "|".join(_UNITS) + ")"


def parse_duration(text: str, what: str) -> int:
    """Go's time.ParseDuration ("24h", "1h30m", "1.5h", "90s", "0"), in nanoseconds."""
    import re  # here: only leases create needs them
    from fractions import Fraction

    body = text[1:] if text[:1] in ("+", "-") else text
    if body == "0":
        return 0
    total, pos = Fraction(0), 0
    while pos < len(body):
        part = re.compile(_DURATION_PART).match(body, pos)
        if part is None:
            break
        total += Fraction(part.group(1)) * _UNITS[part.group(2)]
        pos = part.end()
    if not body or pos < len(body) or total >= 1 << 63:
        raise InvalidArgument(
            f'{what} "{text}" is not a duration: numbers with units ns, us, ms, s, m, h, as '
            "in 24h, 1h30m or 90s; 0 for none"
        )
    return -int(total) if text.startswith("-") else int(total)


def random_id() -> str:
    """A lease id as containerd's WithRandomID makes one: `<nanoseconds>-<4 base64url chars>`."""
    import base64  # here: only leases create needs it

    return f"{now_ns() % 1_000_000_000}-{base64.urlsafe_b64encode(os.urandom(3)).decode()}"


def register(sub: argparse._SubParsersAction) -> None:
    import argparse  # here: a valid one-shot command line is parsed without it

    group = sub.add_parser(
        "leases",
        aliases=["lease"],
        help="list, create and remove leases",
        description="Leases of the namespace.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    add_ls_verb(
        verbs,
        cmd_ls,
        FIELDS,
        quiet="print only the lease ids",
        help="list leases",
        description=(
            "ID, CREATED AT (local time, as ctr) and LABELS. An expiring lease carries its\n"
            f"expiry in the label {LABEL_EXPIRE}. --format json adds the resources\n"
            "each lease holds."
        ),
    )

    create = verbs.add_parser(
        "create",
        help="create a lease",
        description=CREATE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument(
        "--id", default="", help="the lease id (default: a random one, as containerd makes)"
    )
    create.add_argument(
        "-x",
        "--expires",
        default="24h",
        metavar="DURATION",
        help="expire after DURATION (Go syntax: 24h, 1h30m, 90s; 0: never; default: 24h)",
    )
    create.add_argument("labels", nargs="*", metavar="KEY=VALUE")
    create.set_defaults(func=cmd_create)

    add_rm_verb(verbs, cmd_rm, "ids", "ID", help="remove leases", description=RM_DESCRIPTION)


def cmd_ls(args: argparse.Namespace) -> int:
    match = filters.parse(args.filters, FIELDS)
    with open_store(args, readonly=True) as store, store.read() as tx:
        leases = match.select(list(Leases(tx, args.namespace).list()))
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


def cmd_create(args: argparse.Namespace) -> int:
    labels = parse_labels(args.labels)
    expires = parse_duration(args.expires, "--expires")
    if expires < 0:
        raise InvalidArgument(f'--expires "{args.expires}" must not be negative')
    namespace = write_namespace(args)
    lease_id = args.id or random_id()

    def change(tx: Txn) -> None:
        expires_at = now_ns() + expires if expires else None
        Leases(tx, namespace).create(lease_id, labels, expires_at=expires_at)

    update(args, change)
    emit(f"{lease_id}\n")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    if getattr(args, "containerd", False):
        from . import live_writes  # a live node's editor: only when asked for

        return live_writes.delete(args, "leases", args.ids)
    ids = list(dict.fromkeys(args.ids))
    namespace = write_namespace(args)

    def change(tx: Txn) -> None:
        leases = Leases(tx, namespace)
        for lease_id in ids:
            leases.delete(lease_id)

    update(args, change)
    emit("".join(f"{lease_id}\n" for lease_id in ids))
    return 0
