"""How ctr renders values: sizes, ages, label lists, times, JSON; and writing them out.

Everything goes to stdout as UTF-8 with surrogate escapes, so names that are not valid UTF-8
(bolt keys are arbitrary bytes) come out as the bytes they are, as ctr prints them.
"""

from __future__ import annotations

import os
import sys
import time

from ..codec import format_time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    import argparse
    import re
    from collections.abc import Mapping
    from typing import TypeVar

    _V = TypeVar("_V")

_NS = 1_000_000_000


def emit(text: str) -> None:
    """Write `text` to stdout, all of it or BrokenPipeError: straight to the file descriptor,
    as a large write through sys.stdout.buffer into a pipe whose reader has gone may stop
    after the first chunk and still report success."""
    sys.stdout.flush()
    view = memoryview(text.encode("utf-8", "surrogateescape"))
    fd = sys.stdout.fileno()
    while view:
        view = view[os.write(fd, view) :]


def warn(message: str) -> None:
    """One `metafs: warning: ...` line on stderr, for what ctr warns about and goes on."""
    sys.stderr.write(f"metafs: warning: {message}\n")


def add_format_option(parser: argparse.ArgumentParser, *, default: str = "table") -> None:
    choices = ["table", "json"] if default == "table" else ["json"]
    parser.add_argument(
        "--format",
        choices=choices,
        default=default,
        help="'json' prints a JSON array of objects (for jq)"
        if default == "table"
        else "output format (JSON is the only one)",
    )


def add_text_or_json(parser: argparse.ArgumentParser) -> None:
    """--format for a command that prints lines of text, not a table."""
    parser.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="'json' prints JSON (for jq) in place of the lines of text",
    )


def _bytes_key(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def sorted_labels(labels: Mapping[str, str]) -> list[str]:
    """`k=v` strings sorted bytewise, as ctr's sort.Strings orders them."""
    return sorted((f"{k}={v}" for k, v in labels.items()), key=_bytes_key)


def label_list(labels: Mapping[str, str], empty: str = "-") -> str:
    """ctr's LABELS column: sorted `k=v` joined by commas, `empty` when there are none."""
    return ",".join(sorted_labels(labels)) if labels else empty


def emit_labels(labels: Mapping[str, str]) -> None:
    """What ctr's `label` verbs print: every label, `k=v` joined by commas (sorted here)."""
    emit(",".join(sorted_labels(labels)) + "\n")


def sorted_map(values: Mapping[str, _V]) -> dict[str, _V]:
    """A map in the key order Go's encoding/json writes (bytewise)."""
    return {k: values[k] for k in sorted(values, key=_bytes_key)}


def progress_bytes(size: int) -> str:
    """containerd's progress.Bytes: binary units, one decimal (`1004.5 KiB`, `405.0 B`)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
    value, i = float(size), 0
    while value >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    return f"{value:.1f} {units[i]}"


def human_size(size: int) -> str:
    """go-units HumanSize: decimal units, 4 significant digits (`349B`, `1.028MB`)."""
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    value, i = float(size), 0
    while value >= 1000 and i < len(units) - 1:
        value /= 1000
        i += 1
    return f"{value:.4g}{units[i]}"


def human_duration(ns: int) -> str:
    """go-units HumanDuration of a duration in nanoseconds (`Less than a second`, `2 minutes`)."""
    seconds = int(ns / _NS)
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = (ns + 1800 * _NS) // (3600 * _NS)  # Duration.Round(time.Hour)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{ns // (3600 * _NS) // 24 // 365} years"


def local_rfc3339(unix_ns: int) -> str:
    """Go's `t.Local().Format(time.RFC3339)`: whole seconds, local offset, `Z` for UTC. With
    time.localtime, as datetime's astimezone() finds the offset, without importing datetime."""
    moment = time.localtime(unix_ns // _NS)
    minutes = moment.tm_gmtoff // 60
    if minutes == 0:
        zone = "Z"
    else:
        sign = "-" if minutes < 0 else "+"
        zone = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", moment) + zone


def rfc3339(unix_ns: int) -> str:
    """Go's encoding of a UTC time.Time in JSON (RFC 3339 with nanoseconds)."""
    return format_time(unix_ns)


# Go's encoding/json escapes these where Python writes them as they are (or differently).
_GO_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}
_GO_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
_GO_ESCAPES.update({c: "\\ufffd" for c in range(0xDC80, 0xDD00)})  # bytes that are not UTF-8
_PY_SHORT_ESCAPES = r"\\([\\bf])"


def _go_short_escape(match: re.Match[str]) -> str:
    return {"\\": "\\\\", "b": "\\u0008", "f": "\\u000c"}[match.group(1)]


def _go_escapes(text: str) -> str:
    if "\\" in text:
        import re  # here: only JSON output needs it

        text = re.sub(_PY_SHORT_ESCAPES, _go_short_escape, text)
    return text.translate(_GO_ESCAPES)


def go_json(value: object) -> str:
    """JSON as ctr's PrintAsJSON writes it (Go's json.MarshalIndent with 4 spaces, and a
    newline), given dicts already in Go's field order."""
    import json  # here: a one-shot table or -q need not load it

    return _go_escapes(json.dumps(value, indent=4, ensure_ascii=False)) + "\n"


def go_json_compact(value: object) -> str:
    """JSON as Go's json.Marshal writes it."""
    import json

    return _go_escapes(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
