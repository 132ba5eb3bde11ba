"""The mount seen with ls -la, stat, test -w, df and find (issue 20): mode bits that say what a
write would do, link counts, directory times that follow their entries, real sizes."""

from __future__ import annotations

import os
import time

import pytest
from mount_helpers import eventually, make_container, make_image

from metafs import Content, Images

CONFIG = "sha256:" + "c" * 64


def fill(store):
    make_image(store, "app:1", {"env": "prod"})
    make_container(store, "web-1")
    with store.write() as tx:
        Content(tx, "default").create(CONFIG, 10, {"containerd.io/gc.root": "x"})


@pytest.fixture(scope="module")
def env(mount_factory):
    return mount_factory(fill=fill)


def modes(mnt, *paths: str) -> dict[str, str]:
    out = mnt.sh("stat -c '%n %A %h' " + " ".join(paths), check=True).stdout
    return {path: rest for path, rest in (line.split(" ", 1) for line in out.splitlines())}


def test_mode_bits_and_test_w_say_what_a_write_would_do(env):
    mnt, _ = env
    read_only = [
        ".",
        "content",
        f"content/{CONFIG}",
        f"content/{CONFIG}/labels",
        "leases",
        "snapshots",
    ]
    writable = [
        "images",
        "images/app:1",
        "images/app:1/labels",
        "containers",
        "containers/web-1",
        "containers/web-1/labels",
    ]
    shown = modes(mnt, *read_only, *writable)
    for path in read_only:
        assert shown[path].startswith("dr-xr-xr-x"), (path, shown[path])
        assert mnt.sh(f"test -w {path}").returncode == 1, path  # root too: access() asks us
        assert mnt.sh(f"test -r {path} && test -x {path}").returncode == 0, path
    for path in writable:
        assert shown[path].startswith("drwxr-xr-x"), (path, shown[path])
        assert mnt.sh(f"test -w {path}").returncode == 0, path
    # what the bits promise
    assert "Operation not permitted" in mnt.sh("mkdir new").stderr
    assert "Operation not permitted" in mnt.sh("mkdir content/x").stderr
    mnt.sh("mkdir images/made:1 && rmdir images/made:1", check=True)
    listing = mnt.sh("ls -la", check=True).stdout
    assert "dr-xr-xr-x" in listing and "drwxr-xr-x" in listing


def test_read_only_mount_shows_no_w_bits(mount_factory):
    mnt, _ = mount_factory("--read-only", fill=fill)
    shown = modes(mnt, ".", "images", "images/app:1", "images/app:1/labels", "containers")
    assert all(mode.startswith("dr-xr-xr-x") for mode in shown.values()), shown
    assert mnt.sh("test -w images || test -w images/app:1/labels").returncode == 1


def test_link_counts_are_two_plus_subdirectories_or_one_when_not_counted(env):
    mnt, _ = env
    links = {
        path: int(rest.split()[1])
        for path, rest in modes(
            mnt,
            ".",
            "images",
            "images/app:1",
            "images/app:1/labels",
            "images/app:1/size",
            "containers",
            "content",
            f"content/{CONFIG}",
            f"content/{CONFIG}/labels",
            "snapshots",
            "leases",
        ).items()
    }
    assert links == {
        ".": 7,  # five collections
        "images": 1,
        "containers": 1,
        "content": 1,
        "snapshots": 1,
        "leases": 1,
        "images/app:1": 3,
        f"content/{CONFIG}": 3,  # labels/
        "images/app:1/labels": 2,
        f"content/{CONFIG}/labels": 2,
        "images/app:1/size": 1,
    }
    # find walks every directory whatever the counts (no leaf optimisation on nlink 1)
    found = mnt.sh("find . -type d | sort", check=True).stdout.splitlines()
    assert "./images/app:1/labels" in found and f"./content/{CONFIG}/labels" in found
    assert mnt.sh("find images -name env", check=True).stdout == "images/app:1/labels/env\n"


def mtime(mnt, path: str) -> int:
    return int(mnt.sh(f"stat -c %.9Y {path}", check=True).stdout.replace(".", ""))


def test_collection_mtime_follows_new_removed_and_renamed_entries(env):
    mnt, store = env
    for directory, change in (
        ("images", "mkdir images/fresh:1"),
        ("images", "mv images/fresh:1 images/moved:1"),
        ("images", "rmdir images/moved:1"),
        ("containers", "mkdir containers/c-new"),
        ("containers", "rmdir containers/c-new"),
    ):
        before = mtime(mnt, directory)
        time.sleep(0.01)
        mnt.sh(change, check=True)
        assert mtime(mnt, directory) > before, change
    # a label write is not a change of images/ entries
    before = mtime(mnt, "images")
    mnt.sh("echo v > images/app:1/labels/k", check=True)
    assert mtime(mnt, "images") == before
    # another process's new image shows once images/ is listed again
    mnt.sh("ls images", check=True)
    with store.write() as tx:
        images = Images(tx, "default")
        images.put("other:1", images.get("app:1").target)
    time.sleep(1)  # the kernel's cached attributes expire
    mnt.sh("ls images", check=True)  # the kernel is told its attributes of images/ are stale
    eventually(lambda: mtime(mnt, "images") > before, True, timeout=0.5)


def test_df_shows_the_store_size_and_the_free_space(env):
    mnt, store = env
    out = mnt.sh("df -B1 --output=size,used,avail .", check=True).stdout.split()
    size, used, avail = (int(n) for n in out[-3:])
    stored, free = store.space()
    assert used > 0 and size == used + avail
    assert abs(used - stored) <= 4096 * 16  # pages committed since
    fs = os.statvfs(store.path)
    assert abs(avail - fs.f_bavail * fs.f_frsize) < 64 << 20  # the disk's free space
    assert abs(avail - free) < 64 << 20


def test_a_file_keeps_its_mtime_until_its_own_value_changes(env):
    """nano asks "File was modified since you opened it" when the mtime it saw at open grew:
    another label or field of the same object changing must not move a file's mtime."""
    mnt, store = env
    d = "images/app:1"
    mnt.sh(f"echo mine > {d}/labels/mine", check=True)
    files = (f"{d}/labels/mine", f"{d}/mediatype", f"{d}/createdat")
    before = {path: mtime(mnt, path) for path in files}
    time.sleep(0.01)
    mnt.sh(f"echo other > {d}/labels/other", check=True)  # through the mount
    with store.write() as tx:  # and by another process
        Images(tx, "default").set_label("app:1", "third", "x")
    time.sleep(1)  # past the kernel's attribute cache
    assert {path: mtime(mnt, path) for path in files} == before
    assert mtime(mnt, f"{d}/updatedat") > before[f"{d}/labels/mine"]  # its value changed
    # its own value changed: through the mount, then by another process
    mnt.sh(f"echo new > {d}/labels/mine", check=True)
    changed = mtime(mnt, f"{d}/labels/mine")
    assert changed > before[f"{d}/labels/mine"]
    with store.write() as tx:
        Images(tx, "default").set_label("app:1", "mine", "newer")
    time.sleep(1)
    assert mtime(mnt, f"{d}/labels/mine") > changed
    assert mtime(mnt, f"{d}/mediatype") == before[f"{d}/mediatype"]
