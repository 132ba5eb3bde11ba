"""Render a store subtree as containerd's fixture `bolt-dump.txt` shows a bolt file (values
only, without the decoded suffix), so tests can compare what metafs stores with lines taken
from what containerd 1.6 stored, byte for byte."""

from __future__ import annotations

import hashlib
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def render(raw: bytes) -> str:
    """NAME/KEY/VALUE as the dump renders them: quoted text, hex, or a sized digest."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and len(raw) <= 200 and not _CONTROL.search(text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if len(raw) <= 64:
        return "hex:" + raw.hex()
    return f"<{len(raw)} bytes sha256:{hashlib.sha256(raw).hexdigest()}>"


def dump(bucket, depth: int = 0, skip: tuple[bytes, ...] = ()) -> list[str]:
    """Lines for everything inside `bucket`, indented as if `bucket` sat at `depth`."""
    lines = []
    for name, value in bucket.items():
        if name in skip:
            continue
        pad = "  " * (depth + 1)
        if value is None:
            lines.append(f"{pad}[{render(name)}]")
            lines.extend(dump(bucket.bucket(name), depth + 1, skip))
        else:
            lines.append(f"{pad}{render(name)} = {render(value)}")
    return lines
