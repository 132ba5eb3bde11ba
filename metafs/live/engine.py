"""The store engine of a live node: containerd's own `meta.db`, read-only and always current.

Every object kind, command and view of metafs reads through the engine interface
(`metafs.engines`), so they all work on a running containerd unchanged once it is an engine:
this one holds a consistent in-memory copy of the bolt file (`metafs.live.meta`, taken without
a lock), and takes a new copy when containerd has committed since (its meta txid moved). The
txid is looked at no more often than every `RECHECK` seconds, so a change containerd commits
shows within that time plus the copy, and the mount's per-request `generation()` stays cheap.

Nothing is ever written: a write transaction is refused with EROFS (changes to a live node go
through containerd's API).
"""

from __future__ import annotations

import errno
import os
import threading
import time

from ..engines.memory import MemoryEngine, MemoryReader
from ..errors import InvalidArgument, MetafsError, NotFound
from . import PermissionDenied
from .meta import META_DB, snapshot, txid

RECHECK = 0.05  # seconds between two looks at the meta txid


class ReadOnlyNode(MetafsError):
    errno = errno.EROFS
    kind = "read-only file system"


class LiveEngine:
    """containerd's meta.db at `path`, as a read-only engine."""

    readonly = True

    def __init__(self, path: str, *, recheck: float = RECHECK) -> None:
        self.path = path
        self.location = f"containerd://{os.path.dirname(os.path.dirname(path))}"
        self.recheck = recheck
        self._lock = threading.Lock()
        self._txid = -1
        self._copy = MemoryEngine(self.location)
        self._checked = 0.0
        denied = PermissionDenied(
            f"cannot read containerd's metadata {path} (reading a node needs root)"
        )
        try:
            os.stat(path)
        except FileNotFoundError:
            raise NotFound(f"containerd metadata {path}") from None
        except PermissionError:
            raise denied from None
        if not os.access(path, os.R_OK):
            raise denied
        self._refresh()

    def _refresh(self) -> None:
        """Take a new copy if containerd committed since the last one (at most every
        `recheck` seconds)."""
        now = time.monotonic()
        if now - self._checked < self.recheck:
            return
        with self._lock:
            if now - self._checked < self.recheck:
                return
            if txid(self.path) != self._txid:
                current, entries = snapshot(self.path)
                copy = MemoryEngine(self.location)
                writer = copy.writer()
                for key, value in entries:  # in key order: each put appends
                    writer.put(key, value)
                writer.commit()
                copy.readonly = True
                self._copy, self._txid = copy, current
            self._checked = time.monotonic()

    def stale(self) -> None:
        """containerd has just committed a change we asked for: look at its txid at the next
        read, not `recheck` seconds later."""
        self._checked = float("-inf")

    def reader(self) -> MemoryReader:
        self._refresh()
        return self._copy.reader()

    def writer(self) -> MemoryReader:
        raise ReadOnlyNode(f"{self.path} belongs to a running containerd: metafs does not write it")

    def generation(self) -> int:
        """containerd's txid of the copy being read."""
        self._refresh()
        return self._txid

    def sync(self) -> None:
        pass

    def backup(self, dest: str) -> None:
        raise InvalidArgument(f"{self.path}: take a copy with `metafs import` instead")

    def release_memory(self) -> None:
        pass

    def close(self) -> None:
        pass


def open_live(
    locator: str, *, readonly: bool = True, create: bool = False, sync: bool = True
) -> LiveEngine:
    """`containerd://ROOT`: the metadata of the containerd whose root directory is ROOT
    (read-only whatever is asked: `create` and `sync` mean nothing here)."""
    root = locator.removeprefix("containerd://") or "/var/lib/containerd"
    return LiveEngine(os.path.join(root, META_DB))
