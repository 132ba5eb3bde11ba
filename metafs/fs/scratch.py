"""Editors' side files: kept in the daemon's memory, never stored.

Editors and tools write files next to the one they change: vim its swap file (`.NAME.swp`)
and backup (`NAME~`), `sed -i` a `sedXXXXXX` it renames over the target, Python's `tempfile`
a `tmpXXXXXXXX`. A new file of such a name in an object's directory or in its `labels/` is a
*scratch file*: a plain file in memory, readable and writable at any offset, never listed, that
vanishes when removed or at unmount. Renamed over a field or a label, its contents become that
value, checked as a write would be (fs/operations.py).

vim also probes whether it may replace a file by renaming (a file `4913` made with O_EXCL); that
probe is refused, so vim writes the file in place (as with `backupcopy=yes`) and the store holds
the old value until the new one is complete, instead of the file being gone for a moment.

Nothing here knows FUSE or the store.
"""

from __future__ import annotations

import re

from ..errors import StoreFull

LIMIT = 256 << 20  # bytes all scratch files of a mount may hold together

_SIDE_FILE = re.compile(
    rb"""
      \..+\.sw[a-p]x?      # vim's swap files: .NAME.swp, .swo, ..., and .swpx (a probe)
    | .+~                  # backups: vim, emacs, nano
    | \#.+\#               # emacs's auto-save
    | sed[A-Za-z0-9]{6}    # sed -i
    | tmp[a-z0-9_]{8}      # Python's tempfile
    """,
    re.VERBOSE | re.DOTALL,
)


def is_side_file(filename: bytes) -> bool:
    """Whether a new file of this name in `labels/` is an editor's side file, not a label."""
    return _SIDE_FILE.fullmatch(filename) is not None


def is_vim_probe(filename: bytes) -> bool:
    """vim's file `4913` (or 4913 + 123k when that exists), made to see what a new file in the
    directory would be like."""
    return filename.isdigit() and int(filename) >= 4913 and (int(filename) - 4913) % 123 == 0


class ScratchFile:
    __slots__ = ("data", "mtime")

    def __init__(self, mtime: int) -> None:
        self.data = bytearray()
        self.mtime = mtime


class Scratch:
    """The scratch files of a mount, by inode number."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.files: dict[int, ScratchFile] = {}
        self.limit = limit
        self._size = 0

    def __contains__(self, ino: int) -> bool:
        return ino in self.files

    def make(self, ino: int, mtime: int) -> ScratchFile:
        file = self.files[ino] = ScratchFile(mtime)
        return file

    def remove(self, ino: int) -> ScratchFile | None:
        file = self.files.pop(ino, None)
        if file is not None:
            self._size -= len(file.data)
        return file

    def write(self, file: ScratchFile, offset: int, buf: bytes, mtime: int) -> None:
        end = offset + len(buf)
        grow = max(end - len(file.data), 0)
        if self._size + grow > self.limit:
            raise StoreFull(f"scratch files are limited to {self.limit} bytes in all")
        if offset > len(file.data):
            file.data.extend(bytes(offset - len(file.data)))
        file.data[offset:end] = buf
        self._size += grow
        file.mtime = mtime

    def truncate(self, file: ScratchFile, size: int, mtime: int) -> None:
        if size > len(file.data):
            self.write(file, len(file.data), bytes(size - len(file.data)), mtime)
            return
        self._size -= len(file.data) - size
        del file.data[size:]
        file.mtime = mtime
