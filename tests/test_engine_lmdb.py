"""The LMDB engine's own details: long full keys folded into LMDB's 511-byte keys, and read
back in full-key order by its sorting cursor, on a real LMDB environment."""

from __future__ import annotations

import lmdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metafs.engines import lmdb as engine

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- full keys <-> LMDB keys ----------------------------------------------------------------

full_keys = st.one_of(
    st.binary(min_size=1, max_size=engine.DIRECT_MAX),
    st.binary(min_size=engine.DIRECT_MAX - 2, max_size=engine.DIRECT_MAX + 3),
    st.binary(min_size=engine.DIRECT_MAX + 1, max_size=5000),
)


@SETTINGS
@given(full_keys, st.binary(max_size=300))
def test_lmdb_key_and_value_round_trip(full, value):
    key = engine.lmdb_key(full)
    assert 0 < len(key) <= 511
    if len(full) <= engine.DIRECT_MAX:
        assert key == full
        assert engine.pack_value(full, value) == value
    else:
        assert len(key) == engine.FOLDED_LEN
        assert key.startswith(full[: engine.DIRECT_MAX + 1])
    assert engine.unpack(key, engine.pack_value(full, value)) == (full, value)


@SETTINGS
@given(full_keys, full_keys)
def test_lmdb_key_order_agrees_with_full_key_order_outside_a_fold_group(a, b):
    ka, kb = engine.lmdb_key(a), engine.lmdb_key(b)
    same_group = (
        len(ka) == len(kb) == engine.FOLDED_LEN
        and ka[: engine.DIRECT_MAX + 1] == kb[: engine.DIRECT_MAX + 1]
    )
    if not same_group:
        assert (ka < kb) == (a < b)
    assert (ka == kb) == (a == b)


@SETTINGS
@given(full_keys)
def test_seek_key_is_at_or_before_the_stored_key(full):
    assert engine.seek_key(full) <= engine.lmdb_key(full)


# ---- Cursor on a real LMDB environment ------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    environment = lmdb.Environment(str(tmp_path_factory.mktemp("layout")), map_size=256 << 20)
    yield environment
    environment.close()


def load(env, fulls: set[bytes]) -> None:
    with env.begin(write=True) as txn:
        txn.drop(env.open_db(), delete=False)
        for full in fulls:
            txn.put(engine.lmdb_key(full), engine.pack_value(full, b"v" + full[-3:]))


def read_all(env, seek: bytes | None = None) -> list[tuple[bytes, bytes]]:
    with env.begin() as txn:
        cursor = engine._Cursor(txn)
        cursor.seek(seek if seek is not None else b"")
        out = []
        for full, value, key in cursor.entries():
            assert key == engine.lmdb_key(full)
            out.append((full, value))
        return out


shared_prefix = st.binary(min_size=engine.DIRECT_MAX + 1, max_size=engine.DIRECT_MAX + 40)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    prefixes=st.lists(shared_prefix, min_size=1, max_size=3),
    tails=st.lists(st.binary(max_size=30), min_size=1, max_size=25),
    short=st.lists(st.binary(min_size=1, max_size=engine.DIRECT_MAX), max_size=10),
    seeks=st.lists(st.binary(max_size=engine.DIRECT_MAX + 60), max_size=6),
)
def test_cursor_yields_full_key_order_with_folded_groups(env, prefixes, tails, short, seeks):
    # Folded keys sharing their first DIRECT_MAX+1 bytes form groups whose LMDB order is hash
    # order; mixing in near-identical short keys and keys just around the fold length.
    fulls = {p + t for p in prefixes for t in tails} | set(short)
    fulls |= {p[: engine.DIRECT_MAX + n] for p in prefixes for n in (0, 1)}
    load(env, fulls)
    expected = sorted((f, b"v" + f[-3:]) for f in fulls)
    assert read_all(env) == expected
    near = [prefixes[0] + s for s in seeks]  # inside or around the first fold group
    for s in [*seeks, *near, *(f for f in list(fulls)[:5])]:
        assert read_all(env, s) == [e for e in expected if e[0] >= s]


def test_cursor_many_long_keys_sharing_a_long_prefix(env):
    prefix = b"p" * 450
    fulls = {prefix + b"%05d" % i for i in range(300)} | {b"a", b"z" * 10, prefix[:400]}
    load(env, fulls)
    got = [f for f, _ in read_all(env)]
    assert got == sorted(fulls)
    middle = prefix + b"00150"
    assert [f for f, _ in read_all(env, middle)] == [f for f in sorted(fulls) if f >= middle]
    assert [f for f, _ in read_all(env, prefix + b"x")] == [b"z" * 10]


def test_cursor_on_empty_database(env):
    load(env, set())
    assert read_all(env) == []
    assert read_all(env, b"x" * 500) == []
