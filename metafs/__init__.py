"""metafs: containerd's container metadata on LMDB, as files and as a command line."""

from .codec import AnyValue
from .containers import Container, Containers, Runtime
from .content import Blob, Content, Ingest
from .errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    MetafsError,
    NotFound,
    StoreFull,
)
from .images import Descriptor, Image, Images
from .leases import Lease, LeaseResource, Leases
from .namespaces import Namespaces
from .snapshots import Snapshot, Snapshots
from .store import Bucket, Store, Txn

__all__ = [
    "AlreadyExists",
    "AnyValue",
    "Blob",
    "Bucket",
    "Container",
    "Containers",
    "Content",
    "Descriptor",
    "FailedPrecondition",
    "Image",
    "Images",
    "Ingest",
    "InvalidArgument",
    "Lease",
    "LeaseResource",
    "Leases",
    "MetafsError",
    "Namespaces",
    "NotFound",
    "Runtime",
    "Snapshot",
    "Snapshots",
    "Store",
    "StoreFull",
    "Txn",
]
