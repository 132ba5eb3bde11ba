"""`metafs import META_DB` and `metafs dump`: containerd's bolt file into the store, and back out.

The bolt reader, the importer and the dump formats live in `metafs.bolt`, `metafs.importer` and
`metafs.dump`; they are imported only when these commands run, so the other commands start
without them.
"""

from __future__ import annotations

import argparse
import io
import sys
from typing import TYPE_CHECKING, TextIO

from .common import gives_up_clearly, open_store
from .formats import add_text_or_json, emit, go_json

if TYPE_CHECKING:
    from ..importer import ImportProgress

IMPORT_DESCRIPTION = """\
Copy every bucket, key and value of a containerd bolt database (meta.db) into the store,
unchanged, in one transaction. The store's top-level buckets that the file has (containerd's
v1) are replaced, so the store then holds exactly what containerd had; metafs's own drafts
are kept. With --namespace, only v1/NS is replaced. Prints what was copied (with --format
json, one object: "path", "namespace" (null for all), "entries" and "bytes").

The file is checked in full before the store is touched: a file that is not bolt, is
truncated or corrupt is refused with one line naming the fault, exit status 1, and the store
is left as it was. The file is opened read-only and never written.

While containerd runs: the import reads the last state containerd committed, as another bolt
reader would, without locking containerd out. A busy containerd may reuse pages during a long
read; that is detected and refused as a corrupt file, and a retry usually succeeds. For a
guaranteed snapshot, import a copy taken while containerd is stopped
(/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db)."""

DUMP_DESCRIPTION = """\
Print every bucket, key and value of the store in bolt's order, values decoded where their
encoding is known (timestamps, varints, protobuf Any).

text: one line per entry, two spaces of indent per level, [NAME] for a bucket and
      KEY = VALUE  (DECODED) for a value, names and values quoted as Go's strconv.Quote
      (hex: or <N bytes sha256:...> when not short printable text). After importing a
      meta.db it is line for line what a Go program reading the file with bbolt prints.
json: one JSON object per bucket, each value an object with "value" (text) or "hex", and
      "decoded" where the encoding is known."""


def register(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser(
        "import",
        help="copy a containerd meta.db into the store",
        description=IMPORT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("path", metavar="META_DB", help="containerd's bolt file")
    imp.add_argument(
        "--namespace",
        dest="only_namespace",
        metavar="NS",
        help="import only namespace NS (the global -n does not apply here)",
    )
    imp.add_argument(
        "-q", "--quiet", action="store_true", help="no progress on stderr (shown on a terminal)"
    )
    add_text_or_json(imp)
    imp.set_defaults(func=cmd_import)

    dump = sub.add_parser(
        "dump",
        help="print every bucket, key and value",
        description=DUMP_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_text_or_json(dump)
    dump.set_defaults(func=cmd_dump)


class _Progress:
    """One self-overwriting status line on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.shown = False

    def __call__(self, state: ImportProgress) -> None:
        entries, total = state.entries, state.total_entries
        done = f"{entries}/{total} entries ({entries * 100 // total}%)" if total else f"{entries}"
        self.out.write(f"\r{state.phase}: {done}\x1b[K")
        self.out.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self.out.write("\r\x1b[K")
            self.out.flush()


def cmd_import(args: argparse.Namespace) -> int:
    from ..importer import ATTEMPTS, checked_import

    progress = None if args.quiet or not sys.stderr.isatty() else _Progress(sys.stderr)
    try:
        # the file first: a missing or broken one must not create an empty store
        with (
            checked_import(args.path, args.only_namespace, progress) as plan,
            open_store(args, create=True) as store,
            gives_up_clearly(store, ATTEMPTS),
        ):
            final = plan.copy_into(store)
    finally:
        if progress is not None:
            progress.finish()
    if args.format == "json":
        summary = {"path": args.path, "namespace": args.only_namespace}
        emit(go_json(summary | {"entries": final.entries, "bytes": final.bytes}))
    else:
        emit(f"imported {final.entries} buckets and keys ({final.bytes} bytes) from {args.path}\n")
    return 0


def cmd_dump(args: argparse.Namespace) -> int:
    from ..dump import dump_json, dump_text

    out = io.TextIOWrapper(
        sys.stdout.buffer, encoding="utf-8", errors="surrogateescape", newline="\n"
    )
    try:
        with open_store(args, readonly=True) as store, store.read() as tx:
            (dump_json if args.format == "json" else dump_text)(tx.root(), out)
        out.flush()
    finally:
        out.detach()
    return 0
