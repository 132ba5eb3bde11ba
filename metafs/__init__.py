"""metafs: containerd's container metadata on LMDB, as files and as a command line.

The names below are imported on first use (PEP 562), so that `import metafs` (and every
one-shot `metafs` command) loads only the modules it needs.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (2 ms)

__version__ = "0.1.0"

_WHERE = {
    "AnyValue": "codec",
    "Container": "containers",
    "Containers": "containers",
    "Runtime": "containers",
    "Blob": "content",
    "Content": "content",
    "Ingest": "content",
    "AlreadyExists": "errors",
    "FailedPrecondition": "errors",
    "InvalidArgument": "errors",
    "MetafsError": "errors",
    "NotFound": "errors",
    "StoreFull": "errors",
    "Descriptor": "images",
    "Image": "images",
    "Images": "images",
    "Lease": "leases",
    "LeaseResource": "leases",
    "Leases": "leases",
    "Namespaces": "namespaces",
    "Snapshot": "snapshots",
    "Snapshots": "snapshots",
    "Bucket": "store",
    "Store": "store",
    "Txn": "store",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'metafs' has no attribute {name!r}")
    import importlib  # here: its import (with warnings) costs every command otherwise

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


if TYPE_CHECKING:
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
