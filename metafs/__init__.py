"""metafs: containerd's container metadata on LMDB, as files and as a command line."""

from .codec import AnyValue
from .containers import Container, Containers, Runtime
from .errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    MetafsError,
    NotFound,
    StoreFull,
)
from .images import Descriptor, Image, Images
from .namespaces import Namespaces
from .store import Bucket, Store, Txn

__all__ = [
    "AlreadyExists",
    "AnyValue",
    "Bucket",
    "Container",
    "Containers",
    "Descriptor",
    "FailedPrecondition",
    "Image",
    "Images",
    "InvalidArgument",
    "MetafsError",
    "Namespaces",
    "NotFound",
    "Runtime",
    "Store",
    "StoreFull",
    "Txn",
]
