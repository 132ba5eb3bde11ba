"""A consistent copy of the bolt file a running containerd holds open, taken without a lock.

containerd does not know about us, and we must never block it: bolt's file lock (flock) is
taken by containerd only, and we take none. What makes a lock-free read safe is how bolt
commits: every changed page is written copy-on-write into pages that are free in the last
committed state, and the meta page (two slots, the newer txid wins, checksummed) is written
last. So the pages reachable from the meta we start from are not touched until a *later*
commit has freed them, i.e. until the txid has moved on at least once. The rule:

    read the meta's txid T, read the whole tree reachable from it, read the txid again:
    still T → no commit completed meanwhile, every page read belonged to state T;
    changed → the read may have met reused pages: start again (a format error met while
    reading a changing file is retried the same way).

A torn meta write is caught by its checksum (the other slot is used). The copy is turned into
the store's flat keys (`metafs.layout`) in key order, ready for an in-memory engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from ..bolt import BoltFile, BoltFormatError
from ..bolt import Bucket as BoltBucket
from ..errors import Conflict
from ..layout import BUCKET, KEY, component

META_DB = os.path.join("io.containerd.metadata.v1.bolt", "meta.db")
ATTEMPTS = 20  # reads that raced a commit, before giving up (containerd committing non-stop)


def txid(path: str) -> int:
    """The txid of the last commit of the bolt file at `path`."""
    with BoltFile(path) as db:
        return db.meta.txid


def snapshot(path: str) -> tuple[int, list[tuple[bytes, bytes]]]:
    """(txid, every full key and its value, in key order) of the last committed state."""
    for _attempt in range(ATTEMPTS):
        with BoltFile(path) as db:
            start = db.meta.txid
            try:
                entries = list(_entries(db.root(), b""))
            except BoltFormatError:
                if txid(path) != start:
                    continue  # pages reused under us by a commit: read the new state
                raise
        if txid(path) == start:
            entries.sort()  # a walk in bolt's order is nearly sorted already
            return start, entries
    raise Conflict(f"bolt file {path}: a commit came during each of {ATTEMPTS} reads")


def _entries(bucket: BoltBucket, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The full keys under `bucket` (whose full key is `prefix`): a nested bucket as its
    marker (empty value) followed by what it holds, a plain key with its value."""
    for name, value in bucket.items():
        if value is None:
            child = bucket.bucket(name)
            assert child is not None  # items() said it is a bucket
            marker = prefix + component(name, BUCKET)
            yield marker, b""
            yield from _entries(child, marker)
        else:
            yield prefix + component(name, KEY), value
