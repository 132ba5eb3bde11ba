"""Properties of the key layout: bucket paths <-> full keys, order and ranges."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metafs import layout
from metafs.errors import CorruptStore

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes that matter to the encoding (NUL, the kind bytes, 0xFF) are drawn often.
special_byte = st.sampled_from([0x00, 0x01, 0x02, 0x03, 0xFE, 0xFF, ord("a")])
name = st.one_of(
    st.binary(min_size=1, max_size=12),
    st.lists(special_byte, min_size=1, max_size=8).map(bytes),
)
# A path: buckets all the way down, then the entry's own (name, kind).
entry = st.tuples(
    st.lists(name, max_size=4),
    name,
    st.sampled_from([layout.BUCKET, layout.KEY]),
)


def components(e) -> list[tuple[bytes, int]]:
    buckets, last, kind = e
    return [(b, layout.BUCKET) for b in buckets] + [(last, kind)]


def full_key(e) -> bytes:
    buckets, last, kind = e
    return layout.bucket_prefix(buckets) + layout.component(last, kind)


@SETTINGS
@given(entry)
def test_full_key_round_trips(e):
    assert layout.decode_path(full_key(e)) == components(e)


@SETTINGS
@given(entry)
def test_key_names_are_a_plain_keys_path(e):
    names = (*e[0], e[1])
    assert layout.key_names(full_key(e)) == (names if e[2] == layout.KEY else None)


@SETTINGS
@given(name, st.sampled_from([layout.BUCKET, layout.KEY]), st.binary(max_size=6))
def test_split_first_reads_one_component(n, kind, rest):
    encoded = layout.component(n, kind)
    assert layout.split_first(encoded + rest) == (n, kind, len(encoded))


def test_empty_name_encodes_distinctly():
    # The root bucket's own prefix is empty; an empty name still makes a non-empty component.
    assert layout.bucket_prefix([]) == b""
    assert layout.component(b"", layout.KEY) == b"\x00\x02"
    assert layout.decode_path(b"\x00\x01\x00\x02") == [(b"", layout.BUCKET), (b"", layout.KEY)]


@SETTINGS
@given(entry, entry)
def test_full_key_order_is_bolt_order(a, b):
    """Bytewise order of full keys == component-wise bytewise order of the paths."""
    ka, kb = full_key(a), full_key(b)
    ca, cb = components(a), components(b)
    assert (ka < kb) == (ca < cb)
    assert (ka == kb) == (ca == cb)


@SETTINGS
@given(st.lists(name, min_size=1, max_size=3), st.lists(entry, min_size=1, max_size=30))
def test_bucket_subtree_is_one_contiguous_range(bucket, entries):
    """Everything below a bucket lies in [prefix, successor(prefix)), and nothing else does."""
    prefix = layout.bucket_prefix(bucket)
    end = layout.successor(prefix)
    inside_bucket = [(b, layout.BUCKET) for b in bucket]
    # Put some of the entries inside the bucket, some beside it.
    placed = [(bucket + e[0], e[1], e[2]) if i % 2 else e for i, e in enumerate(entries)]
    for e in placed:
        comps = components(e)
        below = len(comps) > len(inside_bucket) and comps[: len(inside_bucket)] == inside_bucket
        assert (prefix < full_key(e) < end) == below
        assert full_key(e).startswith(prefix) == (below or comps == inside_bucket)


@SETTINGS
@given(name)
def test_bucket_and_key_of_same_name_are_distinct(n):
    assert layout.component(n, layout.BUCKET) != layout.component(n, layout.KEY)


@pytest.mark.parametrize(
    "bad",
    [b"abc", b"abc\x00", b"abc\x00\x07", b"\x00\x03"],
)
def test_undecodable_keys_are_reported(bad):
    with pytest.raises(CorruptStore):
        layout.decode_path(bad)
