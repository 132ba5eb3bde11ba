"""containerd's value encodings: Go varints, Go MarshalBinary times, RFC 3339, protobuf Any."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metafs import codec
from metafs.codec import AnyValue
from metafs.errors import CorruptStore, InvalidArgument

SETTINGS = settings(max_examples=300, deadline=None)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@pytest.mark.parametrize(
    "n, encoded",
    [
        (0, "00"),
        (1, "02"),
        (-1, "01"),
        (3, "06"),
        (63, "7e"),
        (-64, "7f"),
        (64, "8001"),
        (349, "ba05"),
        (405, "aa06"),
        (1027836, "f8bb7d"),
        (2**63 - 1, "feffffffffffffffff01"),
        (-(2**63), "ffffffffffffffffff01"),
    ],
)
def test_varint_known_values(n, encoded):
    """Values from Go's binary.PutVarint (and the fixture's sizes)."""
    assert codec.put_varint(n).hex() == encoded
    assert codec.read_varint(bytes.fromhex(encoded)) == n


@SETTINGS
@given(INT64)
def test_varint_round_trips(n):
    assert codec.read_varint(codec.put_varint(n)) == n


@pytest.mark.parametrize("n", [2**63, -(2**63) - 1])
def test_varint_out_of_int64_range(n):
    with pytest.raises(InvalidArgument):
        codec.put_varint(n)


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xff" * 10])
def test_truncated_varint_is_corrupt(data):
    with pytest.raises(CorruptStore):
        codec.read_varint(data)


def test_time_from_the_fixture():
    # container db-1's createdat in containerd's meta-small.db
    raw = bytes.fromhex("010000000ee29c3ad22056ab90ffff")
    assert codec.decode_time(raw) == 1795834834542550928
    assert codec.encode_time(1795834834542550928) == raw
    assert codec.format_time(1795834834542550928) == "2026-11-28T03:00:34.542550928Z"
    assert codec.format_time(1795834834533002160) == "2026-11-28T03:00:34.53300216Z"
    assert codec.format_time(1795834834000000000) == "2026-11-28T03:00:34Z"
    assert codec.format_time(1795834834542550928, nanos=False) == "2026-11-28T03:00:34Z"
    assert codec.format_time(-62135596800 * 10**9) == "0001-01-01T00:00:00Z"  # Go's zero time


# From year 1 to year 9999, as Go's MarshalBinary and RFC 3339 allow.
UNIX_NS = st.integers(min_value=-62135596800 * 10**9, max_value=253402300799 * 10**9 + 999999999)


@SETTINGS
@given(UNIX_NS)
def test_time_round_trips(ns):
    raw = codec.encode_time(ns)
    assert len(raw) == 15 and raw[0] == 1 and raw[-2:] == b"\xff\xff"
    sec, nsec = struct.unpack(">qi", raw[1:13])
    assert (sec - 62135596800) * 10**9 + nsec == ns and 0 <= nsec < 10**9
    assert codec.decode_time(raw) == ns
    assert codec.parse_time(codec.format_time(ns)) == ns


def test_time_version_2_and_offsets():
    # version 2 (16 bytes) carries offset seconds; the instant is what counts
    v2 = bytes.fromhex("020000000ee29c3ad22056ab90003c00")
    assert codec.decode_time(v2) == 1795834834542550928
    assert codec.parse_time("2026-11-28T04:00:34.542550928+01:00") == 1795834834542550928
    assert codec.parse_time("2026-11-28t03:00:34.5z") == 1795834834500000000


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "01",
        "010000000ee29c3ad22056ab90ff",
        "030000000ee29c3ad22056ab90ffff",
        "010000000ee29c3ad23b9aca00ffff",
    ],
)
def test_bad_times_are_corrupt(raw):
    with pytest.raises(CorruptStore):
        codec.decode_time(bytes.fromhex(raw))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-11-28",
        "2026-11-28T03:00:34",
        "2026-11-28T03:00:34.Z",
        "yesterday",
        "2026-13-28T03:00:34Z",
        "2026-11-28T03:00:34+0100",
    ],
)
def test_bad_rfc3339_is_invalid(text):
    with pytest.raises(InvalidArgument):
        codec.parse_time(text)


def test_any_known_bytes():
    runc = AnyValue("containerd.runc.v1.Options")
    assert runc.encode().hex() == "0a1a636f6e7461696e6572642e72756e632e76312e4f7074696f6e73"
    kata = AnyValue("runtimeoptions.v1.Options", b"\x12\x15/etc/kata/config.toml")
    assert kata.encode().hex() == (
        "0a1972756e74696d656f7074696f6e732e76312e4f7074696f6e73121712152f6574632f6b6174612f"
        "636f6e6669672e746f6d6c"
    )
    assert AnyValue.decode(kata.encode()) == kata


@SETTINGS
@given(st.text(max_size=300), st.binary(max_size=300))
def test_any_round_trips(url, value):
    assert AnyValue.decode(AnyValue(url, value).encode()) == AnyValue(url, value)


def test_any_skips_unknown_fields_and_reports_truncation():
    data = AnyValue("t", b"v").encode() + b"\x18\x05" + b"\x21" + b"\0" * 8 + b"\x2d" + b"\0" * 4
    assert AnyValue.decode(data) == AnyValue("t", b"v")
    for bad in (b"\x0a\x05ab", b"\x0b", b"\x0a", b"\x21\x00", b"\x2d\x00\x00"):
        with pytest.raises(CorruptStore):
            AnyValue.decode(bad)
