"""Editors' side files: kept in the daemon's memory, never stored.

Editors and tools write files next to the one they change: vim its swap file (`.NAME.swp`)
and backup (`NAME~`), `sed -i` a `sedXXXXXX` it renames over the target, Python's `tempfile`
a `tmpXXXXXXXX`. A new file of such a name in an object's directory or in its `labels/` is a
*scratch file*, and so is any new hidden file (`.NAME`) in an object's directory, where a new
file can be nothing else (rsync's `.NAME.XXXXXX`, `mkstemp(prefix='.NAME')` for an atomic save;
in `labels/` a hidden name is a label's, as a key may begin with a dot): a plain file in
memory, readable and writable at any offset, never listed, that vanishes when removed, with
its object, or at unmount. Renamed over a field or a label, its contents become that value,
checked as a write would be (fs/operations.py).

vim also probes whether it may replace a file by renaming (a file `4913` made with O_EXCL); that
probe is refused, so vim writes the file in place (as with `backupcopy=yes`) and the store holds
the old value until the new one is complete, instead of the file being gone for a moment.

Nothing here knows FUSE or the store.
"""

from __future__ import annotations

import re

from ..errors import StoreFull
from .view import Path

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


def is_side_file(filename: bytes, beside_fields: bool = False) -> bool:
    """Whether a new file of this name is an editor's side file (in `labels/`: not a label);
    `beside_fields`, in an object's directory, any hidden name is one too."""
    if beside_fields and filename.startswith(b"."):
        return True
    return _SIDE_FILE.fullmatch(filename) is not None


def is_vim_probe(filename: bytes) -> bool:
    """vim's file `4913` (or 4913 + 123k when that exists), made to see what a new file in the
    directory would be like."""
    return filename.isdigit() and int(filename) >= 4913 and (int(filename) - 4913) % 123 == 0


class ScratchFile:
    __slots__ = ("path", "data", "mtime", "inos")

    def __init__(self, path: Path, mtime: int) -> None:
        self.path = path
        self.data = bytearray()
        self.mtime = mtime
        self.inos: set[int] = set()  # the inode numbers the kernel was given for it


class Scratch:
    """The scratch files of a mount, by path (they last whatever the kernel forgets) and by
    the inode numbers given for them."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.paths: dict[Path, ScratchFile] = {}
        self.files: dict[int, ScratchFile] = {}
        self.limit = limit
        self._size = 0

    def __contains__(self, ino: int) -> bool:
        return ino in self.files

    def make(self, path: Path, mtime: int) -> ScratchFile:
        file = self.paths[path] = ScratchFile(path, mtime)
        return file

    def link(self, file: ScratchFile, ino: int) -> None:
        """Note an inode number given to the kernel for `file`."""
        self.files[ino] = file
        file.inos.add(ino)

    def forget(self, ino: int) -> None:
        """The kernel forgot the inode number `ino` (the file lives on)."""
        file = self.files.pop(ino, None)
        if file is not None:
            file.inos.discard(ino)

    def remove(self, file: ScratchFile) -> None:
        if self.paths.get(file.path) is file:
            del self.paths[file.path]
            self._size -= len(file.data)
        for ino in file.inos:
            del self.files[ino]
        file.inos.clear()

    def move(self, file: ScratchFile, path: Path) -> None:
        """Rename a scratch file (onto another's name: that one is gone)."""
        replaced = self.paths.get(path)
        if replaced is not None and replaced is not file:
            self.remove(replaced)
        del self.paths[file.path]
        file.path = path
        self.paths[path] = file

    def moved(self, old: Path, new: Path) -> None:
        """A directory was renamed: the files below it follow."""
        for file in [f for p, f in self.paths.items() if p[: len(old)] == old]:
            del self.paths[file.path]
            file.path = (*new, *file.path[len(old) :])
            self.paths[file.path] = file

    def remove_below(self, path: Path) -> None:
        """A directory was removed: the files below it go."""
        for file in [f for p, f in self.paths.items() if p[: len(path)] == path]:
            self.remove(file)

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
