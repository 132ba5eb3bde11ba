"""How bolt's nested buckets become flat LMDB keys. The only module that knows it.

A bolt entry is addressed by the path of bucket names that leads to it plus its own name, and
it is either a plain key (with a value, possibly empty) or a nested bucket. Its *full key* is
the concatenation of its components, each encoded as::

    escape(name) 0x00 KIND        escape: 0x00 -> 0x00 0xFF;  KIND: 0x01 bucket, 0x02 plain key

Properties (tested with hypothesis in tests/test_layout.py):

- reversible for any bytes: after an unescaped 0x00 comes either 0xFF (a literal NUL) or KIND;
- order-preserving: comparing two full keys bytewise orders them as bolt does, component by
  component, so a bucket's entries (with everything below them) form one contiguous key range
  iterated in bolt's bytewise order of names;
- a bucket and a plain key of the same name are distinct keys (KIND tells them apart); a bucket
  is stored as a marker entry (its own full key, empty value), so empty buckets exist.

LMDB keys are limited to 511 bytes while a label key may be 4095. A full key longer than
`DIRECT_MAX` is stored under a *folded* key: its first `DIRECT_MAX + 1` bytes followed by a
16-byte BLAKE2b of the whole full key, and the value is prefixed with the full key. Folded keys
all have length `FOLDED_LEN`, which no direct key has. Their order is exact up to the prefix; the
few entries that share a folded prefix form one *group* that readers sort by full key
(`Cursor` below does this), so iteration is still in bolt's order and point lookups stay direct.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import lmdb

from .codec import put_uvarint, read_uvarint
from .errors import CorruptStore

BUCKET = 0x01
KEY = 0x02

DIRECT_MAX = 400
_PREFIX_LEN = DIRECT_MAX + 1
_HASH_LEN = 16
FOLDED_LEN = _PREFIX_LEN + _HASH_LEN


def component(name: bytes, kind: int) -> bytes:
    """Encode one path component (a bucket or key name) with its kind."""
    return name.replace(b"\x00", b"\x00\xff") + bytes((0, kind))


_BUCKET_END = bytes((0, BUCKET))


def bucket_prefix(path: Sequence[bytes]) -> bytes:
    """Full key of the bucket at `path` (a sequence of bucket names); b"" is the root."""
    if not path:
        return b""
    joined = _BUCKET_END.join(path) + _BUCKET_END
    if joined.count(0) == len(path):  # no name holds a NUL to escape: most of them
        return joined
    return b"".join(component(name, BUCKET) for name in path)


def successor(full_key: bytes) -> bytes:
    """The smallest full key after every key that starts with `full_key` (which ends in KIND)."""
    return full_key[:-1] + bytes((full_key[-1] + 1,))


def split_first(rest: bytes) -> tuple[bytes, int, int]:
    """Decode the first component of `rest`: (name, kind, length of the encoded component)."""
    out = bytearray()
    pos = 0
    while True:
        nul = rest.find(b"\x00", pos)
        if nul < 0 or nul + 1 >= len(rest):
            raise CorruptStore(f"undecodable key component {rest[:40]!r}")
        out += rest[pos:nul]
        mark = rest[nul + 1]
        if mark == 0xFF:
            out.append(0)
            pos = nul + 2
        elif mark in (BUCKET, KEY):
            return bytes(out), mark, nul + 2
        else:
            raise CorruptStore(f"bad kind byte {mark:#x} in key {rest[:40]!r}")


def key_names(full_key: bytes) -> tuple[bytes, ...] | None:
    """The names along the full key of a plain key; None for a bucket's full key."""
    if full_key[-1:] != b"\x02":
        return None
    parts = full_key.split(b"\x00")
    if parts[-1] == b"\x02":  # the last name is followed by a plain key's kind
        # A key in the bucket, or in a bucket nested in it (an object's fields, labels...),
        # the most read by far: an escaped NUL would leave a part starting with 0xFF.
        if len(parts) == 2:
            return (parts[0],)
        if len(parts) == 3 and parts[1][:1] == b"\x01":
            return parts[0], parts[1][1:]
        if b"\x00\xff" not in full_key:  # each 0x00 ends a name, a kind follows
            names = [parts[0]]
            for part in parts[1:-1]:
                if part[:1] != b"\x01":
                    break
                names.append(part[1:])
            else:
                return tuple(names)
    return tuple(name for name, _kind in decode_path(full_key))


def decode_path(full_key: bytes) -> list[tuple[bytes, int]]:
    """Every (name, kind) component of a full key, outermost first."""
    parts = []
    while full_key:
        name, kind, used = split_first(full_key)
        parts.append((name, kind))
        full_key = full_key[used:]
    return parts


# ---- full keys <-> LMDB keys --------------------------------------------------------------


def lmdb_key(full_key: bytes) -> bytes:
    """The LMDB key under which the entry with this full key is stored."""
    if len(full_key) <= DIRECT_MAX:
        return full_key
    return full_key[:_PREFIX_LEN] + hashlib.blake2b(full_key, digest_size=_HASH_LEN).digest()


def pack_value(full_key: bytes, value: bytes) -> bytes:
    """The LMDB value for an entry: the value itself, or for a folded key, full key + value."""
    if len(full_key) <= DIRECT_MAX:
        return value
    return put_uvarint(len(full_key)) + full_key + value


def unpack(key: bytes, stored: bytes) -> tuple[bytes, bytes]:
    """(full key, value) of a stored LMDB entry."""
    if len(key) != FOLDED_LEN:
        return key, stored
    length, pos = read_uvarint(stored)
    return stored[pos : pos + length], stored[pos + length :]


def seek_key(full_key: bytes) -> bytes:
    """An LMDB key at or before every stored key whose full key is >= `full_key`."""
    return full_key if len(full_key) <= DIRECT_MAX else full_key[:_PREFIX_LEN]


def walk(txn: lmdb.Transaction, prefix: bytes) -> Iterator[tuple[tuple[bytes, ...], bytes]]:
    """(names below `prefix`, value) of every plain key under the bucket whose full key is
    `prefix`, in full-key order: one pass over an object.

    Direct keys, nearly all of them, are read straight from the LMDB cursor; from the first
    folded key on, the sorting `Cursor` takes over. Direct and folded
    keys never interleave out of order (a direct key is shorter than a folded key's prefix),
    so handing over there loses and repeats nothing.
    """
    if len(prefix) > DIRECT_MAX:
        yield from _walk_sorted(txn, prefix, prefix)
        return
    cur = txn.cursor()
    if cur.set_range(prefix):
        yield from _walk_direct(txn, cur, prefix)


def read_bucket(
    txn: lmdb.Transaction, prefix: bytes
) -> list[tuple[tuple[bytes, ...], bytes]] | None:
    """What `walk` gives for the bucket whose full key is `prefix`, or None if there is no
    such bucket: its marker comes first in its key range, so one cursor pass both finds the
    bucket and reads it."""
    if len(prefix) > DIRECT_MAX:
        return None if txn.get(lmdb_key(prefix)) is None else list(walk(txn, prefix))
    cur = txn.cursor()
    if not cur.set_range(prefix) or cur.key() != prefix:
        return None
    return list(_walk_direct(txn, cur, prefix))


def _walk_direct(
    txn: lmdb.Transaction, cur: lmdb.Cursor, prefix: bytes
) -> Iterator[tuple[tuple[bytes, ...], bytes]]:
    """`walk` from where `cur` stands (in the bucket's range, on a direct key)."""
    skip = len(prefix)
    for key, value in cur.iternext():
        if key[:skip] != prefix:
            return
        if len(key) == FOLDED_LEN:
            yield from _walk_sorted(txn, prefix, key[:_PREFIX_LEN])
            return
        rel = key[skip:]
        try:  # _names_of, inlined where it is hit most
            names = _NAMES[rel]
        except KeyError:
            names = _names_of(rel)
        if names is not None:
            yield names, value


_NAMES: dict[bytes, tuple[bytes, ...] | None] = {}
_NAMES_MAX = 4096


def _names_of(rel: bytes) -> tuple[bytes, ...] | None:
    """`key_names(rel)`, remembered: the keys below an object (its fields, its label keys)
    repeat from one object to the next, and a walk reads little else."""
    try:
        return _NAMES[rel]
    except KeyError:
        pass
    if len(_NAMES) >= _NAMES_MAX:
        _NAMES.clear()
    names = _NAMES[rel] = key_names(rel)
    return names


def walk_buckets(
    txn: lmdb.Transaction, prefix: bytes
) -> Iterator[tuple[bytes, list[tuple[tuple[bytes, ...], bytes]]]]:
    """(name, what `walk` gives for it) of every bucket nested directly in the bucket whose
    full key is `prefix`, in bolt's order: a whole collection in one pass, with no seek per
    bucket. Plain keys directly in the bucket are left out."""
    skip = len(prefix)
    name: bytes | None = None
    entries: list[tuple[tuple[bytes, ...], bytes]] = []
    inside = b""  # full key of the nested bucket being read: its marker, a prefix of its keys
    below = 0
    for full, value in _entries(txn, prefix):
        if inside and full.startswith(inside):
            names = _names_of(full[below:])
            if names is not None:
                entries.append((names, value))
            continue
        if name is not None:
            yield name, entries
        name, inside = None, b""
        first, kind, used = split_first(full[skip:])
        if kind == BUCKET and skip + used == len(full):  # a nested bucket's marker
            name, entries, inside, below = first, [], full, len(full)
    if name is not None:
        yield name, entries


def _entries(txn: lmdb.Transaction, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(full key, value) of every entry below the bucket whose full key is `prefix`, in
    full-key order; as `walk`, direct keys come straight from the LMDB cursor."""
    cur = txn.cursor()
    if len(prefix) <= DIRECT_MAX and cur.set_range(prefix):
        for key, value in cur.iternext():
            if not key.startswith(prefix):
                return
            if len(key) == FOLDED_LEN:
                start = key[:_PREFIX_LEN]
                break
            if len(key) > len(prefix):
                yield key, value
        else:
            return
    else:
        start = prefix
    yield from _sorted_entries(txn, prefix, start)


def _walk_sorted(
    txn: lmdb.Transaction, prefix: bytes, start: bytes
) -> Iterator[tuple[tuple[bytes, ...], bytes]]:
    skip = len(prefix)
    for full, value in _sorted_entries(txn, prefix, start):
        names = key_names(full[skip:])
        if names is not None:
            yield names, value


def _sorted_entries(
    txn: lmdb.Transaction, prefix: bytes, start: bytes
) -> Iterator[tuple[bytes, bytes]]:
    """What `_entries` gives from the full key `start` on, read through the sorting `Cursor`
    (from the first folded key on, or for a prefix too long to be a direct key)."""
    cursor = Cursor(txn)
    cursor.seek(start)
    for full, value, _key in cursor.entries():
        if not full.startswith(prefix):
            return
        if len(full) > len(prefix):
            yield full, value


class Cursor:
    """Iterates stored entries in full-key order, sorting folded groups as it meets them."""

    def __init__(self, txn: lmdb.Transaction) -> None:
        self._cur = txn.cursor()
        self._group: list[tuple[bytes, bytes, bytes]] = []  # (full, value, lmdb key), reversed
        self._valid = False  # the LMDB cursor sits on an entry not yet yielded or grouped
        self._more = False  # with a group loaded: entries follow the group

    def seek(self, full_key: bytes) -> None:
        """Position at the first entry whose full key is >= `full_key`."""
        self._group = []
        self._valid = self._cur.set_range(seek_key(full_key))
        self._settle()
        if self._group:
            self._group = [e for e in self._group if e[0] >= full_key]
            if not self._group:
                self._after_group()

    def entries(self) -> Iterator[tuple[bytes, bytes, bytes]]:
        """Yield (full key, value, lmdb key) from the current position on."""
        while True:
            if self._group:
                yield self._group.pop()
                if not self._group:
                    self._after_group()
                continue
            if not self._valid:
                return
            for key, value in self._cur.iternext():  # direct keys at C speed
                if len(key) == FOLDED_LEN:
                    self._settle()
                    break
                yield key, value, key
            else:
                self._valid = False
                return

    def _after_group(self) -> None:
        self._valid = self._more and self._cur.next()
        self._settle()

    def _settle(self) -> None:
        """If the cursor is on a folded key, load its group into the buffer."""
        if not (self._valid and len(self._cur.key()) == FOLDED_LEN):
            return
        prefix = self._cur.key()[:_PREFIX_LEN]
        group = []
        while True:
            key = self._cur.key()
            full, value = unpack(key, self._cur.value())
            group.append((full, value, key))
            if not self._cur.next():
                self._more = False
                break
            nxt = self._cur.key()
            if len(nxt) != FOLDED_LEN or nxt[:_PREFIX_LEN] != prefix:
                self._cur.prev()
                self._more = True
                break
        group.sort(reverse=True)
        self._group = group
        self._valid = False
