"""The labels the garbage collector reads (containerd's metadata/gclabels.go), and what their
values mean. Object kinds, the collector and the command line share this vocabulary; it
depends on nothing of the collector's."""

from __future__ import annotations

from .codec import parse_time
from .errors import MetafsError

# On content and snapshots: a root, kept whatever refers to it (the value is informative).
LABEL_ROOT = "containerd.io/gc.root"
# On images, containers, content and snapshots: `containerd.io/gc.ref.content`,
# `...content.<x>` or `...content/<x>` refer to a blob (the value: its digest).
LABEL_REF_CONTENT = "containerd.io/gc.ref.content"
# `containerd.io/gc.ref.snapshot.<snapshotter>[/<x>]` refer to a snapshot (the value: its key).
LABEL_REF_SNAPSHOT = "containerd.io/gc.ref.snapshot."
LABEL_REF_PREFIX = "containerd.io/gc.ref."
# On leases: when the lease expires (RFC 3339), and whether it holds its resources flat
# (their label references not followed).
LABEL_EXPIRE = "containerd.io/gc.expire"
LABEL_FLAT = "containerd.io/gc.flat"


def parse_expiry(value: str | bytes | None) -> int | None:
    """A `containerd.io/gc.expire` value in Unix nanoseconds; None when absent or when it does
    not parse (containerd then ignores it: the lease never expires)."""
    if value is None:
        return None
    try:
        return parse_time(
            value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
        )
    except MetafsError:
        return None
