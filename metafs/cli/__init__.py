"""The `metafs` command line: ctr's verbs over the store, plus mount, import, dump and gc.

Each command group lives in its own module with a `register(subparsers)` function.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import MetafsError
from . import (
    boltdb,
    common,
    containers,
    content,
    gc,
    images,
    leases,
    live,
    mount,
    namespaces,
    snapshots,
    tasks,
)

GROUPS = (images, containers, namespaces, leases, snapshots, content, gc, boltdb, mount, tasks)


def parser() -> argparse.ArgumentParser:
    top = common.Parser(
        prog="metafs",
        description="containerd's container metadata on LMDB: a FUSE view and a ctr-like CLI.",
        epilog="Exit status: 0 done (images rm and content rm skip what does not exist with a "
        "'metafs: warning: ...' line, as ctr); 1 refused or failed, with one 'metafs: ...' line "
        "on stderr (a refused change leaves the store as it was); 2 bad usage.",
    )
    common.add_global_options(top)
    live.add_options(top)
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    live.resolve(args)
    try:
        return args.func(args) or 0
    except MetafsError as exc:
        print(f"metafs: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 141
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
