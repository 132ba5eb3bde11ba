"""Content records: `v1/<ns>/content/blob/<digest>` and the ingests beside them
(containerd's metadata/content.go).

A blob record holds the size (a Go varint), labels and times; the bytes themselves live in
containerd's content store, not in meta.db. Ingests (`content/ingests/<ref>`: the backend ref,
an optional expiry and expected digest) are uploads in progress; metafs reads them, and the
garbage collector honours and removes them, but nothing here writes them.
"""

from __future__ import annotations

from . import buckets as B
from . import validation
from .codec import decode_time, now_ns, put_varint, read_varint
from .errors import AlreadyExists, InvalidArgument, NotFound, describe
from .records import Record
from .store import Bucket, Txn

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterator


class Blob(Record):
    __slots__ = ("digest", "size", "labels", "created_at", "updated_at")

    def __init__(
        self,
        digest: str,
        size: int = 0,
        labels: dict[str, str] | None = None,
        created_at: int = 0,  # Unix nanoseconds
        updated_at: int = 0,
    ) -> None:
        self.digest = digest
        self.size = size
        self.labels: dict[str, str] = {} if labels is None else labels
        self.created_at = created_at
        self.updated_at = updated_at


class Ingest(Record):
    __slots__ = ("ref", "backend_ref", "expected", "expires_at")

    def __init__(
        self,
        ref: str,
        backend_ref: str = "",  # the content store's name for the upload, "<namespace>/<n>/<ref>"
        expected: str = "",  # the digest the upload is expected to have, if known
        expires_at: int | None = None,  # Unix nanoseconds
    ) -> None:
        self.ref = ref
        self.backend_ref = backend_ref
        self.expected = expected
        self.expires_at = expires_at


def is_digest(text: str) -> bool:
    try:
        validation.digest(text)
    except InvalidArgument:
        return False
    return True


class Content:
    """The content records of one namespace, inside a transaction."""

    def __init__(self, tx: Txn, namespace: str) -> None:
        self.tx = tx
        self.namespace = namespace

    def _describe(self, digest: str) -> str:
        return describe("content", digest, self.namespace)

    def _blobs(self) -> Bucket | None:
        return self.tx.bucket(B.V1, B.enc(self.namespace), B.CONTENT, B.BLOB)

    def _bucket(self, digest: str) -> Bucket:
        blobs = self._blobs()
        bucket = blobs.bucket(B.enc(digest)) if blobs and digest else None
        if bucket is None:
            raise NotFound(self._describe(digest))
        return bucket

    # -- blobs --

    def get(self, digest: str) -> Blob:
        return _read(digest, self._bucket(digest))

    def exists(self, digest: str) -> bool:
        blobs = self._blobs()
        return bool(digest) and blobs is not None and blobs.bucket(B.enc(digest)) is not None

    def digests(self, start: str | None = None) -> Iterator[str]:
        """The digests of the blob records in bolt's order, from `start` (inclusive) on; a key
        that is not a digest is skipped, as in `list`."""
        blobs = self._blobs()
        if blobs is not None:
            for key, value in blobs.items(B.enc(start) if start else None):
                if value is None and is_digest(B.dec(key)):
                    yield B.dec(key)

    def list(self) -> Iterator[Blob]:
        """Every blob record in bolt order; like containerd's Walk, a key that is not a digest
        is skipped."""
        blobs = self._blobs()
        if blobs is None:
            return
        for key, value in blobs.items():
            if value is None and is_digest(B.dec(key)):
                yield _read(B.dec(key), blobs.child(key))

    def create(self, digest: str, size: int, labels: dict[str, str] | None = None) -> Blob:
        """Record a committed blob (what containerd writes when an ingest commits). Nothing
        references a new blob: reference it or hold it with a lease in the same transaction,
        or the next collection removes it, as in containerd."""
        labels = dict(labels or {})
        with validation.naming(self._describe(digest)):
            validation.digest(digest)
            if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 1 << 63:
                raise InvalidArgument(f"size must be an integer from 0 to 2^63-1, not {size!r}")
            validation.labels(labels)
        ns = B.create_namespace(self.tx, self.namespace)
        blobs = ns.create_bucket_if_not_exists(B.CONTENT).create_bucket_if_not_exists(B.BLOB)
        if blobs.bucket(B.enc(digest)) is not None:
            raise AlreadyExists(self._describe(digest))
        bucket = blobs.create_bucket(B.enc(digest))
        now = now_ns()
        B.write_times(bucket, now, now)
        B.write_labels(bucket, labels)
        bucket.put(B.SIZE, put_varint(size))
        return _read(digest, bucket)

    def update(self, blob: Blob, *fieldpaths: str) -> Blob:
        """Update the labels (`labels`, `labels.<key>`; no field paths: all labels), the only
        mutable part of a content record."""
        bucket = self._bucket(blob.digest)
        current = _read(blob.digest, bucket)
        labels = dict(current.labels)
        for path in fieldpaths:
            if path.startswith("labels."):
                key = path[len("labels.") :]
                labels[key] = blob.labels.get(key, "")
            elif path == "labels":
                labels = dict(blob.labels)
            else:
                raise InvalidArgument(
                    f'cannot update "{path}" field on {self._describe(blob.digest)}'
                )
        if not fieldpaths:
            labels = dict(blob.labels)
        with validation.naming(self._describe(blob.digest)):
            validation.labels({k: v for k, v in labels.items() if v})
        B.write_times(bucket, current.created_at, now_ns())
        B.write_labels(bucket, labels)
        bucket.put(B.SIZE, put_varint(current.size))
        return _read(blob.digest, bucket)

    def set_label(self, digest: str, key: str, value: str) -> Blob:
        """Set one label; an empty value removes it."""
        if not key:
            raise InvalidArgument(f"{self._describe(digest)}: label key must not be empty")
        return self.update(Blob(digest, labels={key: value}), f"labels.{key}")

    def delete(self, digest: str) -> None:
        """Delete a blob record; what only it referenced (through its gc.ref labels) is
        collected when the transaction commits, as containerd's collector does after a delete."""
        self._bucket(digest)  # NotFound, naming the blob
        blobs = self._blobs()
        assert blobs is not None, "a blob record exists outside its blob bucket"
        blobs.delete_bucket(B.enc(digest))
        self.tx.mark_dirty(self.namespace)

    # -- ingests (read-only) --

    def ingests(self) -> Iterator[Ingest]:
        ingests = self.tx.bucket(B.V1, B.enc(self.namespace), B.CONTENT, B.INGESTS)
        if ingests is None:
            return
        for key, value in ingests.items():
            if value is None:
                yield _read_ingest(B.dec(key), ingests.child(key))

    def ingest(self, ref: str) -> Ingest:
        ingests = self.tx.bucket(B.V1, B.enc(self.namespace), B.CONTENT, B.INGESTS)
        bucket = ingests.bucket(B.enc(ref)) if ingests and ref else None
        if bucket is None:
            raise NotFound(describe("ingest", ref, self.namespace))
        return _read_ingest(ref, bucket)


def _read(digest: str, bucket: Bucket) -> Blob:
    created, updated = B.read_times(bucket)
    size = bucket.get(B.SIZE)
    return Blob(digest, read_varint(size) if size else 0, B.read_labels(bucket), created, updated)


def _read_ingest(ref: str, bucket: Bucket) -> Ingest:
    expires = bucket.get(B.EXPIREAT)
    return Ingest(
        ref,
        B.dec(bucket.get(B.REF) or b""),
        B.dec(bucket.get(B.EXPECTED) or b""),
        decode_time(expires) if expires else None,
    )
