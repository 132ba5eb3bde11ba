"""The escaping between stored names and file names (`fs/names.py`), in process."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metafs.fs import names


@pytest.mark.parametrize(
    "name",
    [
        b".",
        b"..",
        b"a/b",
        b"100%",
        b"nul\x00byte",
        b"\xff\xfe",
        "ünïcödé/x".encode() * 40,
        b"%" * 300,
    ],
)
def test_escaping_round_trips(name):
    encoded = names.encode(name)
    assert b"/" not in encoded and b"\x00" not in encoded and len(encoded) <= 255
    assert encoded not in (b".", b"..")
    decoded = names.decode(encoded)
    if isinstance(decoded, names.LongName):
        assert decoded.matches(name)
    else:
        assert decoded == name


@pytest.mark.parametrize("bad", [b"100%", b"%2f", b"a%41", b"%2E.", b"x%~123"])
def test_only_canonical_file_names_decode(bad):
    with pytest.raises(ValueError):
        names.decode(bad)


ESCAPY = st.binary(max_size=60) | st.lists(
    st.sampled_from([b"%", b"/", b"\x00", b"%2F", b"%25", b"%00", b"2F", b"25", b"a", b"."]),
    max_size=12,
).map(b"".join)


@given(ESCAPY)
def test_every_name_decodes_back_and_every_file_name_to_one_name(raw):
    if raw:
        assert names.decode(names.encode(raw)) == raw or len(names.encode(raw)) > 200
    if b"/" in raw or b"\x00" in raw or not raw:
        return  # no file name
    try:
        decoded = names.decode(raw)
    except ValueError:
        return
    if not isinstance(decoded, names.LongName):
        assert names.encode(decoded) == raw
