"""Importing a bolt file into the LMDB store: exact copy, replace semantics, all or nothing."""

from __future__ import annotations

import io
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from containerd_fixture import BOLT_DUMP, META_DB
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metafs.importer
from metafs.bolt import BoltFile, BoltFormatError
from metafs.dump import dump_text
from metafs.errors import NotFound
from metafs.importer import ImportProgress, import_bolt
from metafs.store import Store

PAGE = 4096


@pytest.fixture
def store(store_at: str) -> Iterator[Store]:
    with Store.open(store_at, sync=False) as opened:
        yield opened


def dump(store: Store) -> str:
    out = io.StringIO()
    with store.read() as tx:
        dump_text(tx.root(), out)
    return out.getvalue()


def raw(store: Store) -> list[tuple[bytes, bytes]]:
    """Every stored key and value, for a byte-for-byte comparison."""
    with store.read() as tx:
        return list(tx._kv.items())


def expected_namespace(name: str) -> list[str]:
    lines = BOLT_DUMP.read_text().splitlines()
    start = lines.index(f'  ["{name}"]')
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("    "))
    return ['["v1"]', *lines[start:end], lines[-1]]


def test_import_equals_bolt_dump(store: Store) -> None:
    states: list[ImportProgress] = []
    final = import_bolt(store, META_DB, progress=states.append)
    assert dump(store).splitlines() == BOLT_DUMP.read_text().splitlines()
    assert final == ImportProgress("done", 296, 22095, 296, 22095)
    assert [s.phase for s in states][-2:] == ["copying", "done"]
    assert states[-2].total_entries == 296  # the totals are known before copying starts


def test_progress_is_reported_along_the_way(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metafs.importer, "REPORT_EVERY", 50)
    states: list[ImportProgress] = []
    import_bolt(store, META_DB, progress=states.append)
    checking = [s for s in states if s.phase == "checking"]
    copying = [s for s in states if s.phase == "copying"]
    assert [s.entries for s in checking] == [50, 100, 150, 200, 250]
    assert [s.entries for s in copying] == [0, 50, 100, 150, 200, 250]
    assert all(s.total_entries == 296 and s.bytes <= s.total_bytes for s in copying)


def test_import_replaces_what_it_imports(store: Store) -> None:
    import_bolt(store, META_DB)
    with store.write() as tx:
        tx.create_buckets(b"v1", b"extra-ns", b"labels").put(b"k", b"v")
        tx.create_buckets(b"v1", b"default", b"images", b"leftover")
        tx.create_buckets(b"metafs", b"drafts").put(b"keep", b"me")  # not in the file: kept
    import_bolt(store, META_DB)
    assert dump(store).splitlines() == [
        '["metafs"]',
        '  ["drafts"]',
        '    "keep" = "me"',
        *BOLT_DUMP.read_text().splitlines(),
    ]


def test_import_one_namespace(store: Store) -> None:
    import_bolt(store, META_DB, namespace="team-b")
    assert dump(store).splitlines() == expected_namespace("team-b")


def test_import_one_namespace_keeps_the_others(store: Store) -> None:
    import_bolt(store, META_DB)
    with store.write() as tx:
        v1 = tx.bucket(b"v1")
        assert v1 is not None
        v1.put(b"version", b"\x08")  # the store's own version stays
        v1.delete_bucket(b"labeled-ns")
        tx.create_buckets(b"v1", b"team-b", b"images", b"stale")
    before = dump(store)
    import_bolt(store, META_DB, namespace="labeled-ns")
    import_bolt(store, META_DB, namespace="team-b")
    after = dump(store).splitlines()
    assert '"version" = hex:08' in after[-1]
    assert "stale" not in "\n".join(after)
    assert after[:-1] == BOLT_DUMP.read_text().splitlines()[:-1]
    assert before != dump(store)


def test_unknown_namespace(store: Store) -> None:
    import_bolt(store, META_DB)
    before = raw(store)
    with pytest.raises(NotFound, match="nope"):
        import_bolt(store, META_DB, namespace="nope")
    assert raw(store) == before


# ---- bad files leave the store exactly as it was -----------------------------------------------


@pytest.fixture
def filled(store: Store) -> Store:
    import_bolt(store, META_DB)
    with store.write() as tx:
        tx.create_buckets(b"v1", b"mine", b"labels").put(b"edited", b"yes")
    return store


def bad_files(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = META_DB.read_bytes()
    cases: dict[str, bytes] = {
        "empty": b"",
        "text": b"not a database\n" * 500,
        "cut-100": data[:100],
        "cut-4096": data[:PAGE],
        "cut-half": data[: len(data) // 2],
        "cut-last-page": data[: 55 * PAGE],
    }
    both = bytearray(data)
    both[16 + 48] ^= 1
    both[PAGE + 16 + 48] ^= 1
    cases["both-metas"] = bytes(both)
    with BoltFile(META_DB) as db:
        db.check()
        reached = sorted(db._owner)
    rng = random.Random(3)
    for pgid in reached:  # every page of the tree, the last ones read last
        damaged = bytearray(data)
        damaged[pgid * PAGE : (pgid + 1) * PAGE] = rng.randbytes(PAGE)
        cases[f"page-{pgid}"] = bytes(damaged)
    for name, content in cases.items():
        path = tmp_path / f"{name}.db"
        path.write_bytes(content)
        yield name, path


def test_bad_files_change_nothing(filled: Store, tmp_path: Path) -> None:
    before, text = raw(filled), dump(filled)
    count = 0
    for name, path in bad_files(tmp_path):
        for namespace in (None, "team-b"):
            try:
                import_bolt(filled, path, namespace=namespace)
            except (BoltFormatError, NotFound):
                pass
            else:  # damage outside the imported namespace does not matter
                assert namespace is not None, name
                continue
            count += 1
            assert raw(filled) == before, name
    assert dump(filled) == text
    assert count > 50


class Interrupted(Exception):
    pass


def test_failure_while_copying_rolls_back(filled: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    before = raw(filled)
    monkeypatch.setattr(metafs.importer, "REPORT_EVERY", 10)

    def fail(state: ImportProgress) -> None:
        if state.phase == "copying" and state.entries >= 200:
            raise Interrupted

    with pytest.raises(Interrupted):
        import_bolt(filled, META_DB, progress=fail)
    assert raw(filled) == before


def _used_offsets() -> list[int]:
    """Offsets of the bytes of the fixture's tree pages up to their last non-zero byte."""
    data = META_DB.read_bytes()
    offsets: list[int] = []
    for pgid in range(2, 56):
        used = len(data[pgid * PAGE : (pgid + 1) * PAGE].rstrip(b"\0"))
        offsets.extend(range(pgid * PAGE, pgid * PAGE + used))
    return offsets


USED = _used_offsets()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flips=st.lists(st.tuples(st.sampled_from(USED), st.integers(0, 255)), min_size=1, max_size=4)
)
def test_random_damage_imports_whole_or_not_at_all(flips: list[tuple[int, int]]) -> None:
    data = bytearray(META_DB.read_bytes())
    for offset, value in flips:
        data[offset] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "damaged.db"
        path.write_bytes(bytes(data))
        with Store.open(Path(tmp) / "store", sync=False) as target:
            with target.write() as tx:
                tx.create_buckets(b"v1", b"default").put(b"k", b"v")
            before = raw(target)
            try:
                import_bolt(target, path)
            except BoltFormatError:
                assert raw(target) == before
            else:
                out = io.StringIO()
                with BoltFile(path) as db:
                    dump_text(db.root(), out)
                assert dump(target) == out.getvalue()


def test_source_file_is_left_alone(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    shutil.copyfile(META_DB, path)
    mtime = path.stat().st_mtime_ns
    import_bolt(store, path)
    assert path.read_bytes() == META_DB.read_bytes() and path.stat().st_mtime_ns == mtime
