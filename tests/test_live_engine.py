"""The engine of a live node's meta.db: the same keys as an import, a new copy after each
commit, and no writes."""

from __future__ import annotations

import errno
import struct
import time
from pathlib import Path

import boltwriter
import pytest

from metafs.importer import import_bolt
from metafs.live.engine import LiveEngine, ReadOnlyNode
from metafs.store import Store

TASKS_DB = Path(__file__).resolve().parent / "fixtures" / "containerd" / "tasks-1" / "meta.db"


def test_the_copy_holds_what_an_import_stores() -> None:
    store = Store("memory://")
    import_bolt(store, TASKS_DB)
    imported = list(store.engine.reader().items())
    live = list(LiveEngine(str(TASKS_DB)).reader().items())
    assert live == imported and len(live) > 100


def write_db(path: Path, tree: boltwriter.Tree, txid: int) -> None:
    """Overwrite the file in place (the same inode, as bolt's writes are)."""
    data, _ = boltwriter.build(tree, txid=txid)
    with open(path, "r+b" if path.exists() else "wb") as f:
        f.write(data)


def test_a_commit_makes_a_new_copy_and_old_readers_keep_theirs(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    write_db(path, {b"v1": {b"k": b"old"}}, txid=4)
    engine = LiveEngine(str(path), recheck=0.01)
    before = engine.reader()
    assert engine.generation() == 4
    write_db(path, {b"v1": {b"k": b"new", b"l": b"1"}}, txid=6)
    time.sleep(0.02)
    assert engine.generation() == 6
    values = [v for _, v in engine.reader().items()]
    assert values == [b"", b"new", b"1"]
    assert [v for _, v in before.items()] == [b"", b"old"]


def test_a_torn_meta_page_is_not_read(tmp_path: Path) -> None:
    """A meta page whose checksum fails (a write cut short): the other meta is used."""
    path = tmp_path / "meta.db"
    write_db(path, {b"v1": {b"k": b"v"}}, txid=8)
    with open(path, "r+b") as f:  # meta page 0 (txid 8) torn: its txid changed, not its sum
        f.seek(16 + struct.calcsize("<IIIIQQQQ"))
        f.write(struct.pack("<Q", 10))
    assert LiveEngine(str(path)).generation() == 7  # meta page 1's


def test_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    write_db(path, {b"v1": {}}, txid=4)
    before = path.read_bytes()
    with pytest.raises(ReadOnlyNode) as raised:
        LiveEngine(str(path)).writer()
    assert raised.value.errno == errno.EROFS
    assert path.read_bytes() == before
