"""The error vocabulary of metafs, after containerd's errdefs.

Every error carries the errno the filesystem answers with and the exit status the command line
uses, so the outer layers translate without knowing which layer raised it.
"""

from __future__ import annotations

import errno as _errno


class MetafsError(Exception):
    """Base of every error metafs raises on purpose."""

    errno: int = _errno.EIO
    kind: str = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.message}: {self.kind}"


class NotFound(MetafsError):
    errno = _errno.ENOENT
    kind = "not found"


class AlreadyExists(MetafsError):
    errno = _errno.EEXIST
    kind = "already exists"


class InvalidArgument(MetafsError):
    errno = _errno.EINVAL
    kind = "invalid argument"


class PermissionDenied(MetafsError):
    """The operating system refuses access (a store the user may not read or write)."""

    errno = _errno.EACCES
    kind = "permission denied"


class NotPermitted(MetafsError):
    """The operation is never taken there (a read-only field; what only containerd or only a
    store does)."""

    errno = _errno.EPERM
    kind = "operation not permitted"


class FailedPrecondition(MetafsError):
    """The object is in a state that forbids the operation (a non-empty namespace, say)."""

    errno = _errno.ENOTEMPTY
    kind = "failed precondition"


class StoreFull(MetafsError):
    """The store has no room left (its size limit, or the disk's, is reached)."""

    errno = _errno.ENOSPC
    kind = "no space left in store"


class Conflict(MetafsError):
    """Another writer committed while a transaction was replayed (after an LMDB map resize)."""

    errno = _errno.EAGAIN
    kind = "conflict, try again"


class CorruptStore(MetafsError):
    """A stored value does not decode as its encoding says it must."""

    errno = _errno.EIO
    kind = "corrupt data"


def describe(kind: str, name: str | bytes, namespace: str | None = None) -> str:
    """`image "x" in namespace "default"`: how error messages name an object."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "backslashreplace")
    text = f'{kind} "{name}"'
    if namespace is not None:
        text += f' in namespace "{namespace}"'
    return text
