"""A live node: a running containerd read through its API, its runtime files and its meta.db.

This module only names where a node keeps things; the parts that need grpc load when used,
so that commands on a store do not pay for them.
"""

import errno

from ..errors import MetafsError

DEFAULT_ROOT = "/var/lib/containerd"  # containerd's root: meta.db and the snapshots
DEFAULT_STATE = "/run/containerd"  # containerd's state: its socket and the task bundles
DEFAULT_RUNC_ROOT = "/run/containerd/runc"
CGROUP_MOUNT = "/sys/fs/cgroup"


class PermissionDenied(MetafsError):
    """A node's socket, state or metadata that only root may read."""

    errno = errno.EACCES
    kind = "permission denied"


def need_grpc() -> None:
    """Say in one line, rather than with a traceback, that the packages to talk to containerd
    are missing."""
    try:
        import google.protobuf  # noqa: F401
        import grpc  # noqa: F401
    except ImportError as exc:
        raise MetafsError(
            f"talking to containerd needs the Python package {exc.name} (grpcio, protobuf)"
        ) from None
