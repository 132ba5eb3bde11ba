"""The one escaping between stored names (image names, label keys) and file names.

A stored name is any non-empty byte string; a file name cannot hold `/` or NUL, cannot be `.`
or `..`, and is at most 255 bytes. The file name of a stored name is:

- every `%` written as `%25`, every `/` as `%2F`, every NUL as `%00`;
- the names `.` and `..` written as `%2E` and `%2E%2E`;
- if the result is longer than 255 bytes: its first 200 bytes (cut before an escape or a UTF-8
  character, never inside one), then `%~` and 24 hexadecimal digits of a BLAKE2b hash of the
  stored name. Such a name is found again by its prefix and hash.

Every other byte stays as it is, so most names read unchanged. Decoding accepts exactly what
encoding produces (uppercase hex, only these escapes), so each stored name has one file name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

NAME_MAX = 255
LONG_PREFIX = 200
LONG_MARK = b"%~"
_HASH_BYTES = 12

_ESCAPES = {b"%": b"%25", b"/": b"%2F", b"\x00": b"%00"}
_UNESCAPES = {v: k for k, v in _ESCAPES.items()}
_DOTS = {b".": b"%2E", b"..": b"%2E%2E"}
_UNDOTS = {v: k for k, v in _DOTS.items()}
_PERCENT, _SLASH = ord("%"), ord("/")


@dataclass(frozen=True)
class LongName:
    """A file name standing for a stored name too long to show: its prefix and hash."""

    prefix: bytes  # the stored name starts with these bytes
    digest: str  # hex

    def matches(self, name: bytes) -> bool:
        return name.startswith(self.prefix) and name_hash(name) == self.digest


def name_hash(name: bytes) -> str:
    return hashlib.blake2b(name, digest_size=_HASH_BYTES).hexdigest()


def _escape(name: bytes) -> bytes:
    if name in _DOTS:
        return _DOTS[name]
    out = name.replace(b"%", b"%25")
    return out.replace(b"/", b"%2F").replace(b"\x00", b"%00")


def encode(name: bytes) -> bytes:
    """The file name of a stored name."""
    escaped = _escape(name)
    if len(escaped) <= NAME_MAX:
        return escaped
    cut = LONG_PREFIX
    # never inside an escape (`%XX`) ...
    pct = escaped.rfind(b"%", cut - 2, cut)
    if pct >= 0:
        cut = pct
    # ... nor inside a UTF-8 character (continuation bytes are 0b10xxxxxx)
    while cut > 0 and 0x80 <= escaped[cut] < 0xC0:
        cut -= 1
    return escaped[:cut] + LONG_MARK + name_hash(name).encode()


def decode(filename: bytes) -> bytes | LongName:
    """The stored name a file name stands for, or a `LongName` to look up.

    Raises ValueError for a file name that `encode` never produces.
    """
    # Most names were left as they are by escaping. (An int `in` bytes is a memchr; a bytes
    # `in` bytes costs ten times more here.)
    if _PERCENT not in filename:
        if filename in (b"", b".", b"..") or _SLASH in filename or 0 in filename:
            raise ValueError(f"{filename!r} is not an escaped name")
        if len(filename) > NAME_MAX:
            raise ValueError(f"{filename!r} is longer than a file name can be")
        return filename
    if filename in _UNDOTS:
        return _UNDOTS[filename]
    mark = filename.find(LONG_MARK)
    if mark >= 0:
        digest = filename[mark + len(LONG_MARK) :]
        if len(digest) != 2 * _HASH_BYTES or not _is_hex(digest):
            raise ValueError(f"bad long-name hash in {filename!r}")
        return LongName(_unescape(filename[:mark]), digest.decode())
    # In what `encode` produces every % starts an escape, so each escape can be replaced on
    # its own; encoding the result again refuses anything `encode` would not have written.
    name = filename.replace(b"%2F", b"/").replace(b"%00", b"\x00").replace(b"%25", b"%")
    if not name or encode(name) != filename:
        raise ValueError(f"{filename!r} is not an escaped name")
    return name


def _unescape(text: bytes) -> bytes:
    parts = text.split(b"%")
    out = [parts[0]]
    for part in parts[1:]:
        code = b"%" + part[:2]
        if code not in _UNESCAPES:
            raise ValueError(f"unknown escape {code!r}")
        out.append(_UNESCAPES[code] + part[2:])
    return b"".join(out)


def _is_hex(text: bytes) -> bool:
    return all(c in b"0123456789abcdef" for c in text)
