"""Snapshot records: `v1/<ns>/snapshots/<snapshotter>/<key>` (containerd's metadata/snapshot.go).

A record holds the backend name (`<ns>/<n>/<key>`, numbered per snapshotter bucket), the parent
key, a `children` bucket listing the keys whose parent it is, labels and times. The parent must
exist in the same snapshotter, and a snapshot with children cannot be removed. Whether a
snapshot is active, committed or a view is known only to the snapshotter, not to meta.db.
"""

from __future__ import annotations

from . import buckets as B
from . import validation
from .codec import now_ns, put_varint, read_varint
from .errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from .records import Record
from .store import Bucket, Txn

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterator


class Snapshot(Record):
    __slots__ = (
        *("snapshotter", "key", "name", "parent", "children", "labels"),
        *("created_at", "updated_at"),
    )

    def __init__(
        self,
        snapshotter: str,
        key: str,
        name: str = "",  # the backend's name, "<namespace>/<n>/<key>"
        parent: str = "",
        children: list[str] | None = None,
        labels: dict[str, str] | None = None,
        created_at: int = 0,  # Unix nanoseconds
        updated_at: int = 0,
    ) -> None:
        self.snapshotter = snapshotter
        self.key = key
        self.name = name
        self.parent = parent
        self.children: list[str] = [] if children is None else children
        self.labels: dict[str, str] = {} if labels is None else labels
        self.created_at = created_at
        self.updated_at = updated_at


def validate_snapshotter(snapshotter: str) -> str:
    """A snapshotter is a plugin name: non-empty, and without `/` (containerd's GC names a
    snapshot `<snapshotter>/<key>` and label references end the snapshotter at a `/`)."""
    if not snapshotter:
        raise InvalidArgument("snapshotter must not be empty")
    if "/" in snapshotter:
        raise InvalidArgument(f'snapshotter "{snapshotter}" must not contain "/"')
    validation.text(snapshotter, "snapshotter")
    return snapshotter


class Snapshots:
    """The snapshot records of one namespace, inside a transaction."""

    def __init__(self, tx: Txn, namespace: str) -> None:
        self.tx = tx
        self.namespace = namespace

    def _describe(self, snapshotter: str, key: str) -> str:
        return f'snapshot "{key}" of snapshotter "{snapshotter}" in namespace "{self.namespace}"'

    def _snapshotters(self) -> Bucket | None:
        return self.tx.bucket(B.V1, B.enc(self.namespace), B.SNAPSHOTS)

    def _snapshotter(self, snapshotter: str) -> Bucket | None:
        snapshotters = self._snapshotters()
        return snapshotters.bucket(B.enc(snapshotter)) if snapshotters and snapshotter else None

    def _bucket(self, snapshotter: str, key: str) -> Bucket:
        parent = self._snapshotter(snapshotter)
        bucket = parent.bucket(B.enc(key)) if parent and key else None
        if bucket is None:
            raise NotFound(self._describe(snapshotter, key))
        return bucket

    # -- reading --

    def snapshotters(self) -> Iterator[str]:
        snapshotters = self._snapshotters()
        if snapshotters is not None:
            for name, value in snapshotters.items():
                if value is None:
                    yield B.dec(name)

    def get(self, snapshotter: str, key: str) -> Snapshot:
        return _read(snapshotter, key, self._bucket(snapshotter, key))

    def exists(self, snapshotter: str, key: str) -> bool:
        parent = self._snapshotter(snapshotter)
        return bool(key) and parent is not None and parent.bucket(B.enc(key)) is not None

    def keys(self, snapshotter: str, start: str | None = None) -> Iterator[str]:
        """The snapshot keys of `snapshotter` in bolt's order, from `start` (inclusive) on."""
        bucket = self._snapshotter(snapshotter)
        if bucket is not None:
            for key, value in bucket.items(B.enc(start) if start else None):
                if value is None:
                    yield B.dec(key)

    def list(self, snapshotter: str | None = None) -> Iterator[Snapshot]:
        """Every snapshot of `snapshotter` (or of every snapshotter), in bolt order."""
        names = [snapshotter] if snapshotter is not None else list(self.snapshotters())
        for name in names:
            bucket = self._snapshotter(name)
            if bucket is None:
                continue
            for key, value in bucket.items():
                if value is None:
                    yield _read(name, B.dec(key), bucket.child(key))

    # -- writing --

    def create(
        self,
        snapshotter: str,
        key: str,
        parent: str = "",
        labels: dict[str, str] | None = None,
    ) -> Snapshot:
        """Record a new snapshot (containerd's Prepare/View): the parent, if given, must exist
        in the same snapshotter and gains `key` among its children. Nothing references a new
        snapshot: hold it with a lease (`Leases.add_resource`, same transaction) or a reference
        before the next collection, as containerd's clients must."""
        labels = dict(labels or {})
        with validation.naming(self._describe(snapshotter, key)):
            validate_snapshotter(snapshotter)
            if not key:
                raise InvalidArgument("snapshot key must not be empty")
            validation.text(key, "snapshot key")
            validation.text(parent, "parent key")
            validation.labels(labels)
        ns = B.create_namespace(self.tx, self.namespace)
        bucket = ns.create_bucket_if_not_exists(B.SNAPSHOTS).create_bucket_if_not_exists(
            B.enc(snapshotter)
        )
        if bucket.bucket(B.enc(key)) is not None:
            raise AlreadyExists(self._describe(snapshotter, key))
        parent_bucket = None
        if parent:
            parent_bucket = bucket.bucket(B.enc(parent))
            if parent_bucket is None:
                raise NotFound(f"parent {self._describe(snapshotter, parent)}")
        record = bucket.create_bucket(B.enc(key))
        if parent_bucket is not None:
            parent_bucket.create_bucket_if_not_exists(B.CHILDREN).put(B.enc(key), b"")
            record.put(B.PARENT, B.enc(parent))
        sequence = self._next_sequence(snapshotter, bucket)
        record.put(B.NAME, B.enc(f"{self.namespace}/{sequence}/{key}"))
        now = now_ns()
        B.write_times(record, now, now)
        B.write_labels(record, labels)
        return _read(snapshotter, key, record)

    def update(self, snapshot: Snapshot, *fieldpaths: str) -> Snapshot:
        """Update the labels (`labels`, `labels.<key>`; no field paths: all labels), the only
        mutable part of a snapshot record."""
        if not snapshot.key:
            raise InvalidArgument("snapshot key is required for update")
        bucket = self._bucket(snapshot.snapshotter, snapshot.key)
        current = _read(snapshot.snapshotter, snapshot.key, bucket)
        labels = dict(current.labels)
        for path in fieldpaths:
            if path.startswith("labels."):
                key = path[len("labels.") :]
                labels[key] = snapshot.labels.get(key, "")
            elif path == "labels":
                labels = dict(snapshot.labels)
            else:
                raise InvalidArgument(
                    f'cannot update "{path}" field on '
                    f"{self._describe(snapshot.snapshotter, snapshot.key)}"
                )
        if not fieldpaths:
            labels = dict(snapshot.labels)
        with validation.naming(self._describe(snapshot.snapshotter, snapshot.key)):
            validation.labels({k: v for k, v in labels.items() if v})
        B.write_labels(bucket, labels)
        B.write_times(bucket, current.created_at, now_ns())
        return _read(snapshot.snapshotter, snapshot.key, bucket)

    def set_label(self, snapshotter: str, key: str, label: str, value: str) -> Snapshot:
        """Set one label; an empty value removes it."""
        if not label:
            raise InvalidArgument(
                f"{self._describe(snapshotter, key)}: label key must not be empty"
            )
        return self.update(Snapshot(snapshotter, key, labels={label: value}), f"labels.{label}")

    def remove(self, snapshotter: str, key: str) -> None:
        """Remove a snapshot record that has no children, unlinking it from its parent; what
        only it kept (its parent, say) is collected when the transaction commits, as
        containerd's collector does after a removal."""
        bucket = self._bucket(snapshotter, key)
        children = bucket.bucket(B.CHILDREN)
        if children is not None and not children.is_empty():
            raise FailedPrecondition(
                f"cannot remove {self._describe(snapshotter, key)}: it has children"
            )
        records = self._snapshotter(snapshotter)
        assert records is not None, "a snapshot exists outside its snapshotter's bucket"
        parent = bucket.get(B.PARENT)
        if parent and records.bucket(parent) is None:
            raise NotFound(f"parent {self._describe(snapshotter, B.dec(parent))}")
        remove_record(records, B.enc(key))
        self.tx.mark_dirty(self.namespace)

    def _next_sequence(self, snapshotter: str, bucket: Bucket) -> int:
        """bolt's NextSequence of the snapshotter bucket, kept under metafs/sequences; the
        first use in a store (say, after an import) continues from the highest number in use."""
        counters = self.tx.create_buckets(B.METAFS, B.SEQUENCES, B.enc(self.namespace))
        raw = counters.get(B.enc(snapshotter))
        current = read_varint(raw) if raw is not None else _highest_sequence(bucket)
        counters.put(B.enc(snapshotter), put_varint(current + 1))
        return current + 1


def remove_record(snapshotter: Bucket, key: bytes) -> None:
    """Delete the record `key` of a snapshotter bucket and its entry in its parent's children
    (left as an empty bucket when it was the last, as containerd leaves it)."""
    bucket = snapshotter.bucket(key)
    if bucket is None:
        return
    parent = bucket.get(B.PARENT)
    parent_bucket = snapshotter.bucket(parent) if parent else None
    if parent_bucket is not None:
        children = parent_bucket.bucket(B.CHILDREN)
        if children is not None:
            children.delete(key)
    snapshotter.delete_bucket(key)


def _highest_sequence(bucket: Bucket) -> int:
    highest = 0
    for key, value in bucket.items():
        if value is not None:
            continue
        parts = (bucket.child(key).get(B.NAME) or b"").split(b"/", 2)
        if len(parts) == 3 and parts[1].isdigit():
            highest = max(highest, int(parts[1]))
    return highest


def _read(snapshotter: str, key: str, bucket: Bucket) -> Snapshot:
    created, updated = B.read_times(bucket)
    children = bucket.bucket(B.CHILDREN)
    return Snapshot(
        snapshotter,
        key,
        B.dec(bucket.get(B.NAME) or b""),
        B.dec(bucket.get(B.PARENT) or b""),
        [B.dec(k) for k, v in children.items() if v is not None] if children else [],
        B.read_labels(bucket),
        created,
        updated,
    )
