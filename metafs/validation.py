"""containerd's validation rules: identifiers, labels, digests; and a length limit on every
field, containerd's where it has one, ours where it has none.

| field | at most | whose |
| --- | --- | --- |
| namespace, container id | 76 characters | containerd (identifiers.Validate) |
| label key and value together | 4096 bytes | containerd (labels.Validate) |
| digest | its algorithm's hex length | go-digest |
| size | 19 digits, < 2^63 | ours: a Go int64 |
| media type | 1024 bytes | ours: RFC 6838 allows 127 + 1 + 127 before any parameters |
| annotation key, annotation value | 64 KiB each | ours |
| OCI spec, runtime options, extensions | 16 MiB | ours: containerd's default gRPC message limit |
| any other name: image, snapshot key, lease id... | 4096 bytes | ours: PATH_MAX |

containerd accepts longer values where it has no limit; metafs refuses them (EINVAL) rather
than store megabytes in a name.
"""

from __future__ import annotations

from .errors import InvalidArgument

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Mapping

IDENTIFIER_MAX = 76
LABEL_MAX = 4096
NAME_MAX = 4096
MEDIA_TYPE_MAX = 1024
ANNOTATION_MAX = 64 << 10
VALUE_MAX = 16 << 20
SIZE_DIGITS_MAX = 19  # 2^63 - 1 has 19 digits
LINE_MAX = NAME_MAX  # no one-line field is longer: a longer partial write is refused at once

# The limit of each field `text` checks, by the name its callers give it. Not listed: the
# encoding of names and values on their way to the store ("name"), after their validation.
_TEXT_MAX = {
    "image target media type": MEDIA_TYPE_MAX,
    "annotation key": ANNOTATION_MAX,
    "annotation value": ANNOTATION_MAX,
    **dict.fromkeys(
        (
            "image name",
            "the new name",
            "container.Image",
            "container.Runtime.Name",
            "container.Snapshotter",
            "container.SnapshotKey",
            "container.Extension key",
            "snapshotter",
            "snapshot key",
            "parent key",
            "lease id",
            "lease resource id",
            "lease resource type",
        ),
        NAME_MAX,
    ),
}

# Checked with str methods, not `re` (its import is most of a one-shot command's budget).
IDENTIFIER_PATTERN = r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*"
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_SEPARATORS = "._-"
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX = frozenset("0123456789abcdef")


def is_identifier(value: str) -> bool:
    """Whether `value` matches IDENTIFIER_PATTERN as a whole: runs of ASCII letters and
    digits, separated by single '.', '_' or '-'."""
    previous_separated = True  # the start counts as a separator: no separator may come first
    for ch in value:
        if ch in _ALNUM:
            previous_separated = False
        elif ch in _SEPARATORS and not previous_separated:
            previous_separated = True
        else:
            return False
    return not previous_separated  # non-empty, and no separator last


def identifier(value: str, what: str = "identifier") -> str:
    """containerd's identifiers.Validate, for namespaces and container ids."""
    if not value:
        raise InvalidArgument(f"{what} must not be empty")
    if len(value) > IDENTIFIER_MAX:
        raise InvalidArgument(f'{what} "{value}" is longer than {IDENTIFIER_MAX} characters')
    if not is_identifier(value):
        raise InvalidArgument(
            f'{what} "{value}" must match {IDENTIFIER_PATTERN} '
            "(letters and digits, separated by single '.', '_' or '-')"
        )
    return value


def text(value: str, what: str) -> bytes:
    """Names and values are Go strings, i.e. bytes, held in a str through UTF-8 with
    surrogateescape; a str that does not encode back (a lone surrogate) is refused, and so is
    one longer than its field's limit (the table above)."""
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(f"{what} {value[:40]!r} is not a byte string: {exc.reason}") from None
    limit = _TEXT_MAX.get(what)
    if limit is not None and len(raw) > limit:
        raise InvalidArgument(f"{what} is {len(raw)} bytes long, more than {limit}")
    return raw


def blob(value: bytes, what: str) -> bytes:
    """An encoded value (an OCI spec, runtime options, an extension): at most VALUE_MAX."""
    if len(value) > VALUE_MAX:
        raise InvalidArgument(f"{what} is {len(value)} bytes long, more than {VALUE_MAX}")
    return value


def size(value: str) -> int:
    """A size as written: a positive decimal integer without leading zeros, below 2^63. The
    length is checked before int(), which refuses more than 4300 digits with a ValueError."""
    shown = value if len(value) <= 40 else f"{value[:40]}..."
    if not value.isascii() or not value.isdigit() or value.startswith("0"):
        raise InvalidArgument(f'size "{shown}" must be a positive decimal integer')
    if len(value) > SIZE_DIGITS_MAX or int(value) >= 1 << 63:
        raise InvalidArgument(f'size "{shown}" is too large')
    return int(value)


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
    if len(hex_part) != length or not _HEX.issuperset(hex_part):
        raise InvalidArgument(
            f'digest "{value}": {algorithm} needs {length} lowercase hex characters'
        )
    return value


class naming:  # noqa: N801  (used as a function: `with naming(what):`)
    """Prefix the message of an InvalidArgument raised inside with the object it concerns
    (`image "x" in namespace "default": ...`), as every error message names its object.
    A class, not a contextlib.contextmanager: contextlib's import costs a one-shot command."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        if isinstance(exc, InvalidArgument):
            raise InvalidArgument(f"{self.what}: {exc.message}") from exc
