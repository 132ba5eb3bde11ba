"""containerd's bucket tree, in one place (after containerd's metadata/buckets.go).

```
v1/                                   schema; `version` = varint 3 beside the namespaces
  <namespace>/
    labels/<key> = <value>
    images/<name>/        createdat updatedat  labels/  annotations/  target/{digest,mediatype,size}
    containers/<id>/      createdat updatedat image snapshotter snapshotKey spec
                          runtime/{name,options}  extensions/<name>  labels/
    snapshots/<snapshotter>/<key>/   name parent createdat updatedat  children/  labels/
    content/blob/<digest>/           createdat updatedat size  labels/
    content/ingests/<ref>/           ref expireat expected
    leases/<id>/          createdat  labels/  snapshots/<snapshotter>/<key>  content/<digest>
                          ingests/<ref>
metafs/drafts/<namespace>/<image name>/   images made from a shell before their target is
                                          complete (same shape as an image); never under v1
metafs/sequences/<namespace>/<snapshotter> = varint   bolt's NextSequence of that snapshotter
                                          bucket (it numbers snapshot backend names); LMDB has
                                          no bucket sequences
```

Also the helpers every object kind shares (containerd's boltutil): labels, timestamps.
Names are Go strings, i.e. arbitrary bytes; Python sees them as str through UTF-8 with
surrogateescape, so every byte string round-trips.
"""

from __future__ import annotations

from . import validation
from .codec import decode_time, encode_time, put_varint
from .store import Bucket, Txn

V1 = b"v1"
VERSION = b"version"
DB_VERSION = 3

LABELS = b"labels"
ANNOTATIONS = b"annotations"
IMAGES = b"images"
CONTAINERS = b"containers"
SNAPSHOTS = b"snapshots"
CONTENT = b"content"
BLOB = b"blob"
INGESTS = b"ingests"
LEASES = b"leases"

CREATEDAT = b"createdat"
UPDATEDAT = b"updatedat"
EXPIREAT = b"expireat"
EXPECTED = b"expected"
REF = b"ref"

TARGET = b"target"
DIGEST = b"digest"
MEDIATYPE = b"mediatype"
SIZE = b"size"

IMAGE = b"image"
SNAPSHOTTER = b"snapshotter"
SNAPSHOT_KEY = b"snapshotKey"
SPEC = b"spec"
RUNTIME = b"runtime"
NAME = b"name"
OPTIONS = b"options"
EXTENSIONS = b"extensions"

PARENT = b"parent"
CHILDREN = b"children"

METAFS = b"metafs"
DRAFTS = b"drafts"
SEQUENCES = b"sequences"


def enc(text: str) -> bytes:
    return validation.text(text, "name")


def dec(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def namespace(tx: Txn, ns: str) -> Bucket | None:
    return tx.bucket(V1, enc(ns))


def create_namespace(tx: Txn, ns: str) -> Bucket:
    """The namespace bucket, created (with the schema version key) if missing. The name must
    be an identifier, as containerd requires of the namespace of every request."""
    validation.identifier(ns, "namespace")
    v1 = tx.root().create_bucket_if_not_exists(V1)
    if v1.get(VERSION) is None:
        v1.put(VERSION, put_varint(DB_VERSION))
    return v1.create_bucket_if_not_exists(enc(ns))


def read_labels(bucket: Bucket, name: bytes = LABELS) -> dict[str, str]:
    sub = bucket.bucket(name)
    if sub is None:
        return {}
    return {dec(k): dec(v) for k, v in sub.items() if v is not None}


def write_labels(bucket: Bucket, labels: dict[str, str], name: bytes = LABELS) -> None:
    """Replace the whole labels bucket as containerd's writeMap does: no bucket for an empty
    map, and entries with an empty value are dropped (so `k=` removes a label)."""
    if bucket.bucket(name) is not None:
        bucket.delete_bucket(name)
    if labels:
        sub = bucket.create_bucket(name)
        for key, value in labels.items():
            if value:
                sub.put(enc(key), enc(value))


def read_times(bucket: Bucket) -> tuple[int, int]:
    created, updated = bucket.get(CREATEDAT), bucket.get(UPDATEDAT)
    return (decode_time(created) if created else 0, decode_time(updated) if updated else 0)


def label_keys(fieldpaths: tuple[str, ...]) -> list[str] | None:
    """The keys of an update that names only `labels.<key>` paths (the mount's label writes),
    else None."""
    if fieldpaths and all(path.startswith("labels.") for path in fieldpaths):
        return [path[len("labels.") :] for path in fieldpaths]
    return None


def write_some_labels(
    bucket: Bucket, labels: dict[str, str], keys: list[str], updated: int
) -> None:
    """Store the labels `keys` of an object's `labels` (a missing or empty value removes one,
    and from `labels` too) and its updated time, for a fraction of the writes of a whole
    rewrite. The result is what containerd leaves when it updates `labels.<key>` paths: its
    writeMap gets the keys with empty values too, so it makes the bucket even when they are
    all it holds."""
    sub = bucket.create_bucket_if_not_exists(LABELS)
    for key in keys:
        value = labels.get(key, "")
        if value:
            sub.put(enc(key), enc(value))
        else:
            sub.delete(enc(key))
            labels.pop(key, None)
    bucket.put(UPDATEDAT, encode_time(updated))


def write_times(bucket: Bucket, created: int, updated: int) -> None:
    bucket.put(CREATEDAT, encode_time(created))
    bucket.put(UPDATEDAT, encode_time(updated))
