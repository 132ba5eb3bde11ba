"""The pyfuse3 request handlers: handles, error mapping, kernel cache coherence.

- What inode stands for what place, and for how long, is the inode table's (inodes.py); what
  a place shows is the tree's and its views' (tree.py, views/).
- A file handle opened for writing collects what is written (see `fields.py`); a complete
  valid value is committed in the `write()` that completes it, an invalid one fails that
  `write()` with EINVAL, a value still incomplete is judged at fsync or release (there is no
  flush). O_TRUNC is ignored: nothing is truncated before a value is accepted.
- Editors' side files (vim's swap and backup, `sed -i`'s and Python's temporary files) are
  scratch files in memory (scratch.py), never labels; one renamed over a field or a label
  stores its contents as that value.
- A listing resumes from the last name it returned (one seek per readdir request).
- Every handler maps `MetafsError.errno` to `FUSEError`; anything unexpected is logged with its
  traceback and answered with EIO, so no request can end the mount.
- On a store behind round trips (etcd), the handlers run through `offload.py`: one that waits
  for the store lets the others run; what they share they change only between two waits.
- Memory: the node sweep (a trio task) asks the kernel to forget the object directories the
  inode table picks, and drops listings no one has read for a while.
- Coherence: entries and attributes are cached by the kernel for `timeout` seconds (below one
  second, so another process's change shows within it); changes made through the mount
  invalidate the touched files at once, from a thread, since notifying the kernel may block;
  until that is done, a file is opened past the page cache (a label set by `setfattr` is read
  right after it).
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import stat
import sys
import threading
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyfuse3
import trio

from .. import buckets as B
from ..codec import now_ns
from ..errors import InvalidArgument, MetafsError
from . import fields, names
from .inodes import MAX_NODES, ROOT, Inodes
from .offload import Offload
from .scratch import Scratch, ScratchFile, is_side_file, is_vim_probe
from .tree import Tree
from .view import GROUP, LABELS, OBJECT, SUBDIR, TOP, Path, Stat

log = logging.getLogger("metafs.mount")

assert ROOT == pyfuse3.ROOT_INODE
LISTING_TTL = 5.0  # seconds a listing of images/ or containers/ is kept after its last use
XATTR_PREFIX = b"user."
BLOCK = 4096  # statfs's unit
OBJECT_NLINK = 3  # an object's directory: itself, its entry, labels/
SCRATCH_KINDS = (OBJECT, SUBDIR)  # directories where side files are scratch files
XATTR_KINDS = (OBJECT, GROUP)  # directories whose labels are extended attributes
XATTR_NAME_MAX = 255  # the kernel's limit on an attribute's name, prefix included


def handler(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a synchronous handler as pyfuse3 expects, turning every error into a FUSEError: on
    the loop's thread, or through the mount's `Offload` if it has one (offload.py)."""

    def call(self: Operations, *args: Any) -> Any:
        try:
            return fn(self, *args)
        except pyfuse3.FUSEError:
            raise
        except MetafsError as exc:
            if exc.errno == errno.EIO:  # a corrupt store, say: nothing a caller did
                log.exception("%s%r failed", fn.__name__, args[:2])
            else:
                log.debug("%s: %s", fn.__name__, exc)
            raise pyfuse3.FUSEError(exc.errno) from None
        except Exception:
            log.exception("unexpected error in %s%r", fn.__name__, args[:2])
            raise pyfuse3.FUSEError(errno.EIO) from None

    async def run(self: Operations, *args: Any) -> Any:
        offload = self.offload
        if offload is None:
            return call(self, *args)
        return await offload.run(call, self, *args)

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


@dataclass
class FileHandle:
    ino: int
    field: fields.Field | None  # None: opened read-only
    data: bytes | None = None  # what reads return, read at the first read
    buffer: bytes = b""
    dirty: bool = False  # the buffer holds data not yet committed or refused
    committed: str | None = None
    refused: int = 0  # the errno of a refused value, which every later write gets too
    scratch: ScratchFile | None = None  # an editor's side file, read and written as it is


@dataclass
class DirHandle:
    ino: int
    path: Path
    offset: int = 0  # of the last entry returned
    last: str | None = None  # its name


class Notifier:
    """Tells the kernel to drop cached attributes, pages and entries, from its own thread.

    Until the kernel has dropped what it holds of an inode, the inode is in `stale` (with the
    number of invalidations of it still queued): a change through the mount marks it before
    its request is answered, so that `open` can keep the kernel's stale pages out of a read
    that comes before the notification (a label set by `setfattr` on its object directory,
    whose file the kernel cannot know changed)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[int, bytes | None] | None] = queue.SimpleQueue()
        self.stale: dict[int, int] = {}
        self._lock = threading.Lock()  # `stale` is counted by both threads
        self._thread = threading.Thread(target=self._run, name="metafs-notify", daemon=True)
        self._thread.start()

    def inode(self, ino: int) -> None:
        with self._lock:
            self.stale[ino] = self.stale.get(ino, 0) + 1
        self._queue.put((ino, None))

    def entry(self, parent: int, filename: bytes) -> None:
        self._queue.put((parent, filename))

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            ino, filename = item
            try:
                if filename is None:
                    pyfuse3.invalidate_inode(ino)
                else:
                    pyfuse3.invalidate_entry(ino, filename)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.EBADF, errno.ENOTCONN):
                    log.warning("invalidating %s %r: %s", ino, filename, exc)
            if filename is None:
                with self._lock:
                    if self.stale[ino] > 1:
                        self.stale[ino] -= 1
                    else:
                        del self.stale[ino]


class Operations(pyfuse3.Operations):
    enable_writeback_cache = False  # write errors must reach the writer

    def __init__(
        self,
        tree: Tree,
        *,
        timeout: float = 0.9,
        max_nodes: int = MAX_NODES,
        offload: Offload | None = None,
    ) -> None:
        super().__init__()
        self.tree = tree
        self.offload = offload  # None: every handler runs on the loop's thread
        self.timeout = timeout
        self.uid, self.gid = os.getuid(), os.getgid()
        self.notifier: Notifier | None = None
        self._stale: dict[int, int] = {}  # the notifier's: inodes the kernel may hold stale
        views = tree.views
        self.inodes = Inodes(
            {top: view.fixed for top, view in views.items() if view.depth == 2},
            [top for top, view in views.items() if view.listed],
            max_nodes,
        )
        self._path: Callable[[int], Path] = self.inodes.path  # every request's first step
        self.scratch = Scratch()
        self._files: dict[int, FileHandle] = {}
        self._dirs: dict[int, DirHandle] = {}
        self._next_fh = 1

    def init(self) -> None:
        self.notifier = Notifier()
        self._stale = self.notifier.stale

    def shutdown(self) -> None:
        if self.notifier is not None:
            self.notifier.stop()

    # ---- inodes ---------------------------------------------------------------------------

    async def sweep(self, interval: float = 0.5) -> None:
        """Keep the node table near `max_nodes` by letting the kernel forget old subtrees, and
        drop listings no one has read for a while."""
        while True:
            await trio.sleep(interval)
            try:
                self._sweep()
                self.tree.drop_idle_listings(LISTING_TTL)
            except Exception:
                log.exception("sweep")

    def _sweep(self) -> None:
        if self.notifier is None:
            return
        for parent, name in self.inodes.sweep():
            self.notifier.entry(parent, self._filename(self._path(parent), name))

    def _entry(self, parent: int, name: str, st: Stat) -> pyfuse3.EntryAttributes:
        return self._attrs(self.inodes.entry(parent, name), st)

    def _attrs(self, ino: int, st: Stat, timeout: float | None = None) -> pyfuse3.EntryAttributes:
        attrs = pyfuse3.EntryAttributes()
        attrs.st_ino = ino
        attrs.entry_timeout = self.timeout
        attrs.attr_timeout = self.timeout if timeout is None else timeout
        if st.is_dir:
            attrs.st_mode = stat.S_IFDIR | (0o755 if st.writable else 0o555)
            attrs.st_nlink = st.nlink or 2
        else:
            attrs.st_mode = stat.S_IFREG | (0o644 if st.writable else 0o444)
            attrs.st_size = st.size
            attrs.st_blocks = (st.size + 511) // 512
        attrs.st_uid, attrs.st_gid = self.uid, self.gid
        attrs.st_atime_ns = attrs.st_mtime_ns = st.mtime
        attrs.st_ctime_ns = st.ctime or st.mtime
        return attrs

    def _stat(self, ino: int, path: Path) -> Stat:
        if self.scratch.files and ino in self.scratch.files:
            file = self.scratch.files[ino]
            return Stat(False, len(file.data), file.mtime, writable=True)
        st = self.tree.stat(path)
        if st is None:
            if ino in self.inodes.pending:
                return Stat(False, 0, now_ns(), writable=True)
            raise pyfuse3.FUSEError(errno.ENOENT)
        return st

    # ---- names ----------------------------------------------------------------------------

    def _name(self, parent: Path, filename: bytes, *, creating: bool = False) -> str:
        """The stored name a file name in `parent` stands for."""
        if not self.tree.escaped(parent):
            return sys.intern(B.dec(filename))  # a fixed name: one string for every node
        try:
            raw = names.decode(filename)
        except ValueError as exc:
            if creating:
                raise InvalidArgument(str(exc)) from None
            raise pyfuse3.FUSEError(errno.ENOENT) from None
        if isinstance(raw, names.LongName):
            if creating:
                raise InvalidArgument("names ending in %~<hash> stand for long names")
            name = self.tree.resolve(parent, raw)
            if name is None:
                raise pyfuse3.FUSEError(errno.ENOENT)
            return name
        return B.dec(raw)

    def _filename(self, parent: Path, name: str) -> bytes:
        return names.encode(B.enc(name)) if self.tree.escaped(parent) else B.enc(name)

    # ---- lookups and attributes -----------------------------------------------------------

    @handler
    def lookup(self, parent: int, filename: bytes, ctx: Any = None) -> pyfuse3.EntryAttributes:
        fixed = self.inodes.fixed_lookup(parent, filename)
        if fixed is not None:
            # a field of an image or a container, the lookup asked for most: what _entry
            # would do for it, without its steps for names that are nodes
            st = self.tree.stat(fixed[1])
            if st is None:
                raise pyfuse3.FUSEError(errno.ENOENT)
            return self._attrs(fixed[0], st)
        parent_path = self._path(parent)
        if filename in (b".", b".."):
            ino = parent if filename == b"." else (self.inodes.parent(parent) or ROOT)
            self.inodes.hold(ino)
            return self._attrs(ino, self._stat(ino, self._path(ino)))
        name = self._name(parent_path, filename)
        st = self.tree.stat((*parent_path, name))
        if st is None:
            child = self.inodes.child(parent, name)
            if child in self.inodes.pending:
                st = Stat(False, 0, now_ns(), writable=True)
            elif self.scratch.paths and (*parent_path, name) in self.scratch.paths:
                ino = self.inodes.entry(parent, name)
                self.scratch.link(self.scratch.paths[(*parent_path, name)], ino)
                return self._attrs(ino, self._stat(ino, ()))
            else:
                raise pyfuse3.FUSEError(errno.ENOENT)
        return self._entry(parent, name, st)

    async def forget(self, inode_list: list[tuple[int, int]]) -> None:  # type: ignore[override]
        try:
            for ino, count in inode_list:
                self.inodes.forget(ino, count)
                if self.scratch.files and ino in self.scratch and self.inodes.node(ino) is None:
                    self.scratch.forget(ino)  # the file lives on, found by its path
        except Exception:  # forget must never raise
            log.exception("forget")

    @handler
    def getattr(self, ino: int, ctx: Any = None) -> pyfuse3.EntryAttributes:
        return self._attrs(ino, self._stat(ino, self._path(ino)))

    @handler
    def setattr(self, ino: int, attr: Any, fields_: Any, fh: Any, ctx: Any) -> Any:
        """Only what changes nothing is accepted: times, the same mode or owner, size 0."""
        if self.scratch.files and ino in self.scratch.files:
            return self._set_scratch(ino, attr, fields_)
        path = self._path(ino)
        st = self._stat(ino, path)
        current = self._attrs(ino, st)
        if fields_.update_mode and stat.S_IMODE(attr.st_mode) != stat.S_IMODE(current.st_mode):
            raise pyfuse3.FUSEError(errno.EPERM)
        if (fields_.update_uid and attr.st_uid != self.uid) or (
            fields_.update_gid and attr.st_gid != self.gid
        ):
            raise pyfuse3.FUSEError(errno.EPERM)
        if fields_.update_size:
            if st.is_dir:
                raise pyfuse3.FUSEError(errno.EISDIR)
            if ino not in self.inodes.pending:
                self.tree.writable_field(path)
            if attr.st_size != 0:
                raise InvalidArgument("a value is changed by writing it, not by truncating")
        return current

    # ---- files ----------------------------------------------------------------------------

    @handler
    def open(self, ino: int, flags: int, ctx: Any = None) -> pyfuse3.FileInfo:
        if self.scratch.files and ino in self.scratch.files:
            return self._open_scratch(ino, flags)
        path = self._path(ino)
        if self.tree.is_dir(path):
            raise pyfuse3.FUSEError(errno.EISDIR)
        if (flags & os.O_ACCMODE) == os.O_RDONLY:  # a vanished file fails at read
            # a file whose invalidation is still queued is read past the kernel's stale pages
            # and size (direct I/O), and its pages are dropped now (no keep_cache)
            fresh = not (self._stale and ino in self._stale)
            return self._open(ino, None, cache=fresh and self.tree.view(path).page_cache)
        if self.tree.stat(path) is None and ino not in self.inodes.pending:
            # The kernel holds an entry for a name that is gone (a label whose first value
            # was refused, one removed by another process): ESTALE makes it look the name up
            # again and retry the open, which then creates it (O_CREAT) or fails with ENOENT.
            raise pyfuse3.FUSEError(errno.ESTALE)
        return self._open(ino, self._writable_field(ino, path))

    def _writable_field(self, ino: int, path: Path) -> fields.Field:
        if ino in self.inodes.pending:
            return fields.Field("label", "label", label_key=path[-1])
        return self.tree.writable_field(path)

    def _open(self, ino: int, field: fields.Field | None, cache: bool = True) -> pyfuse3.FileInfo:
        fh = self._next_fh
        self._next_fh += 1
        self._files[fh] = FileHandle(ino, field)
        # Reads of a read-only handle are served from the page cache while it is valid (if its
        # view allows it); a handle that writes goes straight to the handlers.
        cache = cache and field is None
        return pyfuse3.FileInfo(fh=fh, direct_io=not cache, keep_cache=cache)

    @handler
    def create(self, parent: int, filename: bytes, mode: int, flags: int, ctx: Any) -> Any:
        """A new file in a labels directory is a new label, stored when a value is written; an
        editor's side file there or beside fields is a scratch file."""
        parent_path = self._path(parent)
        self.tree.check_writable()
        kind = self.tree.kind(parent_path)
        side = is_side_file(filename, beside_fields=kind == OBJECT) or is_vim_probe(filename)
        if kind in SCRATCH_KINDS and side:
            scratch = self._create_scratch(parent, parent_path, filename, flags)
            if scratch is not None:
                return scratch
        if kind != SUBDIR or not self.tree.creatable(parent_path):
            raise pyfuse3.FUSEError(errno.EPERM)
        key = self._name(parent_path, filename, creating=True)
        path = (*parent_path, key)
        st = self.tree.stat(path)
        if st is None and self.tree.stat(parent_path) is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        ino, _ = self.inodes.node_for(parent, key)
        if st is not None:
            if flags & os.O_EXCL:
                raise pyfuse3.FUSEError(errno.EEXIST)
        else:
            self.inodes.pending.add(ino)
            st = Stat(False, 0, now_ns(), writable=True)
        field = self._writable_field(ino, path)
        info = self._open(ino, field)
        self.inodes.hold(ino)
        return info, self._attrs(ino, st)

    # ---- scratch files (editors' side files, scratch.py) -----------------------------------

    def _create_scratch(
        self, parent: int, parent_path: Path, filename: bytes, flags: int
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes] | None:
        """Create (or open) the side file `filename`; None if a stored label has that name."""
        directory = self.tree.stat(parent_path)
        if directory is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        if not directory.writable:
            raise pyfuse3.FUSEError(errno.EPERM)
        if is_vim_probe(filename) and not is_side_file(filename):
            if flags & os.O_EXCL:  # vim then writes files in place: see scratch.py
                raise pyfuse3.FUSEError(errno.EPERM)
            return None
        name = self._name(parent_path, filename, creating=True)
        path = (*parent_path, name)
        if self.tree.stat(path) is not None:
            return None
        file = self.scratch.paths.get(path)
        if file is None:
            file = self.scratch.make(path, now_ns())
        elif flags & os.O_EXCL:
            raise pyfuse3.FUSEError(errno.EEXIST)
        ino, _ = self.inodes.node_for(parent, name)
        self.scratch.link(file, ino)
        info = self._open_scratch(ino, flags)
        self.inodes.hold(ino)
        return info, self._attrs(ino, self._stat(ino, ()))

    def _open_scratch(self, ino: int, flags: int) -> pyfuse3.FileInfo:
        file = self.scratch.files[ino]
        if flags & os.O_TRUNC and (flags & os.O_ACCMODE) != os.O_RDONLY:
            self.scratch.truncate(file, 0, now_ns())
        fh = self._next_fh
        self._next_fh += 1
        self._files[fh] = FileHandle(ino, None, scratch=file)
        return pyfuse3.FileInfo(fh=fh, direct_io=True)

    def _set_scratch(self, ino: int, attr: Any, fields_: Any) -> pyfuse3.EntryAttributes:
        """A scratch file takes a new size and times; modes and owners are accepted as they
        come and not kept (editors copy the original's onto their side files)."""
        file = self.scratch.files[ino]
        if fields_.update_size:
            self.scratch.truncate(file, attr.st_size, now_ns())
        if fields_.update_mtime:
            file.mtime = attr.st_mtime_ns
        return self._attrs(ino, self._stat(ino, ()))

    def _rename_scratch(
        self, file: ScratchFile, target: Path, filename: bytes, replace: bool
    ) -> bool:
        """Rename a scratch file to `target` in its directory: onto another side file's name
        it stays a scratch file (False); onto a field or a label, its contents are stored as
        that value, checked as a write is (True; EINVAL for a bad value)."""
        existing = self.tree.stat(target)
        if existing is not None and not replace:
            raise pyfuse3.FUSEError(errno.EEXIST)
        beside_fields = self.tree.kind(target[:-1]) == OBJECT
        if existing is None and is_side_file(filename, beside_fields):
            if target in self.scratch.paths and not replace:
                raise pyfuse3.FUSEError(errno.EEXIST)
            self.scratch.move(file, target)
            return False
        field = self.tree.writable_field(target)
        value = fields.parse(field, bytes(file.data), True)
        assert value is not None  # final: complete or refused
        self.tree.commit(target, value)
        return True

    @handler
    def read(self, fh: int, off: int, size: int) -> bytes:
        handle = self._files[fh]
        if handle.scratch is not None:
            return bytes(handle.scratch.data[off : off + size])
        if handle.data is None or handle.field is not None:
            path = self._path(handle.ino)
            handle.data = b"" if handle.ino in self.inodes.pending else self.tree.read(path)
        return handle.data[off : off + size]

    @handler
    def write(self, fh: int, off: int, buf: bytes) -> int:
        handle = self._files[fh]
        if handle.scratch is not None:
            self.scratch.write(handle.scratch, off, buf, now_ns())
            return len(buf)
        if handle.field is None:
            raise pyfuse3.FUSEError(errno.EBADF)
        if handle.refused:
            # A failed write leaves the file offset where it was, so the rest of a refused
            # value (printf's next piece, say) comes at the same offset as a new value would:
            # nothing more is taken through this handle. Open the file again to write anew.
            raise pyfuse3.FUSEError(handle.refused)
        handle.buffer += buf
        self._settle(handle, final=False)
        return len(buf)

    @handler
    def fsync(self, fh: int, datasync: bool) -> None:
        self._settle(self._files[fh], final=True)

    # No flush: pyfuse3 answers it with ENOSYS, after which the kernel sends none, and every
    # close() is one round trip shorter (a fifth of what `grep -r` costs). A value is checked
    # and stored by the write() that completes it; what is still incomplete when the last
    # descriptor closes is judged here, just after close() has returned.

    @handler
    def release(self, fh: int) -> None:
        handle = self._files.pop(fh)
        try:
            self._settle(handle, final=True)
        except MetafsError as exc:
            try:
                path = "/".join(self._path(handle.ino))
            except (pyfuse3.FUSEError, MetafsError):
                path = f"inode {handle.ino}"
            log.warning("%s: a value left incomplete at close was not stored: %s", path, exc)
        finally:
            if handle.ino in self.inodes.pending and not any(
                h.ino == handle.ino for h in self._files.values()
            ):
                # a label created by this file and never given a value: the kernel's entry
                # for it goes too, so that the kernel and the store agree again
                self.inodes.pending.discard(handle.ino)
                self._gone(handle.ino)

    def _settle(self, handle: FileHandle, *, final: bool) -> None:
        """Commit the buffer if it holds a complete value; refuse it if it never can."""
        if handle.field is None or (final and not handle.dirty):
            return
        try:
            value = fields.parse(handle.field, handle.buffer, final)
        except MetafsError as exc:
            handle.buffer, handle.dirty, handle.refused = b"", False, exc.errno
            raise
        if value is None:
            handle.dirty = True
            return
        handle.dirty = False
        if value == handle.committed:
            return
        path = self._path(handle.ino)
        try:
            self.tree.commit(path, value)
        except MetafsError as exc:
            handle.buffer, handle.refused = b"", exc.errno
            raise
        handle.committed = value
        self.inodes.pending.discard(handle.ino)
        self._changed(handle.ino, removed=value == "" and handle.field.kind == "label")

    def _gone(self, ino: int) -> None:
        """Ask the kernel to drop its entry for the name of `ino`, which does not exist."""
        node = self.inodes.node(ino)
        if self.notifier is not None and node is not None:
            self.notifier.entry(node.parent, self._filename(self._path(node.parent), node.name))

    def _changed(self, ino: int, *, removed: bool = False) -> None:
        """After a change through the mount: drop what the kernel caches of the touched file,
        and of the files of its object that the view says the change makes stale."""
        if self.notifier is None:
            return
        if removed:
            self._gone(ino)
        self.notifier.inode(ino)
        path = self._path(ino)
        view = self.tree.view(path)
        obj = ino
        for _ in range(len(path) - view.depth):
            obj = self.inodes.parent(obj)
        for name in view.invalidates:
            sibling = self.inodes.fixed(obj, name)
            if sibling is not None:
                self.notifier.inode(sibling)
        self.notifier.inode(obj)

    # ---- directories ----------------------------------------------------------------------

    @handler
    def opendir(self, ino: int, ctx: Any = None) -> int:
        path = self._path(ino)
        if not self._stat(ino, path).is_dir:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        fh = self._next_fh
        self._next_fh += 1
        self._dirs[fh] = DirHandle(ino, path)
        return fh

    @handler
    def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        handle = self._dirs[fh]
        if self.tree.kind(handle.path) == TOP and self.tree.views[handle.path[0]].listed:
            self._readdir_collection(handle, start_id, token)
            return
        if start_id == handle.offset:
            offset, after = handle.offset, handle.last
        else:  # seekdir() elsewhere, or a rewind: count from the start
            offset, after = 0, None
        unknown_dir = Stat(True, nlink=1)
        for name, st in self.tree.entries(handle.path, after):
            offset += 1
            if offset <= start_id:
                continue
            ino, made = self.inodes.node_for(handle.ino, name)
            # a resource directory (st None) has its attributes read when they are asked for
            attrs = self._attrs(ino, unknown_dir, 0) if st is None else self._attrs(ino, st)
            if not pyfuse3.readdir_reply(token, self._filename(handle.path, name), attrs, offset):
                if made:
                    self.inodes.drop(ino)
                return
            self.inodes.hold(ino)
            handle.offset, handle.last = offset, name

    def _readdir_collection(
        self, handle: DirHandle, start_id: int, token: pyfuse3.ReaddirToken
    ) -> None:
        """images/ or containers/: entry i of the listing has offset i + 1; a listing goes on
        after the last name returned, even if the store changed meanwhile. An entry that is not
        a node is given as a listed entry (listing.py), and a name the kernel holds keeps its
        number from one listing to the next."""
        top = handle.path[:1]
        before = self.tree.stat(top)
        listed = self.tree.listing(handle.path[0])
        after = self.tree.stat(top)
        assert before is not None and after is not None
        if after.mtime != before.mtime and self.notifier is not None:
            self.notifier.inode(handle.ino)  # names came or went: the mtime the kernel holds
        start = start_id
        if start_id == handle.offset and handle.last is not None:
            start = bisect_right(listed, B.enc(handle.last), key=B.enc)
        # An object directory has its attributes read when they are asked for (timeout 0), so
        # all are listed with the same attributes but the inode number.
        attrs = self._attrs(0, Stat(True, writable=after.writable, nlink=OBJECT_NLINK), 0)
        entries = self.inodes.listed_entries(handle.ino, listed, start)
        for i, ino in enumerate(entries, start):
            name = listed[i]
            attrs.st_ino = ino
            filename = names.encode(name.encode("utf-8", "surrogateescape"))  # a stored name
            if not pyfuse3.readdir_reply(token, filename, attrs, i + 1):
                return  # the entry is not held: the iteration stops here
            handle.offset, handle.last = i + 1, name

    @handler
    def releasedir(self, fh: int) -> None:
        self._dirs.pop(fh, None)

    @handler
    def fsyncdir(self, fh: int, datasync: bool) -> None:
        return None

    @handler
    def mkdir(self, parent: int, filename: bytes, mode: int, ctx: Any) -> Any:
        parent_path = self._path(parent)
        name = self._name(parent_path, filename, creating=True)
        path = (*parent_path, name)
        self.tree.mkdir(path)
        self.inodes.unlink(parent, name)  # a fresh inode for the new object
        return self._entry(parent, name, self._stat(0, path))

    @handler
    def rmdir(self, parent: int, filename: bytes, ctx: Any) -> None:
        parent_path = self._path(parent)
        name = self._name(parent_path, filename)
        self.tree.rmdir((*parent_path, name))
        if self.scratch.paths:
            self.scratch.remove_below((*parent_path, name))
        self.inodes.unlink(parent, name)

    @handler
    def unlink(self, parent: int, filename: bytes, ctx: Any) -> None:
        parent_path = self._path(parent)
        name = self._name(parent_path, filename)
        ino = self.inodes.child(parent, name)
        file = self.scratch.paths.get((*parent_path, name)) if self.scratch.paths else None
        if file is not None:
            self.scratch.remove(file)
        elif ino in self.inodes.pending and self.tree.stat((*parent_path, name)) is None:
            self.inodes.pending.discard(ino)
        else:
            self.tree.unlink((*parent_path, name))
        self.inodes.unlink(parent, name)

    @handler
    def rename(
        self, parent_old: int, old: bytes, parent_new: int, new: bytes, flags: int, ctx: Any
    ) -> None:
        if flags & pyfuse3.RENAME_EXCHANGE:
            raise pyfuse3.FUSEError(errno.EINVAL)
        old_parent, new_parent = self._path(parent_old), self._path(parent_new)
        old_name = self._name(old_parent, old)
        new_name = self._name(new_parent, new, creating=True)
        replace = not flags & pyfuse3.RENAME_NOREPLACE
        source, target = (*old_parent, old_name), (*new_parent, new_name)
        scratch = self.scratch.paths.get(source) if self.scratch.paths else None
        stored = True  # the rename changed the store
        if scratch is not None:
            if parent_new != parent_old:
                raise pyfuse3.FUSEError(errno.EXDEV)  # mv copies instead
            stored = self._rename_scratch(scratch, target, new, replace)
        else:
            self.tree.rename(source, target, replace=replace)
            if self.scratch.paths:
                replaced = self.scratch.paths.get(target)  # a label renamed onto a side file
                if replaced is not None:
                    self.scratch.remove(replaced)
                self.scratch.moved(source, target)  # an image renamed: the files in it
        ino = self.inodes.unlink(parent_old, old_name)
        self.inodes.unlink(parent_new, new_name)
        if ino is not None:
            self.inodes.move(ino, parent_new, new_name)
            if stored:
                self._changed(ino)
        if scratch is not None and stored:
            self.scratch.remove(scratch)  # its contents are the value now
            if self.notifier is not None:
                # a field's number is its directory's (inodes.py): the kernel looks it up again
                self.notifier.entry(parent_new, new)

    @handler
    def link(self, ino: int, parent: int, filename: bytes, ctx: Any) -> Any:
        raise pyfuse3.FUSEError(errno.EPERM)

    @handler
    def symlink(self, parent: int, filename: bytes, target: bytes, ctx: Any) -> Any:
        raise pyfuse3.FUSEError(errno.EPERM)

    @handler
    def mknod(self, parent: int, filename: bytes, mode: int, rdev: int, ctx: Any) -> Any:
        raise pyfuse3.FUSEError(errno.EPERM)

    @handler
    def access(self, ino: int, mode: int, ctx: Any = None) -> bool:
        """access(2) by the owner's mode bits shown: only the mounting user reaches the mount,
        and a read-only field is not writable even for root (as in sysfs)."""
        shown = self._attrs(ino, self._stat(ino, self._path(ino))).st_mode >> 6
        return mode & shown & 0o7 == mode

    @handler
    def statfs(self, ctx: Any) -> pyfuse3.StatvfsData:
        """`df`: the store's size as used, the space it may still grow by as free."""
        used, free = self.tree.context.store.space()
        data = pyfuse3.StatvfsData()
        data.f_bsize = data.f_frsize = BLOCK
        data.f_blocks = (used + free) // BLOCK
        data.f_bfree = data.f_bavail = free // BLOCK
        data.f_namemax = names.NAME_MAX
        return data

    # ---- labels as extended attributes of object directories ------------------------------

    def _xattr_target(self, ino: int, name: bytes) -> tuple[Path, str] | None:
        path = self._path(ino)
        if self.tree.kind(path) not in XATTR_KINDS or not name.startswith(XATTR_PREFIX):
            return None
        return path, B.dec(name[len(XATTR_PREFIX) :])

    @handler
    def getxattr(self, ino: int, name: bytes, ctx: Any = None) -> bytes:
        target = self._xattr_target(ino, name)
        if target is None:
            raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
        value = self.tree.labels(target[0]).get(target[1])
        if value is None:
            raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
        return B.enc(value)

    @handler
    def listxattr(self, ino: int, ctx: Any = None) -> list[bytes]:
        path = self._path(ino)
        if self.tree.kind(path) not in XATTR_KINDS:
            return []
        # Only names getxattr can be asked for: a key holding NUL or longer than an attribute
        # name may be (255 bytes with `user.`) is a file in labels/ only.
        listed = []
        for key in self.tree.labels(path):
            name = XATTR_PREFIX + B.enc(key)
            if len(name) <= XATTR_NAME_MAX and 0 not in name:
                listed.append(name)
        return listed

    @handler
    def setxattr(self, ino: int, name: bytes, value: bytes, ctx: Any = None) -> None:
        target = self._xattr_target(ino, name)
        if target is None:
            raise pyfuse3.FUSEError(errno.ENOTSUP)
        self.tree.set_label(target[0], target[1], B.dec(value))
        self._label_changed(ino, target[1])

    @handler
    def removexattr(self, ino: int, name: bytes, ctx: Any = None) -> None:
        target = self._xattr_target(ino, name)
        if target is None:
            raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
        if target[1] not in self.tree.labels(target[0]):
            raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
        self.tree.remove_label(target[0], target[1])
        self._label_changed(ino, target[1])

    def _label_changed(self, obj: int, key: str) -> None:
        """A label set or removed as an extended attribute of `obj`: the kernel does not know
        that the label's file changed, so its attributes and pages are dropped too."""
        if self.notifier is None:
            return
        self.notifier.inode(obj)
        labels = self.inodes.fixed(obj, LABELS)
        if labels is None:
            return
        self.notifier.inode(labels)
        label = self.inodes.child(labels, key)
        if label is not None:
            self.notifier.inode(label)
        filename = self._filename((*self._path(obj), LABELS), key)
        self.notifier.entry(labels, filename)
