"""Read-only views of snapshots, content blobs and leases, for `ls`.

metafs has no object kinds (yet) for these three buckets, so this module reads them through
the store's Bucket API, in bolt order, as containerd's metadata layer lays them out (see
`metafs.buckets`). Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import buckets as B
from .. import validation
from ..codec import read_varint
from ..errors import InvalidArgument
from ..store import Bucket, Txn

COMMITTED = "Committed"
ACTIVE = "Active"


@dataclass
class Snapshot:
    snapshotter: str
    key: str
    name: str = ""  # the backend's name, "<namespace>/<n>/<key>"
    parent: str = ""
    children: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0

    @property
    def kind(self) -> str:
        """The kind ctr prints, derived from metadata alone (the snapshotter knows it, meta.db
        does not): a snapshot with children, or whose key is a digest (containerd commits
        unpacked layers under their chain ID), is Committed; any other is Active."""
        if self.children or _is_digest(self.key):
            return COMMITTED
        return ACTIVE


@dataclass
class Blob:
    digest: str
    size: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0


@dataclass
class LeaseResource:
    id: str
    type: str  # "content", "ingests" or "snapshots/<snapshotter>", as containerd names them


@dataclass
class Lease:
    id: str
    labels: dict[str, str] = field(default_factory=dict)
    created_at: int = 0
    resources: list[LeaseResource] = field(default_factory=list)


def _is_digest(text: str) -> bool:
    try:
        validation.digest(text)
    except InvalidArgument:
        return False
    return True


def _sub_buckets(bucket: Bucket | None) -> list[tuple[str, Bucket]]:
    if bucket is None:
        return []
    found = []
    for key, value in bucket.items():
        if value is None:
            sub = bucket.bucket(key)
            assert sub is not None
            found.append((B.dec(key), sub))
    return found


def _keys(bucket: Bucket | None) -> list[str]:
    if bucket is None:
        return []
    return [B.dec(key) for key, value in bucket.items() if value is not None]


def _namespace(tx: Txn, namespace: str, *path: bytes) -> Bucket | None:
    return tx.bucket(B.V1, B.enc(namespace), *path)


def snapshotters(tx: Txn, namespace: str) -> list[str]:
    return [name for name, _ in _sub_buckets(_namespace(tx, namespace, B.SNAPSHOTS))]


def snapshots(tx: Txn, namespace: str, snapshotter: str) -> list[Snapshot]:
    found = []
    for key, bucket in _sub_buckets(_namespace(tx, namespace, B.SNAPSHOTS, B.enc(snapshotter))):
        created, updated = B.read_times(bucket)
        name, parent = bucket.get(B.NAME), bucket.get(B.PARENT)
        found.append(
            Snapshot(
                snapshotter,
                key,
                B.dec(name or b""),
                B.dec(parent or b""),
                _keys(bucket.bucket(B.CHILDREN)),
                B.read_labels(bucket),
                created,
                updated,
            )
        )
    return found


def blobs(tx: Txn, namespace: str) -> list[Blob]:
    found = []
    for digest, bucket in _sub_buckets(_namespace(tx, namespace, B.CONTENT, B.BLOB)):
        created, updated = B.read_times(bucket)
        size = bucket.get(B.SIZE)
        found.append(
            Blob(digest, read_varint(size) if size else 0, B.read_labels(bucket), created, updated)
        )
    return found


def leases(tx: Txn, namespace: str) -> list[Lease]:
    found = []
    for lease_id, bucket in _sub_buckets(_namespace(tx, namespace, B.LEASES)):
        created, _ = B.read_times(bucket)
        resources = [LeaseResource(key, "content") for key in _keys(bucket.bucket(B.CONTENT))] + [
            LeaseResource(key, "ingests") for key in _keys(bucket.bucket(B.INGESTS))
        ]
        for snapshotter, sub in _sub_buckets(bucket.bucket(B.SNAPSHOTS)):
            resources += [LeaseResource(key, f"snapshots/{snapshotter}") for key in _keys(sub)]
        found.append(Lease(lease_id, B.read_labels(bucket), created, resources))
    return found
