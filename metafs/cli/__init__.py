"""The `metafs` command line: ctr's verbs over the store, plus mount, import, dump and gc.

Each command group lives in its own module with a `register(subparsers)` function.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import MetafsError
from . import common, gc, namespaces

GROUPS = (namespaces, gc)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="metafs",
        description="containerd's container metadata on LMDB: a FUSE view and a ctr-like CLI.",
    )
    common.add_global_options(top)
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
