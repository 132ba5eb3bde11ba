"""Value encodings containerd writes into its buckets, decoded and encoded byte for byte.

- sizes and `v1/version`: Go `binary.PutVarint`, a zig-zag signed LEB128 varint;
- timestamps: Go `time.Time.MarshalBinary`, kept here as integer nanoseconds since the Unix epoch;
- spec, runtime options, extensions: a protobuf `Any` (field 1 type_url, field 2 value).
"""

from __future__ import annotations

import struct
import time

from .errors import CorruptStore, InvalidArgument
from .records import FrozenRecord

# Seconds from 0001-01-01T00:00:00Z (Go's zero for MarshalBinary) to the Unix epoch.
_GO_UNIX_OFFSET = 62135596800
_NS = 1_000_000_000


def put_varint(n: int) -> bytes:
    """Go's binary.PutVarint: zig-zag, then unsigned LEB128."""
    if not -(1 << 63) <= n < (1 << 63):
        raise InvalidArgument(f"varint {n} out of int64 range")
    u = ((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF
    return put_uvarint(u)


def put_uvarint(u: int) -> bytes:
    out = bytearray()
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


def read_uvarint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Decode an unsigned LEB128 varint at `pos`; return (value, position after it)."""
    result = shift = 0
    for i in range(pos, min(len(data), pos + 10)):
        b = data[i]
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i + 1
        shift += 7
    raise CorruptStore("truncated or overlong varint")


def read_varint(data: bytes) -> int:
    """Go's binary.Varint for a whole value."""
    u, _ = read_uvarint(data)
    return (u >> 1) ^ -(u & 1)


# ---- timestamps ------------------------------------------------------------------------------


def now_ns() -> int:
    return time.time_ns()


def encode_time(unix_ns: int) -> bytes:
    """`time.Now().UTC().MarshalBinary()` for the given instant: 15 bytes, version 1, UTC."""
    sec, nsec = divmod(unix_ns, _NS)
    return struct.pack(">BqiH", 1, sec + _GO_UNIX_OFFSET, nsec, 0xFFFF)


def decode_time(data: bytes) -> int:
    """Go `time.UnmarshalBinary` (versions 1 and 2) to Unix nanoseconds; the zone is dropped."""
    if not data:
        raise CorruptStore("empty timestamp")
    version = data[0]
    if (version, len(data)) not in ((1, 15), (2, 16)):
        raise CorruptStore(f"timestamp of {len(data)} bytes, version {version}")
    sec, nsec = struct.unpack_from(">qi", data, 1)
    if not 0 <= nsec < _NS:
        raise CorruptStore(f"timestamp nanoseconds {nsec} out of range")
    return (sec - _GO_UNIX_OFFSET) * _NS + nsec


def format_time(unix_ns: int, *, nanos: bool = True) -> str:
    """RFC 3339 in UTC as Go prints it: `RFC3339Nano` (fraction without trailing zeros) or
    `RFC3339` (whole seconds) when `nanos` is false."""
    sec, nsec = divmod(unix_ns, _NS)
    # gmtime and %-format: half the cost of datetime and an f-string (the mount formats two
    # times per object it reads); not strftime: its %Y gives "1", not "0001", below year 1000
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % time.gmtime(sec)[:6]  # noqa: UP031
    if nanos and nsec:
        text += "." + f"{nsec:09d}".rstrip("0")
    return text + "Z"


def parse_time(text: str) -> int:
    """Parse RFC 3339 (any offset, optional fraction up to nanoseconds) to Unix nanoseconds."""
    import datetime  # here: most commands parse no time and need not load it

    text = text.strip()
    try:
        main, frac, zone = _split_rfc3339(text)
        base = datetime.datetime.fromisoformat(main + zone)
    except ValueError as exc:
        raise InvalidArgument(f"{text!r} is not an RFC 3339 time") from exc
    return int(base.timestamp()) * _NS + int(frac.ljust(9, "0")[:9] or "0")


def _split_rfc3339(text: str) -> tuple[str, str, str]:
    if len(text) < 20 or text[10] not in "Tt ":
        raise ValueError(text)
    main, rest = text[:19], text[19:]
    frac = ""
    if rest.startswith("."):
        end = 1
        while end < len(rest) and rest[end].isdigit():
            end += 1
        frac, rest = rest[1:end], rest[end:]
        if not frac:
            raise ValueError(text)
    if rest in ("Z", "z"):
        rest = "+00:00"
    if len(rest) != 6:
        raise ValueError(text)
    return main, frac, rest


# ---- protobuf Any ----------------------------------------------------------------------------

SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
RUNC_OPTIONS_TYPE_URL = "containerd.runc.v1.Options"


class AnyValue(FrozenRecord):
    """A protobuf `Any`: a type URL and the bytes of the message (JSON for the OCI spec)."""

    __slots__ = ("type_url", "value")
    type_url: str
    value: bytes

    def __init__(self, type_url: str, value: bytes = b"") -> None:
        object.__setattr__(self, "type_url", type_url)
        object.__setattr__(self, "value", value)

    def encode(self) -> bytes:
        url = self.type_url.encode()
        out = b"\x0a" + put_uvarint(len(url)) + url
        if self.value:
            out += b"\x12" + put_uvarint(len(self.value)) + self.value
        return out

    @classmethod
    def decode(cls, data: bytes) -> AnyValue:
        """Parse the two fields of an `Any`; unknown fields are skipped as protobuf allows."""
        type_url, value, pos = b"", b"", 0
        while pos < len(data):
            tag, pos = read_uvarint(data, pos)
            field, wire = tag >> 3, tag & 7
            if wire == 2:
                length, pos = read_uvarint(data, pos)
                if pos + length > len(data):
                    raise CorruptStore("truncated protobuf Any")
                chunk, pos = data[pos : pos + length], pos + length
                if field == 1:
                    type_url = chunk
                elif field == 2:
                    value = chunk
            elif wire == 0:
                _, pos = read_uvarint(data, pos)
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
                if pos > len(data):
                    raise CorruptStore("truncated protobuf Any")
            else:
                raise CorruptStore(f"protobuf wire type {wire} in an Any")
        return cls(type_url.decode("utf-8", "surrogateescape"), value)
