"""`metafs backup` copies a store consistently while another process writes to it, and
`metafs check` verifies a store, naming every object that does not read or validate."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from cli_helpers import DIGEST, env, metafs
from conftest import wait_for

from metafs import Descriptor, Image, Images, Store
from metafs.layout import KEY, bucket_prefix, component

# Each transaction adds image i and sets the label `last` of image `counter` to i: in any
# consistent state, the images other than `counter` are exactly 0..last.
STORM = """
    import sys
    from pathlib import Path
    from metafs import Descriptor, Image, Images, Store

    store, stop = Store.open(sys.argv[1]), Path(sys.argv[2])
    digest = "sha256:" + "cd" * 32
    i = 0
    while not stop.exists():
        with store.write() as tx:
            images = Images(tx, "default")
            images.create(Image(f"storm/{i:06d}", Descriptor("m", digest, 1),
                                labels={"pad": "p" * (i % 3000)}))
            images.set_label("counter", "last", str(i))
        i += 1
        if i % 50 == 0:  # and deletes, so that LMDB reuses freed pages during the copy
            with store.write() as tx:
                images = Images(tx, "default")
                for gone in range(i - 50, i - 25):
                    images.delete(f"storm/{gone:06d}")
                    images.create(Image(f"storm/{gone:06d}", Descriptor("m", digest, 2)))
    print(i)
"""


def test_backup_during_a_write_storm_is_consistent(tmp_path):
    store, stop = tmp_path / "store", tmp_path / "stop"
    with Store.open(store) as opened, opened.write() as tx:
        Images(tx, "default").create(Image("counter", Descriptor("m", DIGEST, 1)))
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(STORM), str(store), str(stop)],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with Store.open(store, readonly=True) as opened:  # the storm has begun
            assert wait_for(lambda: opened.generation() > 20, timeout=30), writer.poll()
        copies = []
        for n in range(6):
            copy = tmp_path / f"copy{n}"
            result = metafs(store, "backup", str(copy))
            assert (result.returncode, result.stderr) == (0, ""), result.stderr
            copies.append(copy)
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert int(out) > 50, "the writer hardly wrote during the copies"
    seen = set()
    for copy in copies:
        result = metafs(copy, "check")
        assert (result.returncode, result.stderr) == (0, ""), result.stdout + result.stderr
        assert "no problems" in result.stdout
        assert metafs(copy, "dump").returncode == 0
        with Store.open(copy, readonly=True) as opened, opened.read() as tx:
            images = Images(tx, "default")
            last = int(images.get("counter").labels["last"])
            names = [n for n in images.names() if n != "counter"]
        assert names == [f"storm/{i:06d}" for i in range(last + 1)]
        seen.add(last)
    assert len(seen) > 1, "every copy saw the same state: the copies did not overlap writes"


def test_backup_refuses_a_destination_in_use_and_leaves_it(tmp_path):
    store = tmp_path / "store"
    Store.open(store).close()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "mine").write_text("x")
    result = metafs(store, "backup", str(tmp_path / "used"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "not empty" in result.stderr
    assert [p.name for p in (tmp_path / "used").iterdir()] == ["mine"]


def test_check_names_each_object_that_does_not_read_or_validate(tmp_path):
    store = tmp_path / "store"
    with Store.open(store) as opened:
        with opened.write() as tx:
            images = Images(tx, "default")
            for name in ("good:1", "broken:1", "badlabel:1"):
                images.create(Image(name, Descriptor("m", DIGEST, 1)))
        with opened.write() as tx:  # what containerd could never have written
            path = (b"v1", b"default", b"images")
            put = tx._writer().put
            put(bucket_prefix((*path, b"broken:1")) + component(b"createdat", KEY), b"\x07bad")
            labels = bucket_prefix((*path, b"badlabel:1", b"labels"))
            tx.bucket(*path, b"badlabel:1").create_bucket(b"labels")
            put(labels + component(b"k", KEY), b"v" * 5000)  # over containerd's 4096 bytes
    result = metafs(store, "check")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    assert lines[0].startswith('namespace "default": image "badlabel:1": ')
    assert lines[1].startswith('namespace "default": image "broken:1": ')
    assert result.stderr == f"metafs: store {store}: 2 problems: error\n"
    assert "good:1" not in result.stdout
