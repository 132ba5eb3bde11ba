"""`metafs import` and `metafs dump` with the real fixture, and with files that are not bolt."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest
from cli_helpers import env, fails, ok
from containerd_fixture import BOLT_DUMP, EXPECTED, META_DB

from metafs import Store


@pytest.fixture
def store(new_store):
    return new_store()


def test_import_copies_the_file_and_says_what_it_copied(store):
    out = ok(store, "import", str(META_DB))
    assert out.startswith("imported ") and out.endswith(f"from {META_DB}\n")
    expected = (EXPECTED / "default.images-ls-q.txt").read_text()
    assert ok(store, "images", "ls", "-q") == expected
    assert ok(store, "namespaces", "ls", "-q") == "default\nlabeled-ns\nteam-b\n"


def test_import_json_says_the_same(store, new_store):
    text = ok(new_store("text"), "import", str(META_DB))
    summary = json.loads(ok(store, "import", "--format", "json", str(META_DB)))
    assert summary == {
        "path": str(META_DB),
        "namespace": None,
        "entries": int(text.split()[1]),
        "bytes": int(text.split("(")[1].split()[0]),
    }
    one = json.loads(ok(store, "import", "--namespace", "team-b", "--format", "json", str(META_DB)))
    assert one["namespace"] == "team-b" and 0 < one["entries"] < summary["entries"]


def test_import_replaces_what_was_there(store):
    Store.open(store).close()  # a new store (`--store` naming none is refused but by import)
    ok(store, "namespaces", "create", "leftover")
    ok(store, "import", "--namespace", "team-b", str(META_DB))
    assert ok(store, "namespaces", "ls", "-q") == "leftover\nteam-b\n"
    ok(store, "import", "-q", str(META_DB))
    assert ok(store, "namespaces", "ls", "-q") == "default\nlabeled-ns\nteam-b\n"


@pytest.mark.parametrize("damage", ["not bolt", "truncated", "corrupt meta", "empty"])
def test_bad_files_are_refused_and_the_store_kept(store, tmp_path, damage):
    Store.open(store).close()
    ok(store, "namespaces", "create", "kept")
    data = META_DB.read_bytes()
    bad = tmp_path / "bad.db"
    if damage == "not bolt":
        bad.write_bytes(b"SQLite format 3\x00" + bytes(8192))
    elif damage == "truncated":
        bad.write_bytes(data[: len(data) // 3])
    elif damage == "corrupt meta":
        both = bytearray(data)
        for page in (0, 1):
            both[page * 4096 + 40] ^= 0xFF  # inside each meta page, under its checksum
        bad.write_bytes(bytes(both))
    else:
        bad.write_bytes(b"")
    line = fails(store, "import", str(bad))
    assert str(bad) in line
    assert ok(store, "namespaces", "ls", "-q") == "kept\n"


def test_import_of_a_missing_file_or_namespace(store, tmp_path):
    Store.open(store).close()
    assert "not found" in fails(store, "import", str(tmp_path / "nope.db"))
    assert "not found" in fails(store, "import", "--namespace", "nope", str(META_DB))


@pytest.mark.parametrize("source", ["missing file", "missing namespace", "not bolt"])
def test_a_refused_import_creates_no_store(new_store, tmp_path, source):
    """The file is checked before the store is opened: a typo in its path leaves no empty
    store where the import would have made one."""
    store = new_store("never")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + bytes(8192))
    args = {
        "missing file": [str(tmp_path / "nope.db")],
        "missing namespace": ["--namespace", "nope", str(META_DB)],
        "not bolt": [str(bad)],
    }[source]
    fails(store, "import", *args)
    assert fails(store, "dump") == f'metafs: store "{store}": not found'


def test_dump_after_import_is_what_bbolt_printed(store):
    ok(store, "import", str(META_DB))
    assert ok(store, "dump") == BOLT_DUMP.read_text(encoding="utf-8")
    tree = json.loads(ok(store, "dump", "--format", "json"))
    assert set(tree) == {"v1"} and {"default", "labeled-ns", "team-b"} <= set(tree["v1"])


def test_dump_of_a_store_that_does_not_exist(new_store):
    missing = new_store("missing")
    assert fails(missing, "dump") == f'metafs: store "{missing}": not found'  # on etcd too


def test_progress_is_shown_on_a_terminal_only(store):
    master, slave = pty.openpty()
    result = subprocess.run(
        [sys.executable, "-m", "metafs", "--store", str(store), "import", str(META_DB)],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env(),
        timeout=60,
    )
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal's other side is closed: all read
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert result.returncode == 0
    assert b"\rcopying: " in shown and b"entries (100%)" in shown
    assert shown.endswith(b"\r\x1b[K")  # the status line is cleared at the end
    assert (
        b"copying"
        not in subprocess.run(
            [sys.executable, "-m", "metafs", "--store", str(store), "import", str(META_DB)],
            capture_output=True,
            env=env(),
        ).stderr
    )
