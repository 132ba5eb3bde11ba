"""containerd's meta-small.db and what was recorded from it, and the comparison of stored
buckets with the lines its `bolt-dump.txt` holds for the same buckets.

`dump_lines` renders a store bucket with `metafs.dump` (the renderer the `dump` command uses);
`fixture_lines` cuts the lines of one bucket out of `bolt-dump.txt`, which a Go program wrote
reading the file with bbolt itself. Both leave out the entries named in `skip` (times differ
between two writes; a spec differs with the host), so the rest compares byte for byte.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from metafs.dump import BucketLike, dump_text, render

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "containerd"
META_DB = FIXTURES / "meta-small.db"
EXPECTED = FIXTURES / "meta-small.expected"
BOLT_DUMP = EXPECTED / "bolt-dump.txt"

TIMES = (b"createdat", b"updatedat")


def dump_lines(bucket: BucketLike, skip: Iterable[bytes] = ()) -> list[str]:
    """The text dump of what is inside `bucket`, without the entries named in `skip`."""
    out = io.StringIO()
    dump_text(bucket, out)
    return _without(out.getvalue().splitlines(), skip)


def fixture_lines(*path: str, skip: Iterable[bytes] = ()) -> list[str]:
    """The lines of bolt-dump.txt inside the bucket at `path`, indented as `dump_lines` indents
    them, without the entries named in `skip`."""
    lines = BOLT_DUMP.read_text(encoding="utf-8").splitlines()
    start, end = 0, len(lines)
    for depth, name in enumerate(path):
        header = "  " * depth + f"[{render(name.encode())}]"
        start = lines.index(header, start, end) + 1
        end = next((i for i in range(start, end) if _indent(lines[i]) <= depth * 2), end)
    pad = len(path) * 2
    return _without([line[pad:] for line in lines[start:end]], skip)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _without(lines: list[str], skip: Iterable[bytes]) -> list[str]:
    """`lines` less the values named in `skip` and the buckets so named, with their contents."""
    names = [render(name) for name in skip]
    values = tuple(f"{name} = " for name in names)
    buckets = {f"[{name}]" for name in names}
    kept, inside = [], None  # indent of a bucket being left out
    for line in lines:
        indent = _indent(line)
        if inside is not None and indent > inside:
            continue
        inside = None
        entry = line[indent:]
        if entry in buckets:
            inside = indent
        elif not entry.startswith(values):
            kept.append(line)
    return kept
