"""A store on a full filesystem (a small tmpfs): writes are refused with ENOSPC and change
nothing, deletes still commit, and writes work again once space is freed. Needs root (mount)."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest
from conftest import Mount

from metafs import Descriptor, Image, Images, Store, StoreFull
from metafs.engines.lmdb import REFILL_MARGIN, RESERVE, RESERVE_SIZE

DIGEST = "sha256:" + "ab" * 32
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs")


@pytest.fixture
def small_fs(tmp_path: Path):
    """A 3 MiB tmpfs, unmounted at the end whatever happens."""
    fs = tmp_path / "fs"
    fs.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(fs)], check=True
    )
    try:
        yield fs
    finally:
        subprocess.run(["umount", "-l", str(fs)], check=False)


def set_label(store: Store, key: str, value: str, image: str = "app:1") -> None:
    with store.write() as tx:
        Images(tx, "default").set_label(image, key, value)


def labels(store: Store, image: str = "app:1") -> dict[str, str]:
    with store.read() as tx:
        return Images(tx, "default").get(image).labels


def fill_labels(store: Store, size: int = 2000) -> int:
    """Add labels until the filesystem is full; how many were added."""
    added = 0
    while True:
        try:
            set_label(store, f"k{added:05d}", "v" * size)
        except StoreFull as exc:
            assert exc.errno == errno.ENOSPC
            return added
        added += 1
        assert added < 10_000, "the filesystem never filled"


FILLER = RESERVE_SIZE + REFILL_MARGIN  # freed, enough for writes to resume


def test_deletes_commit_on_a_full_filesystem_and_writes_resume_once_space_is_freed(small_fs):
    (small_fs / "filler").write_bytes(b"f" * FILLER)  # something else on the disk
    with Store.open(small_fs / "store") as store:
        with store.write() as tx:
            Images(tx, "default").create(Image("app:1", Descriptor("m", DIGEST, 1)))
        added = fill_labels(store)
        assert added > 50
        before = labels(store)
        generation = store.generation()
        with pytest.raises(StoreFull):  # refused, and nothing changed
            set_label(store, "one-more", "x" * 2000)
        assert labels(store) == before and store.generation() == generation
        for i in range(added):  # every delete commits, each one a label less
            set_label(store, f"k{i:05d}", "")
        assert labels(store) == {}
        with pytest.raises(StoreFull):  # still full: what LMDB frees stays in its file
            set_label(store, "new", "x")
        (small_fs / "filler").unlink()
        set_label(store, "new", "x")
        assert labels(store) == {"new": "x"}
        assert (small_fs / "store" / RESERVE).stat().st_size == RESERVE_SIZE  # ready again
        assert fill_labels(store) > 10  # and the cycle starts again
        set_label(store, "new", "")
        assert "new" not in labels(store)


def test_after_the_first_refusal_every_write_that_adds_data_is_refused(small_fs):
    """The rule: once a commit found the disk full, writes that add data fail with ENOSPC
    until space is freed outside the store; removals go on; what was refused is not stored.
    (Before: the reserve given up at the first refusal was taken back by the next write, and
    about 9 writes were accepted, then refusals again.)"""
    (small_fs / "filler").write_bytes(b"f" * FILLER)
    with Store.open(small_fs / "store") as store:
        with store.write() as tx:
            Images(tx, "default").create(Image("app:1", Descriptor("m", DIGEST, 1)))
        added = fill_labels(store, size=1500)
        accepted = []
        for i in range(40):  # small values too: they fit where the refused commit wrote
            try:
                set_label(store, f"more{i}", "v" * (10 if i % 2 else 1500))
                accepted.append(i)
            except StoreFull:
                pass
        assert accepted == []
        assert len(labels(store)) == added
        set_label(store, "k00000", "")  # a removal commits
        with pytest.raises(StoreFull):  # and leaves the refusals as they were
            set_label(store, "small", "x")
    # another process (the command line) opening the store does not end them either
    with Store.open(small_fs / "store") as store, pytest.raises(StoreFull):
        set_label(store, "small", "x")
    (small_fs / "filler").unlink()
    with Store.open(small_fs / "store") as store:
        set_label(store, "small", "x")
        assert labels(store)["small"] == "x" and len(labels(store)) == added


def test_a_full_disk_through_the_mount_gives_enospc_and_rm_works(small_fs):
    (small_fs / "filler").write_bytes(b"f" * FILLER)
    store_dir = small_fs / "store"
    with Store.open(store_dir) as store, store.write() as tx:
        Images(tx, "default").create(Image("app:1", Descriptor("m", DIGEST, 1)))
    mount = Mount(store_dir, small_fs.parent / "mnt")
    try:
        value = "v" * 1500
        result = mount.sh(
            f"for i in $(seq 1 3000); do echo {value} > images/app:1/labels/k$i || exit 0; done;"
            " exit 9"
        )
        assert result.returncode == 0, "the filesystem never filled"
        assert "No space left on device" in result.stderr, result.stderr
        result = mount.sh(  # refused from then on, every one
            f"for i in $(seq 1 20); do echo {value} > images/app:1/labels/more$i && exit 1;"
            " done; exit 0"
        )
        assert result.returncode == 0 and result.stderr.count("No space left") == 20
        kept = mount.sh("ls images/app:1/labels").stdout.split()
        assert len(kept) > 50
        for name in kept[:40]:
            mount.sh(f"rm images/app:1/labels/{name}", check=True)
        assert mount.sh("ls images/app:1/labels").stdout.split() == kept[40:]
        result = mount.sh("echo x > images/app:1/labels/new")  # what rm frees stays in LMDB
        assert result.returncode == 1 and "No space left" in result.stderr
        (small_fs / "filler").unlink()
        # A draft image (mkdir, no target yet) rewrites its whole record on each label
        # write: a commit of several pages, cut short by the full disk.
        mount.sh("mkdir images/draft:1", check=True)
        result = mount.sh(
            f"for i in $(seq 1 3000); do echo {value} > images/draft:1/labels/k$i || exit 0;"
            " done; exit 9"
        )
        assert result.returncode == 0, "the filesystem never filled"
        assert "No space left on device" in result.stderr, result.stderr
        assert "Input/output error" not in result.stderr
        result = mount.sh("rmdir images/draft:1")
        assert result.returncode == 0, result.stderr
        mount.sh("rm images/app:1/labels/*", check=True)
        assert mount.sh("ls images/app:1/labels").stdout == ""
    finally:
        assert mount.stop() == 0
    assert mount.unexpected_errors() == []
