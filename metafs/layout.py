"""How bolt's nested buckets become flat keys of an ordered key-value engine. The only module
that knows it; the engines (`metafs/engines/`) know nothing of buckets.

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

Full keys have no length limit here; an engine with one (LMDB: 511 bytes) deals with it.
The readers below (`walk`, `read_bucket`, `walk_buckets`) take an engine's snapshot and read a
bucket's key range with one forward scan.
"""

from __future__ import annotations

from .errors import CorruptStore

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from .engines import Reader

BUCKET = 0x01
KEY = 0x02


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


# ---- reading buckets off an engine's snapshot ---------------------------------------------

Entries = list[tuple[tuple[bytes, ...], bytes]]


def key_range(prefix: bytes) -> tuple[bytes, bytes | None]:
    """(start, stop) of the keys of the bucket whose full key is `prefix`: its marker and
    everything below it (the root: every key)."""
    return prefix, (successor(prefix) if prefix else None)


def walk(kv: Reader, prefix: bytes) -> Iterator[tuple[tuple[bytes, ...], bytes]]:
    """(names below `prefix`, value) of every plain key under the bucket whose full key is
    `prefix`, in full-key order: one pass over an object."""
    return _names_and_values(kv.items(*key_range(prefix)), len(prefix))


def read_bucket(kv: Reader, prefix: bytes) -> Entries | None:
    """What `walk` gives for the bucket whose full key is `prefix`, or None if there is no
    such bucket: its marker comes first in its key range, so one pass both finds the bucket
    and reads it."""
    if not prefix:
        return list(_names_and_values(kv.items(), 0))
    entries = kv.items(prefix, successor(prefix))
    first = next(entries, None)
    if first is None or first[0] != prefix:
        return None
    skip = len(prefix)
    found: Entries = []
    for key, value in entries:  # _names_and_values, inlined: the mount's hottest loop
        rel = key[skip:]
        try:
            names = _NAMES[rel]
        except KeyError:
            names = _names_of(rel)
        if names is not None:
            found.append((names, value))
    return found


def _names_and_values(
    entries: Iterator[tuple[bytes, bytes]], skip: int
) -> Iterator[tuple[tuple[bytes, ...], bytes]]:
    for key, value in entries:
        rel = key[skip:]
        try:  # _names_of, inlined where it is hit most
            names = _NAMES[rel]
        except KeyError:
            names = _names_of(rel)
        if names is not None:
            yield names, value


_NAMES: dict[bytes, tuple[bytes, ...] | None] = {}
_NAMES_MAX = 4096
_NAMES_KEY_MAX = 256


def _names_of(rel: bytes) -> tuple[bytes, ...] | None:
    """`key_names(rel)`, remembered: the keys below an object (its fields, its label keys)
    repeat from one object to the next, and a walk reads little else."""
    try:
        return _NAMES[rel]
    except KeyError:
        pass
    names = key_names(rel)
    if len(rel) <= _NAMES_KEY_MAX:
        if len(_NAMES) >= _NAMES_MAX:
            _NAMES.clear()
        _NAMES[rel] = names
    return names


def walk_buckets(kv: Reader, prefix: bytes) -> Iterator[tuple[bytes, Entries]]:
    """(name, what `walk` gives for it) of every bucket nested directly in the bucket whose
    full key is `prefix`, in bolt's order: a whole collection in one pass, with no seek per
    bucket. Plain keys directly in the bucket are left out."""
    skip = len(prefix)
    name: bytes | None = None
    entries: Entries = []
    inside = b""  # full key of the nested bucket being read: its marker, a prefix of its keys
    below = 0
    for full, value in kv.items(*key_range(prefix)):
        if inside and full.startswith(inside):
            names = _names_of(full[below:])
            if names is not None:
                entries.append((names, value))
            continue
        if name is not None:
            yield name, entries
        name, inside = None, b""
        if len(full) == skip:
            continue  # the bucket's own marker
        first, kind, used = split_first(full[skip:])
        if kind == BUCKET and skip + used == len(full):  # a nested bucket's marker
            name, entries, inside, below = first, [], full, len(full)
    if name is not None:
        yield name, entries
