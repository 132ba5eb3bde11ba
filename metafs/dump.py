"""Dump a bucket tree as text (the format of the fixture's `bolt-dump.txt`) or as JSON.

Both work on anything with the two methods of `BucketLike`: a bolt file's bucket
(`metafs.bolt`) or a store's (`metafs.store`), so the two can be compared line for line.

Text: one line per entry in bucket order, two spaces of indent per level; `[NAME]` for a
bucket, `KEY = VALUE` for a value, optionally followed by `  (DECODED)`. Names and values are
rendered by `render`: Go's `strconv.Quote` for printable-enough UTF-8 of at most 200 bytes,
`hex:...` up to 64 bytes, else `<N bytes sha256:HEX>`. DECODED (never directly inside a
`labels` or `annotations` bucket): timestamps for createdat/updatedat/expireat, `varint N` for
size/version, a protobuf Any summary for spec/options and anything inside `extensions`.

JSON: the root is an object; a bucket is an object whose members are its entries, each itself
an object; a value is an object with exactly one of
  "value": the bytes as a string, when they are UTF-8 text (valid UTF-8 without control
           characters, as for quoting in the text form, but of any length),
  "hex":   lowercase hex of the bytes otherwise (hex rather than base64: it matches the text
           dump and `xxd`, and containerd's binary values are small),
and, when the encoding is known, "decoded": {"time": RFC 3339, "unixnano": N} (or
{"error": ...}), {"varint": N}, or {"any": {"type_url", "value_size", "value_sha256"}} plus
"value_json" for an OCI spec. So an object is a value iff it has a string member "value" or
"hex"; in a bucket every member is an object. Member names are the key when it is UTF-8 text,
else (or when the key itself starts with "hex:") "hex:" + its hex, so names never collide.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import struct
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, TextIO

from .codec import SPEC_TYPE_URL, AnyValue, decode_time, format_time, read_uvarint, read_varint
from .errors import CorruptStore

__all__ = ["BucketLike", "decode", "dump_json", "dump_text", "go_quote", "render"]


class BucketLike(Protocol):
    def items(self) -> Iterable[tuple[bytes, bytes | None]]: ...

    def bucket(self, name: bytes) -> BucketLike | None: ...


_TIME_KEYS = frozenset((b"createdat", b"updatedat", b"expireat"))
_VARINT_KEYS = frozenset((b"size", b"version"))
_ANY_KEYS = frozenset((b"spec", b"options"))
_PLAIN_BUCKETS = frozenset((b"labels", b"annotations"))

_PLAIN_ASCII = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII except quote and backslash
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_QUOTE_MAX = 200
_HEX_MAX = 64
_SHORT_ESCAPES = {
    0x07: "\\a",
    0x08: "\\b",
    0x0C: "\\f",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
    0x0B: "\\v",
}


# ---- rendering of names and values -----------------------------------------------------------


def _is_print(ch: str) -> bool:
    """Go's strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.

    Decided from Python's Unicode database (14.0 in Python 3.11), so a character assigned in a
    Unicode version that Go's tables and Python's disagree on may be escaped differently.
    """
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def go_quote(text: str) -> str:
    """Go's `strconv.Quote` of a valid UTF-8 string."""
    if _PLAIN_ASCII.fullmatch(text):
        return f'"{text}"'
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif _is_print(ch):
            out.append(ch)
        elif code in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[code])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _text(data: bytes) -> str | None:
    """`data` decoded, if it is valid UTF-8 without C0 control characters or DEL."""
    if _CONTROL.search(data):
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def render(data: bytes) -> str:
    """A name or value as `bolt-dump.txt` shows it."""
    if len(data) <= _QUOTE_MAX:
        text = _text(data)
        if text is not None:
            return go_quote(text)
    if len(data) <= _HEX_MAX:
        return "hex:" + data.hex()
    return f"<{len(data)} bytes sha256:{hashlib.sha256(data).hexdigest()}>"


# ---- decoding of known values ----------------------------------------------------------------

_GO_UNMARSHAL = "Time.UnmarshalBinary: "


def _decode_time(value: bytes) -> dict[str, Any]:
    """Go's `time.UnmarshalBinary` (its error texts), then RFC3339Nano in the stored offset."""
    if not value:
        return {"error": _GO_UNMARSHAL + "no data"}
    version = value[0]
    if version not in (1, 2):
        return {"error": _GO_UNMARSHAL + "unsupported version"}
    if len(value) != (15 if version == 1 else 16):
        return {"error": _GO_UNMARSHAL + "invalid length"}
    offset_min = struct.unpack_from(">h", value, 13)[0]
    offset = 0 if offset_min == -1 else offset_min * 60
    if version == 2:
        offset += value[15]
    try:
        unix_ns = decode_time(value)
        text = format_time(unix_ns + offset * 1_000_000_000)
    except CorruptStore as exc:
        return {"error": exc.message}
    except (ValueError, OverflowError, OSError):
        return {"error": "time outside the years 1 to 9999"}
    if offset:
        sign = "-" if offset < 0 else "+"
        hours, minutes = divmod(abs(offset) // 60, 60)
        text = f"{text[:-1]}{sign}{hours:02d}:{minutes:02d}"
    return {"time": text, "unixnano": unix_ns}


def _decode_varint(value: bytes) -> int | None:
    """Go's `binary.Varint`: None where it reports failure (empty, truncated, overflow)."""
    try:
        unsigned, _ = read_uvarint(value)
    except CorruptStore:
        return None
    if unsigned >> 64:
        return None
    return read_varint(value)


def _decode_any(value: bytes) -> AnyValue | None:
    try:
        return AnyValue.decode(value)
    except CorruptStore:
        return None


def decode(key: bytes, value: bytes, parent: bytes | None) -> dict[str, Any] | None:
    """What is known about `value` from its key and the name of the bucket holding it:
    {"time": RFC 3339, "unixnano": N}, {"error": why} (a bad time), {"varint": N},
    {"any": AnyValue}, or None."""
    if parent in _PLAIN_BUCKETS:
        return None
    if key in _TIME_KEYS:
        return _decode_time(value)
    if key in _VARINT_KEYS:
        number = _decode_varint(value)
        return None if number is None else {"varint": number}
    if key in _ANY_KEYS or parent == b"extensions":
        message = _decode_any(value)
        if message is None:
            return None
        return {"any": message}
    return None


def _describe(decoded: dict[str, Any]) -> str:
    if "error" in decoded:
        return f"bad time: {decoded['error']}"
    if "time" in decoded:
        return f"time {decoded['time']} unixnano={decoded['unixnano']}"
    if "varint" in decoded:
        return f"varint {decoded['varint']}"
    message: AnyValue = decoded["any"]
    url = render(message.type_url.encode("utf-8", "surrogateescape"))
    digest = hashlib.sha256(message.value).hexdigest()
    return f"Any type_url={url} value={len(message.value)} bytes sha256:{digest}"


# ---- walking ---------------------------------------------------------------------------------


def _walk(root: BucketLike) -> Iterator[tuple[int, bytes, bytes | None, bytes | None]]:
    """(depth, key, value or None for a bucket, name of the parent) of every entry, depth-first,
    without recursion (bucket nesting may be deep) and leaving a bucket by depth alone."""
    stack: list[tuple[BucketLike, Iterator[tuple[bytes, bytes | None]], bytes | None]] = [
        (root, iter(root.items()), None)
    ]
    while stack:
        bucket, entries, name = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        key, value = entry
        yield len(stack) - 1, key, value, name
        if value is None:
            child = bucket.bucket(key)
            if child is None:
                raise CorruptStore(f"bucket {key!r} is listed but cannot be opened")
            stack.append((child, iter(child.items()), key))


def dump_text(root: BucketLike, out: TextIO) -> None:
    """Write the text dump of `root`, one line per entry, as it is walked."""
    for depth, key, value, parent in _walk(root):
        indent = "  " * depth
        if value is None:
            out.write(f"{indent}[{render(key)}]\n")
            continue
        line = f"{indent}{render(key)} = {render(value)}"
        decoded = decode(key, value, parent)
        if decoded is not None:
            line += f"  ({_describe(decoded)})"
        out.write(line + "\n")


def _json_name(key: bytes) -> str:
    text = _text(key)
    if text is None or text.startswith("hex:"):
        return "hex:" + key.hex()
    return text


def _json_value(key: bytes, value: bytes, parent: bytes | None) -> dict[str, Any]:
    text = _text(value)
    entry: dict[str, Any] = {"value": text} if text is not None else {"hex": value.hex()}
    decoded = decode(key, value, parent)
    if decoded is not None:
        if "any" in decoded:
            message: AnyValue = decoded["any"]
            url = message.type_url.encode("utf-8", "surrogateescape")
            summary: dict[str, Any] = {
                "type_url": _json_name(url),
                "value_size": len(message.value),
                "value_sha256": hashlib.sha256(message.value).hexdigest(),
            }
            if message.type_url == SPEC_TYPE_URL:
                with contextlib.suppress(ValueError):  # UnicodeDecodeError too
                    summary["value_json"] = json.loads(message.value)
            decoded = {"any": summary}
        entry["decoded"] = decoded
    return entry


def dump_json(root: BucketLike, out: TextIO) -> None:
    """Write `root` as one JSON document (two-space indent), streamed as it is walked."""
    out.write("{")
    depth = 0  # open buckets below the root
    empty = True  # the innermost open object has no member yet
    for level, key, value, parent in _walk(root):
        while depth > level:  # close the buckets this entry is outside of
            out.write("}" if empty else "\n" + "  " * depth + "}")
            depth -= 1
            empty = False
        out.write(("\n" if empty else ",\n") + "  " * (level + 1))
        out.write(json.dumps(_json_name(key), ensure_ascii=False) + ": ")
        if value is None:
            out.write("{")
            depth += 1
            empty = True
        else:
            entry = _json_value(key, value, parent)
            out.write(json.dumps(entry, ensure_ascii=False))
            empty = False
    while depth >= 0:
        out.write("}" if empty else "\n" + "  " * depth + "}")
        depth -= 1
        empty = False
    out.write("\n")
