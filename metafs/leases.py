"""Leases: `v1/<ns>/leases/<id>` (containerd's metadata/leases.go).

A lease holds resources for its client: while it has not expired, the snapshots, content and
ingests listed under it are roots for the garbage collector. Its expiry is not a field but the
label `containerd.io/gc.expire` (RFC 3339); the label `containerd.io/gc.flat` makes it hold only
the listed resources, not what their labels reference.
"""

from __future__ import annotations

import builtins

from . import buckets as B
from . import validation
from .codec import encode_time, format_time, now_ns
from .errors import AlreadyExists, InvalidArgument, NotFound, describe
from .gclabels import LABEL_EXPIRE, LABEL_FLAT, parse_expiry
from .records import FrozenRecord, Record
from .store import Bucket, Txn

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterator


class LeaseResource(FrozenRecord):
    """A resource a lease holds, named as containerd's lease API names it."""

    __slots__ = ("id", "type")
    id: str  # a digest, an ingest ref or a snapshot key
    type: str  # "content", "ingests" or "snapshots/<snapshotter>"

    def __init__(self, id: str, type: str) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "type", type)

    @classmethod
    def content(cls, digest: str) -> LeaseResource:
        return cls(digest, "content")

    @classmethod
    def ingest(cls, ref: str) -> LeaseResource:
        return cls(ref, "ingests")

    @classmethod
    def snapshot(cls, snapshotter: str, key: str) -> LeaseResource:
        return cls(key, f"snapshots/{snapshotter}")

    def path(self) -> tuple[bytes, ...]:
        """The bucket path under the lease that lists this resource (parseLeaseResource)."""
        parts = self.type.split("/")
        if parts[0] in ("content", "ingests"):
            if len(parts) != 1:
                raise InvalidArgument(f'invalid lease resource type "{self.type}"')
            if parts[0] == "content":
                validation.digest(self.id)
        elif parts[0] == "snapshots":
            if len(parts) != 2 or not parts[1]:
                raise InvalidArgument(f'invalid snapshot lease resource type "{self.type}"')
        else:
            raise InvalidArgument(f'lease resource type "{self.type}" is not supported')
        if not self.id:
            raise InvalidArgument("lease resource id must not be empty")
        validation.text(self.id, "lease resource id")
        validation.text(self.type, "lease resource type")
        return tuple(B.enc(part) for part in parts)


class Lease(Record):
    __slots__ = ("id", "labels", "created_at", "resources")

    def __init__(
        self,
        id: str,
        labels: dict[str, str] | None = None,
        created_at: int = 0,  # Unix nanoseconds
        resources: list[LeaseResource] | None = None,
    ) -> None:
        self.id = id
        self.labels: dict[str, str] = {} if labels is None else labels
        self.created_at = created_at
        self.resources: list[LeaseResource] = [] if resources is None else resources

    @property
    def expires_at(self) -> int | None:
        """The expiry in Unix nanoseconds; None when there is none or it does not parse
        (containerd then keeps the lease)."""
        return parse_expiry(self.labels.get(LABEL_EXPIRE))

    @property
    def flat(self) -> bool:
        return LABEL_FLAT in self.labels


class Leases:
    """The leases of one namespace, inside a transaction."""

    def __init__(self, tx: Txn, namespace: str) -> None:
        self.tx = tx
        self.namespace = namespace

    def _describe(self, lease_id: str) -> str:
        return describe("lease", lease_id, self.namespace)

    def _leases(self) -> Bucket | None:
        return self.tx.bucket(B.V1, B.enc(self.namespace), B.LEASES)

    def _bucket(self, lease_id: str) -> Bucket:
        leases = self._leases()
        bucket = leases.bucket(B.enc(lease_id)) if leases and lease_id else None
        if bucket is None:
            raise NotFound(self._describe(lease_id))
        return bucket

    def get(self, lease_id: str) -> Lease:
        return _read(lease_id, self._bucket(lease_id))

    def exists(self, lease_id: str) -> bool:
        leases = self._leases()
        return bool(lease_id) and leases is not None and leases.bucket(B.enc(lease_id)) is not None

    def ids(self, start: str | None = None) -> Iterator[str]:
        """Lease ids in bolt's order, from `start` (inclusive) on."""
        leases = self._leases()
        if leases is not None:
            for key, value in leases.items(B.enc(start) if start else None):
                if value is None:
                    yield B.dec(key)

    def list(self) -> Iterator[Lease]:
        leases = self._leases()
        if leases is None:
            return
        for key, value in leases.items():
            if value is None:
                yield _read(B.dec(key), leases.child(key))

    def create(
        self,
        lease_id: str,
        labels: dict[str, str] | None = None,
        *,
        expires_at: int | None = None,
    ) -> Lease:
        """Create a lease; `expires_at` (Unix nanoseconds) is written as the
        `containerd.io/gc.expire` label, in RFC 3339 as ctr writes it."""
        labels = dict(labels or {})
        if expires_at is not None:
            labels[LABEL_EXPIRE] = format_time(expires_at, nanos=False)
        with validation.naming(self._describe(lease_id)):
            if not lease_id:
                raise InvalidArgument("lease id must be provided")
            validation.text(lease_id, "lease id")
            validation.labels(labels)
        leases = B.create_namespace(self.tx, self.namespace).create_bucket_if_not_exists(B.LEASES)
        if leases.bucket(B.enc(lease_id)) is not None:
            raise AlreadyExists(self._describe(lease_id))
        bucket = leases.create_bucket(B.enc(lease_id))
        bucket.put(B.CREATEDAT, encode_time(now_ns()))
        B.write_labels(bucket, labels)
        return _read(lease_id, bucket)

    def delete(self, lease_id: str) -> None:
        """Delete a lease; what only it held is collected when the transaction commits."""
        self._bucket(lease_id)  # NotFound, naming the lease
        leases = self._leases()
        assert leases is not None, "a lease exists outside its leases bucket"
        leases.delete_bucket(B.enc(lease_id))
        self.tx.mark_dirty(self.namespace)

    def add_resource(self, lease_id: str, resource: LeaseResource) -> None:
        """Hold `resource` by the lease (it need not exist, as in containerd)."""
        bucket = self._bucket(lease_id)
        with validation.naming(self._describe(lease_id)):
            *path, name = (*resource.path(), B.enc(resource.id))
        for part in path:
            bucket = bucket.create_bucket_if_not_exists(part)
        bucket.put(name, b"")

    def remove_resource(self, lease_id: str, resource: LeaseResource) -> None:
        """Stop holding `resource`; a resource the lease does not hold is no error."""
        bucket = self.tx.bucket(*self._bucket(lease_id).path, *resource.path())
        if bucket is not None:
            bucket.delete(B.enc(resource.id))

    def resources(self, lease_id: str) -> builtins.list[LeaseResource]:  # `list` here is the method
        return _resources(self._bucket(lease_id))


def _read(lease_id: str, bucket: Bucket) -> Lease:
    created, _ = B.read_times(bucket)
    return Lease(lease_id, B.read_labels(bucket), created, _resources(bucket))


def _resources(bucket: Bucket) -> list[LeaseResource]:
    """content, then ingests, then snapshots by snapshotter, as ListResources orders them."""
    found = []
    for sub, kind in ((B.CONTENT, "content"), (B.INGESTS, "ingests")):
        held = bucket.bucket(sub)
        if held is not None:
            found += [LeaseResource(B.dec(k), kind) for k, v in held.items() if v is not None]
    snapshots = bucket.bucket(B.SNAPSHOTS)
    if snapshots is not None:
        for name, value in snapshots.items():
            if value is None:
                held = snapshots.child(name)
                found += [
                    LeaseResource(B.dec(k), f"snapshots/{B.dec(name)}")
                    for k, v in held.items()
                    if v is not None
                ]
    return found
