"""What may be written to each field file, and when a written value is complete.

Writes through one open file are collected in a buffer (a value may arrive in several
`write()` calls: `printf` sends two, `cp` of a large spec many). `parse(field, buffer, final)`
judges the buffer:

- a value that can never become valid raises `InvalidArgument` at once, so the `write()` that
  made it so fails with EINVAL (bash prints `write error: Invalid argument`);
- a line value is complete when the buffer ends in a newline (what `echo` writes), the spec
  when it holds a whole JSON object; the value is returned and committed right away;
- otherwise it is incomplete (None) and waits for more data, or for the release of the file
  after its last close, or an fsync (`final`), when the buffer as it is must be valid.

One trailing newline is not part of a value; `cat` prints the value and one newline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .. import validation
from ..errors import InvalidArgument

MAX_SPEC = 16 << 20
_DIGEST_ALGORITHMS = ("sha256", "sha384", "sha512")
_JSON = json.JSONDecoder()


@dataclass(frozen=True)
class Field:
    """How one kind of file takes a written value."""

    name: str
    kind: str  # "line", "digest", "size", "label", "spec"
    required: bool = True  # an empty value is refused
    label_key: str = ""  # for labels: key + value together at most 4096 bytes


def parse(field: Field, buffer: bytes, final: bool) -> str | None:
    """The complete value in `buffer`, None if more may come; raises InvalidArgument."""
    text = buffer.decode("utf-8", "surrogateescape")
    if field.kind == "spec":
        return _spec(text, final)
    complete = final or text.endswith("\n")
    value = text[:-1] if text.endswith("\n") else text
    if field.kind == "label":
        _label(field.label_key, value)
        return value if complete else None
    if "\n" in value:
        raise InvalidArgument(f"{field.name} is a single line")
    if not complete:
        if len(value) > validation.LINE_MAX:  # no continuation can make it valid
            raise InvalidArgument(f"{field.name} is longer than {validation.LINE_MAX} bytes")
        _viable_prefix(field, value)
        return None
    if field.required and not value:
        raise InvalidArgument(f"{field.name} must not be empty")
    if field.kind == "digest":
        validation.digest(value)
    elif field.kind == "size":
        size_value(value)
    return value


size_value = validation.size


def _viable_prefix(field: Field, text: str) -> None:
    """Refuse a partial line value that no continuation can make valid."""
    if field.kind == "digest":
        algorithm, sep, hex_part = text.partition(":")
        if not sep:
            if not any(a.startswith(algorithm) for a in _DIGEST_ALGORITHMS):
                raise InvalidArgument(f'"{text}" does not start a digest (sha256:<hex>)')
            return
        if algorithm not in _DIGEST_ALGORITHMS:
            raise InvalidArgument(f'digest "{text}": unsupported algorithm "{algorithm}"')
        if hex_part:
            validation.digest(algorithm + ":" + hex_part.ljust(_hex_len(algorithm), "0"))
    elif field.kind == "size" and text:
        size_value(text)


def _hex_len(algorithm: str) -> int:
    return {"sha256": 64, "sha384": 96, "sha512": 128}[algorithm]


def _label(key: str, value: str) -> None:
    validation.label(key, value)


def _spec(text: str, final: bool) -> str | None:
    if len(text) > MAX_SPEC:
        raise InvalidArgument(f"spec is larger than {MAX_SPEC} bytes")
    body = text.strip()
    if not body:
        if final:
            raise InvalidArgument("spec must be a JSON object")
        return None
    if not body.startswith("{"):
        raise InvalidArgument("spec must be a JSON object")
    try:
        _, end = _JSON.raw_decode(body)
    except ValueError as exc:
        if final:
            raise InvalidArgument(f"spec is not valid JSON: {exc}") from exc
        return None
    if end != len(body):
        raise InvalidArgument("spec holds more than one JSON value")
    return body
