"""ctr's value formats: progress.Bytes, go-units HumanSize/HumanDuration, Go times and JSON."""

from __future__ import annotations

import json
import time

import pytest

from metafs.cli.formats import (
    go_json,
    go_json_compact,
    human_duration,
    human_size,
    label_list,
    local_rfc3339,
    progress_bytes,
)

S = 1_000_000_000


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0.0 B"), (405, "405.0 B"), (1023, "1023.0 B"), (1024, "1.0 KiB"),
     (1028608, "1004.5 KiB"), (5 * 1024**3, "5.0 GiB")],
)  # fmt: skip
def test_progress_bytes(size, text):
    assert progress_bytes(size) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (349, "349B"), (405, "405B"), (999, "999B"), (1000, "1kB"),
     (1027836, "1.028MB"), (123456789, "123.5MB"), (10**13, "10TB")],
)  # fmt: skip
def test_human_size(size, text):
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("ns", "text"),
    [(-5 * S, "Less than a second"), (S - 1, "Less than a second"), (S, "1 second"),
     (59 * S, "59 seconds"), (60 * S, "About a minute"), (119 * S, "About a minute"),
     (120 * S, "2 minutes"), (3599 * S, "59 minutes"), (3600 * S, "About an hour"),
     (5399 * S, "About an hour"), (5400 * S, "2 hours"), (47 * 3600 * S, "47 hours"),
     (48 * 3600 * S, "2 days"), (13 * 86400 * S, "13 days"), (14 * 86400 * S, "2 weeks"),
     (60 * 86400 * S, "2 months"), (729 * 86400 * S, "24 months"),
     (730 * 86400 * S, "2 years")],
)  # fmt: skip
def test_human_duration(ns, text):
    assert human_duration(ns) == text


@pytest.fixture
def timezone(monkeypatch):
    def use(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


def test_local_rfc3339_is_z_in_utc(timezone):
    timezone("UTC")
    assert local_rfc3339(1795834834_542550928) == "2026-11-28T03:00:34Z"


def test_local_rfc3339_has_the_local_offset(timezone):
    timezone("America/New_York")
    assert local_rfc3339(1795834834_542550928) == "2026-11-27T22:00:34-05:00"
    timezone("Asia/Kolkata")
    assert local_rfc3339(1795834834_542550928) == "2026-11-28T08:30:34+05:30"


def test_label_list_is_sorted_by_bytes_and_dash_when_empty():
    assert label_list({}) == "-"
    assert label_list({"b": "1", "a.b": "x=y", "a": "z"}) == "a.b=x=y,a=z,b=1"


def test_go_json_escapes_as_go_does():
    value = {"html": "<a&b>", "ctl": "\b\f\n\t\x01", "path": "C:\\bf", "sep": "\u2028",
             "bad": "\udcff", "u": "héllo ✓"}  # fmt: skip
    text = go_json(value)
    assert text.endswith("}\n")
    assert "\\u003ca\\u0026b\\u003e" in text
    assert '"\\u0008\\u000c\\n\\t\\u0001"' in text
    assert '"C:\\\\bf"' in text  # a literal backslash before b/f stays a backslash
    assert "\\u2028" in text and "\\ufffd" in text and "héllo ✓" in text
    parsed = json.loads(text)
    assert parsed["html"] == "<a&b>" and parsed["path"] == "C:\\bf"
    assert go_json_compact({"a": [1, "<"]}) == '{"a":[1,"\\u003c"]}'
