"""A tiny bbolt *writer*, for tests only: lays out a tree of buckets as bbolt v1.3.x would.

The fixture from containerd has only leaf pages and inline buckets; this writes branch pages
(several levels), overflow pages and inline buckets too, from the format alone (no bbolt code),
so the reader can be checked on everything it must understand. Not a general writer: no
freelist contents, no rebalancing rules, just a valid file.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

Tree = dict[bytes, Union[bytes, "Tree"]]

MAGIC = 0xED0CDAED
BRANCH, LEAF, META, FREELIST = 0x01, 0x02, 0x04, 0x10


def fnv1a_64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) % (1 << 64)
    return h


@dataclass
class Layout:
    page_size: int = 4096
    leaf_max: int = 64  # elements per leaf page, before splitting into more leaves
    branch_max: int = 64  # elements per branch page
    inline: bool = True  # small buckets without nested buckets go inline, as bbolt does


@dataclass
class Pages:
    """Where each page of the file starts, by kind: for tests that corrupt one on purpose."""

    leaf: list[int] = field(default_factory=list)
    branch: list[int] = field(default_factory=list)
    overflow: list[int] = field(default_factory=list)  # pages that have overflow pages


class _Writer:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.pages: dict[int, bytes] = {}
        self.next_id = 3  # 0 and 1: meta, 2: freelist
        self.kinds = Pages()

    def _page(self, flags: int, elements: list[bytes], data: list[bytes], pgid: int) -> bytes:
        """A page: header, 16-byte elements, then keys/values; `elements` hold offsets from
        the page start to their data and are rebased here to be relative to the element."""
        count = len(elements)
        body = bytearray()
        data_start = 16 + 16 * count
        offsets = []
        for chunk in data:
            offsets.append(data_start + len(body))
            body += chunk
        out = bytearray()
        for i, element in enumerate(elements):
            element_at = 16 + 16 * i
            rel = offsets[i] - element_at
            if flags == BRANCH:
                ksize, child = struct.unpack("<IQ", element)
                out += struct.pack("<IIQ", rel, ksize, child)
            else:
                eflags, ksize, vsize = struct.unpack("<III", element)
                out += struct.pack("<IIII", eflags, rel, ksize, vsize)
        size = data_start + len(body)
        ps = self.layout.page_size
        overflow = 0 if pgid == 0 else max(0, -(-size // ps) - 1)
        header = struct.pack("<QHHI", pgid, flags, count, overflow)
        page = header + bytes(out) + bytes(body)
        if pgid:
            page += b"\0" * ((overflow + 1) * ps - len(page))
        return page

    def _alloc(self, page_bytes_len: int) -> int:
        pgid = self.next_id
        self.next_id += max(1, -(-page_bytes_len // self.layout.page_size))
        return pgid

    def _leaf(self, entries: list[tuple[int, bytes, bytes]], pgid: int) -> bytes:
        elements = [struct.pack("<III", f, len(k), len(v)) for f, k, v in entries]
        return self._page(LEAF, elements, [k + v for _f, k, v in entries], pgid)

    def _store(self, build: Callable[[int], bytes], flags: int) -> int:
        """Allocate a page for a page builder `build(pgid) -> bytes` and record it."""
        pgid = self._alloc(len(build(1)))
        page = build(pgid)
        self.pages[pgid] = page
        (self.kinds.branch if flags == BRANCH else self.kinds.leaf).append(pgid)
        if len(page) > self.layout.page_size:
            self.kinds.overflow.append(pgid)
        return pgid

    def bucket(self, tree: Tree, *, root: bool = False) -> tuple[int, bytes]:
        """Write a bucket; return (root page id, inline page) — one of them 0 / b""."""
        entries: list[tuple[int, bytes, bytes]] = []
        for key in sorted(tree):
            value = tree[key]
            if isinstance(value, dict):
                child, inline = self.bucket(value)
                entries.append((1, key, struct.pack("<QQ", child, 0) + inline))
            else:
                entries.append((0, key, value))
        layout = self.layout
        if not root and layout.inline and all(f == 0 for f, _k, _v in entries):
            inline = self._leaf(entries, 0)
            if len(inline) <= layout.page_size // 4:
                return 0, inline
        if not entries:
            return self._store(lambda pgid: self._leaf([], pgid), LEAF), b""
        level: list[tuple[bytes, int]] = []
        for i in range(0, len(entries), layout.leaf_max):
            chunk = entries[i : i + layout.leaf_max]
            pgid = self._store(lambda p, c=chunk: self._leaf(c, p), LEAF)
            level.append((chunk[0][1], pgid))
        while len(level) > 1:
            upper = []
            for i in range(0, len(level), layout.branch_max):
                chunk = level[i : i + layout.branch_max]

                def build(p: int, c: list[tuple[bytes, int]] = chunk) -> bytes:
                    elements = [struct.pack("<IQ", len(k), child) for k, child in c]
                    return self._page(BRANCH, elements, [k for k, _child in c], p)

                upper.append((chunk[0][0], self._store(build, BRANCH)))
            level = upper
        return level[0][1], b""


def meta_page(index: int, page_size: int, root: int, high_water: int, txid: int) -> bytes:
    fields = struct.pack("<IIIIQQQQQ", MAGIC, 2, page_size, 0, root, 0, 2, high_water, txid)
    meta = fields + struct.pack("<Q", fnv1a_64(fields))
    page = struct.pack("<QHHI", index, META, 0, 0) + meta
    return page + b"\0" * (page_size - len(page))


def build(tree: Tree, layout: Layout | None = None, txid: int = 4) -> tuple[bytes, Pages]:
    """The bytes of a bolt file holding `tree`, and where its pages are."""
    layout = layout or Layout()
    writer = _Writer(layout)
    root, _ = writer.bucket(tree, root=True)
    ps = layout.page_size
    high_water = writer.next_id
    out = bytearray(high_water * ps)
    out[0:ps] = meta_page(0, ps, root, high_water, txid)
    out[ps : 2 * ps] = meta_page(1, ps, root, high_water, txid - 1)
    out[2 * ps : 2 * ps + 16] = struct.pack("<QHHI", 2, FREELIST, 0, 0)
    for pgid, page in writer.pages.items():
        out[pgid * ps : pgid * ps + len(page)] = page
    return bytes(out), writer.kinds


def write(path: Path, tree: Tree, layout: Layout | None = None) -> Pages:
    data, pages = build(tree, layout)
    path.write_bytes(data)
    return pages
