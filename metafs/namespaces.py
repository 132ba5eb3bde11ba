"""Namespaces: the buckets directly under `v1`, with labels (containerd's namespaces.go)."""

from __future__ import annotations

from . import buckets as B
from . import validation
from .errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, describe
from .store import Bucket, Txn

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterator

# What makes a namespace non-empty for Delete, as containerd checks it (snapshots are checked
# per snapshotter below, and metafs adds its own image drafts).
_CONTENT_BUCKETS = (
    ("images", (B.IMAGES,)),
    ("blobs", (B.CONTENT, B.BLOB)),
    ("containers", (B.CONTAINERS,)),
)


class Namespaces:
    def __init__(self, tx: Txn) -> None:
        self.tx = tx

    def list(self) -> Iterator[str]:
        v1 = self.tx.bucket(B.V1)
        if v1 is None:
            return
        for name, value in v1.items():
            if value is None:
                yield B.dec(name)

    def exists(self, name: str) -> bool:
        return B.namespace(self.tx, name) is not None

    def create(self, name: str, labels: dict[str, str] | None = None) -> None:
        """As containerd's Create: always a `labels` bucket, every label stored as given."""
        validation.identifier(name, "namespace")
        with validation.naming(describe("namespace", name)):
            validation.labels(labels or {})
        if self.exists(name):
            raise AlreadyExists(describe("namespace", name))
        sub = B.create_namespace(self.tx, name).create_bucket(B.LABELS)
        for key, value in (labels or {}).items():
            sub.put(B.enc(key), B.enc(value))

    def labels(self, name: str) -> dict[str, str]:
        return B.read_labels(self._bucket(name))

    def set_label(self, name: str, key: str, value: str) -> None:
        """Set one label; an empty value removes it (containerd's SetLabel, which keeps the
        `labels` bucket even when it empties)."""
        with validation.naming(describe("namespace", name)):
            if not key:
                raise InvalidArgument("label key must not be empty")
            validation.label(key, value)
        labels = self._bucket(name).create_bucket_if_not_exists(B.LABELS)
        if value:
            labels.put(B.enc(key), B.enc(value))
        else:
            labels.delete(B.enc(key))

    def delete(self, name: str) -> None:
        """Delete an empty namespace; one that still holds objects fails its precondition."""
        bucket = self._bucket(name)
        held = []
        for what, path in _CONTENT_BUCKETS:
            sub = self.tx.bucket(*bucket.path, *path)
            if sub is not None and not sub.is_empty():
                held.append(what)
        snapshotters = self.tx.bucket(*bucket.path, B.SNAPSHOTS)
        if snapshotters is not None:
            for snapshotter, value in snapshotters.items():
                if value is None and not snapshotters.child(snapshotter).is_empty():
                    held.append(f"snapshot-{B.dec(snapshotter)}")
        drafts = self.tx.bucket(B.METAFS, B.DRAFTS, B.enc(name))
        if drafts is not None and not drafts.is_empty():
            held.append("image drafts")
        if held:
            raise FailedPrecondition(
                f'namespace "{name}" must be empty, but it still has {", ".join(held)}'
            )
        namespaces = self.tx.bucket(B.V1)
        assert namespaces is not None, "a namespace exists outside the v1 bucket"
        namespaces.delete_bucket(B.enc(name))

    def _bucket(self, name: str) -> Bucket:
        bucket = B.namespace(self.tx, name)
        if bucket is None:
            raise NotFound(describe("namespace", name))
        return bucket
