"""Namespaces: the buckets directly under `v1`, with labels (containerd's namespaces.go)."""

from __future__ import annotations

from collections.abc import Iterator

from . import buckets as B
from . import validation
from .errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, describe
from .store import Txn

# What makes a namespace non-empty for Delete, as containerd checks it.
_CONTENT_BUCKETS = (
    ("images", (B.IMAGES,)),
    ("blobs", (B.CONTENT, B.BLOB)),
    ("containers", (B.CONTAINERS,)),
    ("snapshots", (B.SNAPSHOTS,)),
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
        validation.identifier(name, "namespace")
        validation.labels(labels or {})
        if self.exists(name):
            raise AlreadyExists(describe("namespace", name))
        bucket = B.create_namespace(self.tx, name)
        if labels:
            B.write_labels(bucket, labels)

    def labels(self, name: str) -> dict[str, str]:
        return B.read_labels(self._bucket(name))

    def set_label(self, name: str, key: str, value: str) -> None:
        """Set one label; an empty value removes it (containerd's SetLabel)."""
        if not key:
            raise InvalidArgument("label key must not be empty")
        validation.label(key, value)
        bucket = self._bucket(name)
        labels = B.read_labels(bucket)
        labels[key] = value
        B.write_labels(bucket, labels)

    def delete(self, name: str) -> None:
        """Delete an empty namespace; one that still holds objects fails its precondition."""
        bucket = self._bucket(name)
        held = []
        for what, path in _CONTENT_BUCKETS:
            sub = self.tx.bucket(*bucket.path, *path)
            if sub is not None and not sub.is_empty():
                held.append(what)
        if held:
            raise FailedPrecondition(
                f'namespace "{name}" must be empty, but it still has {", ".join(held)}'
            )
        self.tx.bucket(B.V1).delete_bucket(B.enc(name))

    def _bucket(self, name: str):
        bucket = B.namespace(self.tx, name)
        if bucket is None:
            raise NotFound(describe("namespace", name))
        return bucket
