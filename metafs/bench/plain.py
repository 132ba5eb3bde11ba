"""A plain pyfuse3 daemon, the benchmark's second baseline: the tmpfs mirror passed through,
read-only, with pyfuse3's own request loop and the same cache timeouts as metafs, and nothing
else of metafs. What a FUSE filesystem written the obvious way costs on this machine, in the
same run (the issue's targets were set against one: 20x, 25x, 11x and 25x of tmpfs).

    python -m metafs.bench.plain SOURCE MOUNTPOINT     # serves until unmounted
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

import pyfuse3
import trio

TIMEOUT = 0.9  # metafs's default entry and attribute timeout


class Passthrough(pyfuse3.Operations):
    """Inode numbers are the source's own (a tmpfs root is inode 1, as FUSE's)."""

    def __init__(self, source: bytes) -> None:
        super().__init__()
        self.paths = {pyfuse3.ROOT_INODE: source}
        self.listings: dict[int, tuple[bytes, list[bytes]]] = {}  # by handle: path, names
        self.next_fh = 0

    def _attrs(self, path: bytes) -> pyfuse3.EntryAttributes:
        try:
            st = os.lstat(path)
        except OSError as exc:
            raise pyfuse3.FUSEError(exc.errno or errno.EIO) from None
        attrs = pyfuse3.EntryAttributes()
        for name in (
            "st_ino",
            "st_mode",
            "st_nlink",
            "st_uid",
            "st_gid",
            "st_size",
            "st_atime_ns",
            "st_mtime_ns",
            "st_ctime_ns",
        ):
            setattr(attrs, name, getattr(st, name))
        attrs.entry_timeout = attrs.attr_timeout = TIMEOUT
        self.paths[st.st_ino] = path
        return attrs

    async def lookup(self, parent: int, name: bytes, ctx: Any = None) -> pyfuse3.EntryAttributes:
        return self._attrs(os.path.join(self.paths[parent], name))

    async def getattr(self, inode: int, ctx: Any = None) -> pyfuse3.EntryAttributes:
        attrs = self._attrs(self.paths[inode])
        attrs.st_ino = inode  # the root's, whatever the source's root number is
        return attrs

    async def opendir(self, inode: int, ctx: Any) -> int:
        self.next_fh += 1
        path = self.paths[inode]
        self.listings[self.next_fh] = (path, sorted(os.listdir(path)))
        return self.next_fh

    async def readdir(self, fh: int, start_id: int, token: Any) -> None:
        base, names = self.listings[fh]
        for i in range(start_id, len(names)):
            attrs = self._attrs(os.path.join(base, names[i]))
            if not pyfuse3.readdir_reply(token, names[i], attrs, i + 1):
                return

    async def releasedir(self, fh: int) -> None:
        del self.listings[fh]

    async def open(self, inode: int, flags: int, ctx: Any) -> pyfuse3.FileInfo:
        if flags & os.O_ACCMODE != os.O_RDONLY:
            raise pyfuse3.FUSEError(errno.EROFS)
        return pyfuse3.FileInfo(fh=os.open(self.paths[inode], os.O_RDONLY), keep_cache=True)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        return os.pread(fh, size, off)

    async def release(self, fh: int) -> None:
        os.close(fh)


def main() -> None:
    source, mountpoint = sys.argv[1:3]
    options = set(pyfuse3.default_options) | {"fsname=plain-pyfuse3", "ro"}
    pyfuse3.init(Passthrough(os.fsencode(source)), mountpoint, options)
    try:
        trio.run(pyfuse3.main)
    finally:
        pyfuse3.close(unmount=True)


if __name__ == "__main__":
    main()
