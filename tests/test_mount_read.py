"""What the mount shows: the tree, escaped and long names in it, drafts, listings, coherence."""

from __future__ import annotations

import subprocess
import time

import pytest
from mount_helpers import (
    DIGEST_A,
    DIGEST_B,
    NS,
    drop_kernel_caches,
    make_container,
    make_image,
    while_kernel_holds,
)

from metafs import Descriptor, Images
from metafs.fs import names

LONG = "registry.example.com/" + "x" * 300 + ":1"
ODD = "example.com/odd name with 100%/x:1"


def fill(store) -> None:
    make_image(store, "docker.io/library/redis:7", {"a/b": "slash", "env": "prod"})
    make_image(store, ODD)
    make_image(store, LONG)
    make_container(store, "web-1", image="docker.io/library/redis:7")
    with store.write() as tx:
        Images(tx, NS).create_draft("draft:1")
        Images(tx, NS).set_target_field("draft:1", "size", 10)


@pytest.fixture(scope="module")
def env(mount_factory):
    return mount_factory(fill=fill)


def test_tree(env):
    mnt, _ = env
    assert mnt.sh("ls").stdout.split() == ["containers", "content", "images", "leases", "snapshots"]
    assert mnt.sh("ls images/docker.io%2Flibrary%2Fredis:7").stdout.split() == [
        "createdat",
        "digest",
        "labels",
        "mediatype",
        "size",
        "updatedat",
    ]
    assert mnt.sh("ls containers/web-1").stdout.split() == [
        "createdat",
        "image",
        "labels",
        "runtime",
        "snapshotkey",
        "snapshotter",
        "spec",
        "updatedat",
    ]
    assert mnt.sh("ls -ld images containers/web-1").stdout.startswith("d")
    created = mnt.sh("cat containers/web-1/createdat").stdout
    assert created.endswith("Z\n") and created[10] == "T"


def test_names_are_escaped_reversibly(env):
    mnt, _ = env
    listed = mnt.sh("ls images").stdout.split("\n")
    assert "docker.io%2Flibrary%2Fredis:7" in listed
    assert "example.com%2Fodd name with 100%25%2Fx:1" in listed
    assert mnt.sh("ls images/docker.io%2Flibrary%2Fredis:7/labels").stdout.split() == [
        "a%2Fb",
        "env",
    ]
    assert mnt.sh("cat 'images/example.com%2Fodd name with 100%25%2Fx:1/digest'").stdout == (
        DIGEST_A + "\n"
    )


def test_long_names_stay_reachable(env):
    mnt, _ = env
    filename = names.encode(LONG.encode()).decode()
    assert len(filename.encode()) <= 255 and "%~" in filename
    assert filename in mnt.sh("ls images").stdout.split("\n")
    assert mnt.sh(f"cat images/{filename}/digest").stdout == DIGEST_A + "\n"


def test_drafts_are_listed_with_partial_fields(env):
    mnt, _ = env
    assert "draft:1" in mnt.sh("ls images").stdout.split()
    out = mnt.sh("cd images/draft:1 && cat digest mediatype size").stdout
    assert out == "\n\n10\n"


def test_another_process_change_shows_within_one_second(env):
    mnt, store = env
    d = "images/docker.io%2Flibrary%2Fredis:7"
    assert mnt.sh(f"cat {d}/digest && ls {d}/labels && stat {d}/digest").returncode == 0
    with store.write() as tx:
        images = Images(tx, NS)
        images.set_target_field("docker.io/library/redis:7", "digest", DIGEST_B)
        images.set_label("docker.io/library/redis:7", "env", "")
    make_image(store, "late:1")
    changed = time.monotonic()
    seen = {}
    while len(seen) < 3 and time.monotonic() - changed < 3:
        if "digest" not in seen and mnt.sh(f"cat {d}/digest").stdout == DIGEST_B + "\n":
            seen["digest"] = time.monotonic() - changed
        if "label" not in seen and mnt.sh(f"ls {d}/labels").stdout.split() == ["a%2Fb"]:
            seen["label"] = time.monotonic() - changed
        if "image" not in seen and "late:1" in mnt.sh("ls images").stdout.split():
            seen["image"] = time.monotonic() - changed
        time.sleep(0.02)
    assert set(seen) == {"digest", "label", "image"}
    assert max(seen.values()) < 1.0, seen
    assert mnt.sh(f"cat {d}/labels/env").returncode != 0


def test_readdir_resumes_across_requests(mount_factory):
    """2,000 entries take about ten readdir requests; each must continue where the last
    stopped: every name once, in the store's order."""
    expected = sorted(f"img-{i:05d}:{'t' * (i % 40)}" for i in range(2000))

    def many(store):  # every 40th a draft: listings merge images and drafts
        target = Descriptor("application/vnd.oci.image.manifest.v1+json", DIGEST_A, 1)
        with store.write() as tx:
            images = Images(tx, "bulk")
            for name in expected:
                if name.endswith(":"):
                    images.create_draft(name)
                else:
                    images.put(name, target)

    mnt, _ = mount_factory("-n", "bulk", fill=many)
    listed = mnt.sh("ls -f images").stdout.split("\n")[:-1]
    assert listed == expected
    assert mnt.sh("ls images | wc -l").stdout.strip() == "2000"


def test_every_entry_has_its_own_inode(mount_factory):
    """Fixed entries (fields, labels/, the times) get numbers derived from their directory's;
    no two entries share one, a label named like a field included, and a number holds while
    the kernel caches the entry."""

    def fill_clashing(store):
        for i in range(3):
            make_image(store, f"img-{i}:1", {"digest": "a label", "size": "another"})
        make_container(store, "c-1", labels={"spec": "x"})

    mnt, _ = mount_factory(fill=fill_clashing)
    listed = mnt.sh("find images containers -printf '%i %p\\n'", check=True).stdout.splitlines()
    numbers = [line.split(" ", 1)[0] for line in listed]
    assert len(listed) == 2 + 3 * 9 + 10 and len(set(numbers)) == len(numbers)
    twice = mnt.sh(
        "stat -c %i images/img-1:1/digest images/img-1:1/labels/digest "
        "containers/c-1/labels containers/c-1/labels/spec; "
        "stat -c %i images/img-1:1/digest images/img-1:1/labels/digest "
        "containers/c-1/labels containers/c-1/labels/spec",
        check=True,
    ).stdout.split()
    assert twice[:4] == twice[4:] and len(set(twice)) == 4
    assert mnt.sh("cat images/img-1:1/labels/digest containers/c-1/labels/spec").stdout == (
        "a label\nx\n"
    )


def test_walked_nodes_are_forgotten_past_max_nodes(mount_factory):
    """The daemon's memory follows a bound, not the number of objects walked: past
    --max-nodes it lets the kernel forget old subtrees, and their nodes are freed (a fresh
    lookup then gets a new inode number)."""

    def many(store):
        for i in range(60):
            make_image(store, f"walk-{i:03d}:1", {"k": "v"})

    mnt, _ = mount_factory("--max-nodes", "100", fill=many)
    # Which objects go first depends on when the sweep runs during the walk, so watch them all.
    inodes = "stat -c '%n %i' images/*/digest images/*/labels/k"
    first = mnt.sh(inodes, check=True).stdout
    assert len(first.splitlines()) == 120
    assert wait_for_change(lambda: mnt.sh(inodes).stdout, first)


def test_listed_entries_keep_their_numbers_past_max_nodes(mount_factory):
    """A listing costs no nodes, so one longer than --max-nodes evicts nothing. A name the
    kernel holds keeps its number in the next listing, after a commit through the mount or by
    another process too; a name removed and made again gets a new one."""

    def many(store):
        for i in range(400):
            make_image(store, f"list-{i:03d}:1", {"k": "v"})

    mnt, store = mount_factory("--max-nodes", "200", fill=many)

    def listed():
        out = mnt.sh("ls -f -i images", check=True).stdout.splitlines()
        return dict(line.split()[::-1] for line in out if line.split()[1].startswith("list-"))

    def looked_up() -> tuple[dict[str, str], dict[str, str], list[str]]:
        first = listed()
        time.sleep(1.5)  # three sweeps, and the entries are looked up again (no glob: no listing)
        # A lookup makes a listed entry a node: look up fewer than --max-nodes, or the sweep
        # rightly evicts some of them, and they come back with new numbers.
        some = sorted(first)[::8]
        return first, numbers(mnt, " ".join(f"images/{name}" for name in some)), some

    first, found, some = while_kernel_holds(looked_up)
    assert len(first) == 400 and len(set(first.values())) == 400
    assert found == {name: first[name] for name in some}

    def other_commit():
        with store.write() as tx:
            images = Images(tx, NS)
            images.update(images.get("list-200:1").replace(labels={"k": "other"}), "labels.k")

    for commit in (
        lambda: mnt.sh("echo w > images/list-007:1/labels/k && cat images/list-123:1/labels/k"),
        other_commit,
    ):
        before, after = while_kernel_holds(lambda c=commit: (listed(), c(), listed())[::2])
        assert after == before
    assert mnt.sh("cat images/list-200:1/labels/k").stdout == "other\n"

    def made_again() -> tuple[dict[str, str], dict[str, str]]:
        first = listed()
        mnt.sh("rmdir images/list-300:1 && mkdir images/list-300:1", check=True)
        return first, listed()

    first, again = while_kernel_holds(made_again)
    renewed = int(again.pop("list-300:1"))
    assert str(renewed) not in first.values()
    # Listings after commits took no numbers: the new one comes next to the first ones.
    assert renewed < max(map(int, first.values())) + 400 * 16
    del first["list-300:1"]
    assert again == first


def test_a_listed_entry_is_the_entry_a_lookup_finds(mount_factory):
    """Whatever names a listing shows (escaped, long, containers), a lookup of the same name
    gives the same inode, and renaming a listed image keeps its number."""
    mnt, _ = mount_factory(fill=fill)

    def listed() -> dict[str, str]:
        found = {}
        for top in ("images", "containers"):  # ls -f: the numbers getdents gives, no stat
            for line in mnt.sh(f"ls -f -i -1 {top}", check=True).stdout.splitlines():
                ino, name = line.split(None, 1)
                if name not in (".", ".."):
                    found[name] = ino
        return found

    def looked_up() -> tuple[dict[str, str], dict[str, str]]:
        first = listed()
        time.sleep(1.2)  # past the entries' timeout: each name is looked up again
        paths = " ".join(
            f"'{top}/{name}'"
            for top in ("images", "containers")
            for name in first
            if (name == "web-1") == (top == "containers")
        )
        return first, numbers(mnt, paths)

    first, found = while_kernel_holds(looked_up)
    long_name = names.encode(LONG.encode()).decode()
    assert long_name in first and "web-1" in first and len(first) == 5
    assert found == first
    assert mnt.sh(f"cat images/{long_name}/digest containers/web-1/image", check=True).stdout

    def renamed() -> tuple[str, dict[str, str]]:
        number = listed()["draft:1"]
        mnt.sh("mv images/draft:1 images/renamed:1", check=True)
        after = numbers(mnt, "images/renamed:1")
        mnt.sh("mv images/renamed:1 images/draft:1", check=True)
        return number, after

    number, after = while_kernel_holds(renamed)
    assert after == {"renamed:1": number}


def test_listed_entries_are_forgotten_with_the_kernels_cache(mount_factory):
    """When the kernel forgets the entries a listing gave it, the daemon forgets them too: a
    later lookup gets a new number."""

    def some(store):
        for i in range(30):
            make_image(store, f"gone-{i:02d}:1")

    mnt, _ = mount_factory(fill=some)
    out = mnt.sh("ls -f -i images", check=True).stdout.split()
    first = {
        name: ino for ino, name in zip(out[::2], out[1::2], strict=True) if name.startswith("gone-")
    }
    assert len(first) == 30
    assert numbers(mnt, "images/gone-*") == first  # held: a lookup keeps the number

    def forgotten():
        drop_kernel_caches()
        return numbers(mnt, "images/gone-*")

    # A process inside images/ keeps it: only its entries are forgotten, not the directory.
    inside = subprocess.Popen(["sleep", "60"], cwd=mnt.path / "images")
    try:
        assert wait_for_change(forgotten, first)
    finally:
        inside.kill()
        inside.wait()


def numbers(mnt, paths: str) -> dict[str, str]:
    """The inode number of each of `paths` (a shell word list), by file name."""
    out = mnt.sh(f"stat -c '%i %n' {paths}", check=True).stdout.splitlines()
    return {name.split("/", 1)[1]: ino for ino, name in (line.split(" ", 1) for line in out)}


def wait_for_change(read, old, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read() != old:
            return True
        time.sleep(0.1)
    return False
