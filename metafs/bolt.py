"""A read-only reader of bbolt files (the on-disk format of bbolt v1.3.x, which containerd uses).

    with BoltFile("/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db") as db:
        for key, value in db.root().items():   # value None: a nested bucket
            ...

The file is memory-mapped read-only and never written. Everything read is checked: the meta
pages (magic, version, FNV-1a checksum), page ids against the file's high-water mark, page
types, element offsets against their page, key order, and cycles or pages shared between
buckets. Whatever is wrong raises `BoltFormatError`, one line naming the file and the fault.

Reading a file that containerd holds open: bolt writes every changed page copy-on-write into
free pages and writes a meta page last, so a reader that picks the newest valid meta sees the
last committed state; a torn meta write fails its checksum and the other meta is used. bolt does
not know about this reader, though: pages freed by commits made after we opened may be reused by
later commits, so a long read of a busy file can meet rewritten pages (normally caught as a
format error). For a guaranteed snapshot, read a copy taken while containerd is stopped. The
file must not shrink while it is mapped (bolt only grows it).

Layout (little-endian, as bolt writes on every supported platform):
  page header (16 bytes)  id u64, flags u16, count u16, overflow u32
  meta (after the header) magic u32, version u32, page size u32, flags u32, root bucket
                          (root page u64, sequence u64), freelist page u64, high-water mark u64,
                          txid u64, checksum u64 = FNV-1a 64 of the 56 bytes before it
  branch element (16)     pos u32, key size u32, child page u64   (pos relative to the element)
  leaf element (16)       flags u32 (0x01 = nested bucket), pos u32, key size u32, value size u32
  bucket value            root page u64, sequence u64; root 0 = inline: a leaf page follows
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from .errors import InvalidArgument, NotFound

__all__ = ["BoltFile", "BoltFormatError", "BoltStats", "Bucket", "Meta"]

MAGIC = 0xED0CDAED
VERSION = 2
BRANCH_PAGE = 0x01
LEAF_PAGE = 0x02
META_PAGE = 0x04
FREELIST_PAGE = 0x10
BUCKET_LEAF_FLAG = 0x01
NO_FREELIST = 0xFFFFFFFFFFFFFFFF

CACHED_PAGES = 256  # a lookup after a listing re-reads the same few pages

MIN_PAGE_SIZE = 1024
MAX_PAGE_SIZE = 1 << 24  # bbolt itself looks for the second meta page up to 16 MiB

_PAGE_HEADER = struct.Struct("<QHHI")
_META = struct.Struct("<IIIIQQQQQQ")
_BRANCH_ELEMENT = struct.Struct("<IIQ")
_LEAF_ELEMENT = struct.Struct("<IIII")
_BUCKET_HEADER = struct.Struct("<QQ")
HEADER_SIZE = _PAGE_HEADER.size
ELEMENT_SIZE = 16
_CHECKSUMMED = _META.size - 8

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_U64 = 0xFFFFFFFFFFFFFFFF


class BoltFormatError(InvalidArgument):
    """The file is not a bbolt database, or is truncated or corrupt."""


def fnv1a64(data: bytes) -> int:
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & _U64
    return h


@dataclass(frozen=True)
class Meta:
    """One decoded meta page."""

    index: int  # 0 or 1: which meta page
    page_size: int
    flags: int
    root: int  # page id of the root bucket
    sequence: int
    freelist: int
    high_water: int  # pages in use: every valid page id is below it
    txid: int
    checksum: int


@dataclass
class BoltStats:
    """What a full walk found."""

    buckets: int = 0
    keys: int = 0
    bytes: int = 0  # key and value bytes of plain keys, plus bucket names


def _parse_meta(buf: bytes, index: int) -> tuple[Meta | None, str]:
    """Decode and check a meta page; return (meta, "") or (None, why it is invalid)."""
    if len(buf) < HEADER_SIZE + _META.size:
        return None, "cut short"
    fields = _META.unpack_from(buf, HEADER_SIZE)
    magic, version, page_size, flags, root, sequence, freelist, high_water, txid, checksum = fields
    if magic != MAGIC:
        return None, f"bad magic 0x{magic:08x}"
    if version != VERSION:
        return None, f"unsupported version {version}"
    if checksum != fnv1a64(buf[HEADER_SIZE : HEADER_SIZE + _CHECKSUMMED]):
        return None, "checksum mismatch"
    if not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE:
        return None, f"page size {page_size} out of range"
    if not 2 <= root < high_water:
        return None, f"root page {root} outside 2..{high_water - 1}"
    if freelist != NO_FREELIST and not 2 <= freelist < high_water:
        return None, f"freelist page {freelist} outside 2..{high_water - 1}"
    meta = Meta(index, page_size, flags, root, sequence, freelist, high_water, txid, checksum)
    return meta, ""


def _quote(name: bytes) -> str:
    return repr(name)[1:]


def _describe_path(path: tuple[bytes, ...]) -> str:
    return "root bucket" if not path else "bucket " + "/".join(_quote(p) for p in path)


class _Page:
    """A branch or leaf page, its elements read and checked: a window [start, end) of a
    buffer (the map, or an inline bucket's value)."""

    __slots__ = ("buf", "start", "end", "flags", "pgid", "path", "branch", "leaf")

    def __init__(
        self,
        buf: bytes | mmap.mmap,
        start: int,
        end: int,
        flags: int,
        pgid: int,
        path: tuple[bytes, ...],
    ) -> None:
        self.buf = buf
        self.start = start
        self.end = end
        self.flags = flags
        self.pgid = pgid  # 0 for an inline page
        self.path = path
        self.branch: list[tuple[bytes, int]] = []  # (first key, child page id)
        self.leaf: list[tuple[int, bytes, int, int]] = []  # (flags, key, value start, end)

    @property
    def where(self) -> str:
        if self.pgid:
            return f"page {self.pgid} of the {_describe_path(self.path)}"
        return f"inline page of the {_describe_path(self.path)}"


class BoltFile:
    """An open bbolt file; use as a context manager, or call `close()`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._map: mmap.mmap | None = None
        # page id -> the bucket path that owns it: a page reached from two buckets is corrupt
        self._owner: dict[int, tuple[bytes, ...]] = {}
        self._cache: OrderedDict[int, _Page] = OrderedDict()  # recently read pages, checked
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError as exc:
            raise NotFound(f'bolt file "{self.path}"') from exc
        except OSError as exc:
            raise InvalidArgument(f"bolt file {self.path}: cannot open: {exc.strerror}") from exc
        try:
            self._map = self._map_file(fd)
            self.meta = self._pick_meta()
            needed = self.meta.high_water * self.meta.page_size
            if needed > len(self._map):
                # The writer may have grown the file after we mapped it: map again, once.
                self._map.close()
                self._map = self._map_file(fd)
                self.meta = self._pick_meta()
                needed = self.meta.high_water * self.meta.page_size
            if needed > len(self._map):
                raise self._error(
                    f"truncated: {len(self._map)} bytes, but meta page {self.meta.index} "
                    f"(txid {self.meta.txid}) uses {self.meta.high_water} pages of "
                    f"{self.meta.page_size} bytes ({needed} bytes)"
                )
        except BaseException:
            self.close()
            raise
        finally:
            os.close(fd)

    # -- opening -------------------------------------------------------------------------------

    def _map_file(self, fd: int) -> mmap.mmap:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise self._error("not a regular file")
        size = info.st_size
        if size == 0:
            raise self._error("empty file, not a bolt database")
        if size < 2 * MIN_PAGE_SIZE:
            raise self._error(f"only {size} bytes: not a bolt database, or truncated")
        try:
            return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise self._error(f"cannot map the file: {exc}") from exc

    def _pick_meta(self) -> Meta:
        """Both meta pages, checked; the valid one with the higher txid wins."""
        assert self._map is not None
        data = self._map
        meta0, why0 = _parse_meta(data[: HEADER_SIZE + _META.size], 0)
        meta1: Meta | None = None
        why1 = ""
        if meta0 is not None:
            pos = meta0.page_size
            meta1, why1 = _parse_meta(data[pos : pos + HEADER_SIZE + _META.size], 1)
            if meta1 is not None and meta1.page_size != meta0.page_size:
                why1 = f"page size {meta1.page_size} differs from meta page 0's"
                meta1 = None
        else:
            # The page size is unknown: look for the second meta page where bbolt does.
            found: str | None = None  # why the first page with bolt's magic was refused
            for shift in range(15):
                pos = MIN_PAGE_SIZE << shift
                if pos + HEADER_SIZE + _META.size > len(data):
                    break
                candidate, why = _parse_meta(data[pos : pos + HEADER_SIZE + _META.size], 1)
                if candidate is not None:
                    if candidate.page_size == pos:
                        meta1 = candidate
                        break
                    why = f"page size {candidate.page_size} at offset {pos}"
                if found is None and not why.startswith("bad magic"):
                    found = why
            why1 = found or "bad magic (none found)"
        if meta0 is None and meta1 is None:
            if why0.startswith("bad magic") and why1.startswith("bad magic"):
                raise self._error("not a bolt database (no meta page with bolt's magic number)")
            raise self._error(f"both meta pages are invalid (page 0: {why0}; page 1: {why1})")
        if meta0 is None or (meta1 is not None and meta1.txid > meta0.txid):
            assert meta1 is not None
            return meta1
        return meta0

    def _error(self, what: str) -> BoltFormatError:
        return BoltFormatError(f"bolt file {self.path}: {what}")

    # -- life cycle ----------------------------------------------------------------------------

    def close(self) -> None:
        self._cache.clear()
        if self._map is not None:
            self._map.close()
            self._map = None

    def __enter__(self) -> BoltFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def page_size(self) -> int:
        return self.meta.page_size

    # -- pages ---------------------------------------------------------------------------------

    def root(self) -> Bucket:
        return self._open_bucket((), self.meta.root, None)

    def _open_bucket(self, path: tuple[bytes, ...], root: int, inline: bytes | None) -> Bucket:
        if inline is None:
            self._claim(root, path)
        return Bucket(self, path, root, inline)

    def _claim(self, pgid: int, path: tuple[bytes, ...]) -> None:
        owner = self._owner.setdefault(pgid, path)
        if owner != path:
            raise self._error(
                f"page {pgid} is reached from both the {_describe_path(owner)} and the "
                f"{_describe_path(path)} (a cycle or a corrupt page reference)"
            )

    def _page(self, pgid: int, path: tuple[bytes, ...]) -> _Page:
        """The branch or leaf page `pgid` of the bucket at `path`, checked whole."""
        data = self._map
        if data is None:
            raise InvalidArgument(f"bolt file {self.path}: closed")
        high = self.meta.high_water
        if not 2 <= pgid < high:
            raise self._error(
                f"page {pgid} of the {_describe_path(path)}: page id outside 2..{high - 1} "
                "(past the end of the data)"
            )
        self._claim(pgid, path)
        cached = self._cache.get(pgid)
        if cached is not None:
            self._cache.move_to_end(pgid)
            return cached
        size = self.meta.page_size
        start = pgid * size
        page_id, flags, count, overflow = _PAGE_HEADER.unpack_from(data, start)
        page = _Page(data, start, start + (overflow + 1) * size, flags, pgid, path)
        if page_id != pgid:
            raise self._error(f"{page.where}: the page says it is page {page_id}")
        if flags not in (BRANCH_PAGE, LEAF_PAGE):
            raise self._error(
                f"{page.where}: expected a branch or leaf page, found flags 0x{flags:02x}"
            )
        if pgid + overflow >= high:
            raise self._error(
                f"{page.where}: {overflow} overflow pages run past the end of the data"
            )
        self._read_elements(page, count)
        self._cache[pgid] = page
        if len(self._cache) > CACHED_PAGES:
            self._cache.popitem(last=False)
        return page

    def _inline_page(self, value: bytes, path: tuple[bytes, ...]) -> _Page:
        page = _Page(value, 0, len(value), LEAF_PAGE, 0, path)
        if len(value) < HEADER_SIZE:
            raise self._error(f"{page.where}: {len(value)} bytes, shorter than a page header")
        _pid, flags, count, _overflow = _PAGE_HEADER.unpack_from(value, 0)
        if flags != LEAF_PAGE:
            raise self._error(f"{page.where}: expected a leaf page, found flags 0x{flags:02x}")
        self._read_elements(page, count)
        return page

    def _read_elements(self, page: _Page, count: int) -> None:
        """Read every element of `page`, checking that each lies inside the page and that the
        keys are in order: a whole page is checked before any of it is used."""
        if page.start + HEADER_SIZE + count * ELEMENT_SIZE > page.end:
            raise self._error(f"{page.where}: {count} elements do not fit in the page")
        buf, end = page.buf, page.end
        first = page.start + HEADER_SIZE
        if page.flags == BRANCH_PAGE:
            if count == 0:
                raise self._error(f"{page.where}: empty branch page")
            branch = page.branch
            for i in range(count):
                at = first + i * ELEMENT_SIZE
                pos, ksize, child = _BRANCH_ELEMENT.unpack_from(buf, at)
                if at + pos + ksize > end:
                    raise self._error(f"{page.where}: element {i} points outside the page")
                key = bytes(buf[at + pos : at + pos + ksize])
                if branch and key <= branch[-1][0]:
                    raise self._error(f"{page.where}: element {i}: keys out of order")
                branch.append((key, child))
            return
        leaf = page.leaf
        for i in range(count):
            at = first + i * ELEMENT_SIZE
            flags, pos, ksize, vsize = _LEAF_ELEMENT.unpack_from(buf, at)
            if flags & ~BUCKET_LEAF_FLAG:
                raise self._error(f"{page.where}: element {i} has unknown flags 0x{flags:x}")
            kstart = at + pos
            vstart = kstart + ksize
            vend = vstart + vsize
            if vend > end:
                raise self._error(f"{page.where}: element {i} points outside the page")
            key = bytes(buf[kstart:vstart])
            if leaf and key <= leaf[-1][1]:
                raise self._error(f"{page.where}: element {i}: key {_quote(key)} out of order")
            leaf.append((flags, key, vstart, vend))

    # -- whole-file check ----------------------------------------------------------------------

    def check(self) -> BoltStats:
        """Walk every bucket, key and value; raise `BoltFormatError` at the first fault."""
        stats = BoltStats()
        stack = [self.root()]
        while stack:
            bucket = stack.pop()
            for key, value in bucket._entries():
                stats.bytes += len(key)
                if isinstance(value, Bucket):
                    stats.buckets += 1
                    stack.append(value)
                else:
                    stats.keys += 1
                    stats.bytes += len(value)
        return stats


class Bucket:
    """A bucket of an open `BoltFile`: a tree of pages, or an inline leaf page in its value."""

    __slots__ = ("file", "path", "_root", "_inline")

    def __init__(
        self, file: BoltFile, path: tuple[bytes, ...], root: int, inline: bytes | None
    ) -> None:
        self.file = file
        self.path = path
        self._root = root
        self._inline = inline

    def __repr__(self) -> str:
        return f"<bolt {_describe_path(self.path)} of {self.file.path}>"

    def _root_page(self) -> _Page:
        if self._inline is not None:
            return self.file._inline_page(self._inline, self.path)
        return self.file._page(self._root, self.path)

    def _child(self, key: bytes, value: bytes) -> Bucket:
        path = (*self.path, key)
        if len(value) < _BUCKET_HEADER.size:
            raise self.file._error(
                f"{_describe_path(path)}: bucket header of {len(value)} bytes, expected 16"
            )
        root, _sequence = _BUCKET_HEADER.unpack_from(value, 0)
        if root == 0:
            return self.file._open_bucket(path, 0, value[_BUCKET_HEADER.size :])
        return self.file._open_bucket(path, root, None)

    def _raw(self) -> Iterator[tuple[int, bytes, bytes]]:
        """(flags, key, value) of every element in key order, walking the pages depth-first.

        Each page's keys must lie within the range its parent's branch element gives (from the
        element's key to the next element's), as bbolt's own check requires; with the order
        checked inside each page, this walk and `_find` always agree.
        """
        file = self.file
        seen = {self._root} if self._inline is None else set()
        stack: list[tuple[_Page | int, bytes | None, bytes | None]] = [
            (self._root_page(), None, None)
        ]
        while stack:
            item, low, high = stack.pop()
            if isinstance(item, int):
                if item in seen:
                    raise file._error(
                        f"page {item} appears twice in the {_describe_path(self.path)} (a cycle)"
                    )
                seen.add(item)
                page = file._page(item, self.path)
            else:
                page = item
            if page.flags == BRANCH_PAGE:
                elements = page.branch
                self._check_range(page, elements[0][0], elements[-1][0], low, high)
                uppers = [key for key, _child in elements[1:]] + [high]
                stack.extend(
                    (child, key, upper)
                    for (key, child), upper in reversed(list(zip(elements, uppers, strict=True)))
                )
                continue
            leaf = page.leaf
            if leaf:
                self._check_range(page, leaf[0][1], leaf[-1][1], low, high)
            for flags, key, vstart, vend in leaf:
                yield flags, key, bytes(page.buf[vstart:vend])

    def _check_range(
        self, page: _Page, first: bytes, last: bytes, low: bytes | None, high: bytes | None
    ) -> None:
        if (low is not None and first < low) or (high is not None and last >= high):
            raise self.file._error(
                f"{page.where}: keys outside the range its parent branch page gives"
            )

    def _entries(self) -> Iterator[tuple[bytes, bytes | Bucket]]:
        """Like `items()`, but with each nested bucket opened (and so checked)."""
        for flags, key, value in self._raw():
            yield key, self._child(key, value) if flags & BUCKET_LEAF_FLAG else value

    def items(self) -> Iterator[tuple[bytes, bytes | None]]:
        """(key, value) in bolt's bytewise key order; value None marks a nested bucket."""
        for flags, key, value in self._raw():
            yield key, None if flags & BUCKET_LEAF_FLAG else value

    def _find(self, key: bytes) -> tuple[int, bytes] | None:
        """(flags, value) of `key`, searching down the tree."""
        file = self.file
        page = self._root_page()
        seen = {self._root} if self._inline is None else set()
        while page.flags == BRANCH_PAGE:
            elements = page.branch
            lo, hi = 0, len(elements)
            while lo < hi:  # the last element whose first key is <= key
                mid = (lo + hi) // 2
                if elements[mid][0] <= key:
                    lo = mid + 1
                else:
                    hi = mid
            child = elements[max(lo - 1, 0)][1]
            if child in seen:
                raise file._error(f"page {child} appears twice in the {_describe_path(self.path)}")
            seen.add(child)
            page = file._page(child, self.path)
        leaf = page.leaf
        lo, hi = 0, len(leaf)
        while lo < hi:
            mid = (lo + hi) // 2
            if leaf[mid][1] < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(leaf) and leaf[lo][1] == key:
            flags, _key, vstart, vend = leaf[lo]
            return flags, bytes(page.buf[vstart:vend])
        return None

    def get(self, key: bytes) -> bytes | None:
        """The value of plain key `key`, or None (absent, or a nested bucket)."""
        found = self._find(key)
        if found is None or found[0] & BUCKET_LEAF_FLAG:
            return None
        return found[1]

    def bucket(self, name: bytes) -> Bucket | None:
        """The nested bucket `name`, or None (absent, or a plain key)."""
        found = self._find(name)
        if found is None or not found[0] & BUCKET_LEAF_FLAG:
            return None
        return self._child(name, found[1])
