"""containerd's validation rules: identifiers, labels, digests."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from .errors import InvalidArgument

IDENTIFIER_MAX = 76
LABEL_MAX = 4096

_IDENTIFIER = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX = re.compile(r"[a-f0-9]+")


def identifier(value: str, what: str = "identifier") -> str:
    """containerd's identifiers.Validate, for namespaces and container ids."""
    if not value:
        raise InvalidArgument(f"{what} must not be empty")
    if len(value) > IDENTIFIER_MAX:
        raise InvalidArgument(f'{what} "{value}" is longer than {IDENTIFIER_MAX} characters')
    if not _IDENTIFIER.fullmatch(value):
        raise InvalidArgument(
            f'{what} "{value}" must match {_IDENTIFIER.pattern} '
            "(letters and digits, separated by single '.', '_' or '-')"
        )
    return value


def text(value: str, what: str) -> bytes:
    """Names and values are Go strings, i.e. bytes, held in a str through UTF-8 with
    surrogateescape; a str that does not encode back (a lone surrogate) is refused."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(f"{what} {value[:40]!r} is not a byte string: {exc.reason}") from None


def label(key: str, value: str) -> None:
    """labels.Validate: key and value together at most 4096 bytes."""
    size = len(text(key, "label key")) + len(text(value, "label value"))
    if size > LABEL_MAX:
        raise InvalidArgument(
            f"label key and value length ({size} bytes) greater than maximum size "
            f"({LABEL_MAX} bytes), key: {key[:10]}"
        )


def labels(values: Mapping[str, str]) -> None:
    for key, value in values.items():
        if not key:
            raise InvalidArgument("label key must not be empty")
        label(key, value)


def digest(value: str) -> str:
    """go-digest's Validate: `algorithm:hex`, a known algorithm, lowercase hex of its length."""
    algorithm, sep, hex_part = value.partition(":")
    if not sep or not algorithm or not hex_part:
        raise InvalidArgument(f'digest "{value}" is not of the form algorithm:hex')
    length = _DIGEST_HEX.get(algorithm)
    if length is None:
        raise InvalidArgument(f'digest "{value}": unsupported algorithm "{algorithm}"')
    if len(hex_part) != length or not _HEX.fullmatch(hex_part):
        raise InvalidArgument(
            f'digest "{value}": {algorithm} needs {length} lowercase hex characters'
        )
    return value


@contextmanager
def naming(what: str) -> Iterator[None]:
    """Prefix the message of an InvalidArgument raised inside with the object it concerns
    (`image "x" in namespace "default": ...`), as every error message names its object."""
    try:
        yield
    except InvalidArgument as exc:
        raise InvalidArgument(f"{what}: {exc.message}") from exc
