"""After a refusal the kernel and the store agree, and what a user can write never gives EIO
(issue 19.1, 19.2; issue 20's long label keys as extended attributes)."""

from __future__ import annotations

import pytest
from mount_helpers import eventually, image, make_image

from metafs import Images

LONG_KEY = "example.com/" + "k" * 300  # containerd allows label keys up to 4095 bytes


@pytest.fixture(scope="module")
def env(mount_factory):
    return mount_factory(fill=lambda store: make_image(store, "app:1", {"env": "prod"}))


def test_a_refused_first_value_leaves_the_next_write_working(env):
    """`create` gave the kernel an entry for a label that did not exist yet; after the
    refusal the next `echo` must create it, not fail with ENOENT on the kernel's entry."""
    mnt, store = env
    labels = "images/app:1/labels"
    script = f"""
    for i in $(seq 25); do
        printf 'v%.0s' {{1..4096}} > {labels}/k$i && exit 10   # over 4096 bytes: refused
        echo good$i > {labels}/k$i || exit 11
    done
    """
    result = mnt.sh(script)
    assert result.returncode == 0, result.stderr
    assert "Invalid argument" in result.stderr and "No such file" not in result.stderr
    labels_now = image(store, "app:1").labels
    assert {f"k{i}": labels_now[f"k{i}"] for i in range(1, 26)} == {
        f"k{i}": f"good{i}" for i in range(1, 26)
    }
    # the refused name alone, with nothing after it: no trace of it anywhere
    assert mnt.sh(f"printf 'v%.0s' {{1..4096}} > {labels}/lone").returncode == 1
    # the kernel is told to drop its entry when the file is released, just after close():
    # well within the 0.9 s it would otherwise keep it
    eventually(lambda: mnt.sh(f"stat {labels}/lone").returncode, 1, timeout=0.5)
    assert "lone" not in mnt.sh(f"ls {labels}", check=True).stdout
    assert "lone" not in image(store, "app:1").labels


def test_a_label_removed_elsewhere_is_created_again_by_a_write(env):
    """The kernel may still hold the entry of a label another process removed."""
    mnt, store = env
    path = "images/app:1/labels/gone"
    mnt.sh(f"echo first > {path} && cat {path}", check=True)
    with store.write() as tx:
        Images(tx, "default").set_label("app:1", "gone", "")  # removed by another process
    mnt.sh(f"echo again > {path}", check=True)
    assert image(store, "app:1").labels["gone"] == "again"


def test_listxattr_lists_only_names_getxattr_serves(env):
    """A key holding NUL (the file `labels/%00`) or longer than an attribute name may be is
    not an extended attribute: `getfattr -d` shows the others and succeeds."""
    mnt, store = env
    with store.write() as tx:
        Images(tx, "default").set_label("app:1", LONG_KEY, "long")
    mnt.sh("echo nul > images/app:1/labels/%00", check=True)
    assert image(store, "app:1").labels["\0"] == "nul"
    result = mnt.sh("getfattr -d images/app:1")
    assert result.returncode == 0, result.stderr
    assert 'user.env="prod"' in result.stdout
    assert "kkkk" not in result.stdout
    names = mnt.sh("getfattr -m - images/app:1", check=True).stdout.split()[3:]
    assert "user.env" in names
    for name in names:  # each listed name is readable
        mnt.sh(f"getfattr -n {name} images/app:1", check=True)
    # they remain files in labels/
    listed = mnt.sh("ls images/app:1/labels", check=True).stdout.split()
    assert "%00" in listed and any(n.startswith("example.com%2Fkkk") for n in listed)
    assert mnt.sh("cat images/app:1/labels/%00", check=True).stdout == "nul\n"
