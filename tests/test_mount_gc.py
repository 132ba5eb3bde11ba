"""The garbage collector's reference-graph cases through the mount (issue 5): each state is
built through the store API, the delete is an `rmdir` in the mount, and the result is checked
in the mount (`ls`, `cat why`) and through the API.

All cases share one mount of one store. Every case leaves only what something keeps (the
collection of a delete is namespace-wide), so each can say exactly what its delete removed.
"""

from __future__ import annotations

import pytest
from gc_world import (
    container,
    dg,
    diff,
    digests,
    dump,
    image,
    layers,
    manifest,
    snapshot_keys,
    tops,
)
from mount_helpers import eventually, why_chains

from metafs import Content, LeaseResource, Leases, Snapshots
from metafs.codec import format_time, now_ns

NS = "default"
OTHER = "iso-b"
HOUR = 3600 * 10**9
DEFAULT = (b"v1", NS.encode())


@pytest.fixture(scope="module")
def env(mount_factory):
    return mount_factory()


def ls(mnt, directory: str) -> list[str]:
    return mnt.sh(f"ls '{directory}'", check=True).stdout.split("\n")[:-1]


def why(mnt, path: str) -> list[list[str]]:
    result = mnt.sh(f"cat '{path}/why'", check=True)
    return why_chains(result.stdout)


def rmdir(mnt, store, path: str) -> set[tuple[bytes, ...]]:
    """`rmdir path` in the mount; what it removed from the store, whole buckets named once."""
    with store.read() as tx:
        before = dump(tx)
    mnt.sh(f"rmdir '{path}'", check=True)
    with store.read() as tx:
        removed, added, changed = diff(before, dump(tx))
    assert not added and not changed
    return tops(removed)


def snapshot(key: str) -> tuple[bytes, ...]:
    return (*DEFAULT, b"snapshots", b"overlayfs", key.encode())


def child(parent: str, key: str) -> tuple[bytes, ...]:
    return (*snapshot(parent), b"children", key.encode())


def blob(digest: str) -> tuple[bytes, ...]:
    return (*DEFAULT, b"content", b"blob", digest.encode())


def ctr(cid: str) -> tuple[bytes, ...]:
    return (*DEFAULT, b"containers", cid.encode())


def test_a_shared_snapshot_stays_until_its_last_container_goes(env):
    mnt, store = env
    with store.write() as tx:
        layers(tx, NS, "common-base", "common")
        container(tx, NS, "common-a", key="common")
        container(tx, NS, "common-b", key="common")
    assert why(mnt, "snapshots/overlayfs/common") == [
        ["container common-a", "snapshot overlayfs/common"],
        ["container common-b", "snapshot overlayfs/common"],
    ]
    assert rmdir(mnt, store, "containers/common-a") == {ctr("common-a")}
    assert {"common", "common-base"} <= snapshot_keys(store)
    assert {"common", "common-base"} <= set(ls(mnt, "snapshots/overlayfs"))
    eventually(
        lambda: why(mnt, "snapshots/overlayfs/common"),
        [["container common-b", "snapshot overlayfs/common"]],
    )

    assert rmdir(mnt, store, "containers/common-b") == {
        ctr("common-b"),
        snapshot("common"),
        snapshot("common-base"),
    }
    assert not {"common", "common-base"} & snapshot_keys(store)
    assert not {"common", "common-base"} & set(ls(mnt, "snapshots/overlayfs"))
    eventually(lambda: mnt.sh("test -e snapshots/overlayfs/common").returncode, 1)


def test_a_parent_chain_loses_only_the_layers_no_one_else_uses(env):
    mnt, store = env
    with store.write() as tx:
        layers(tx, NS, "p-l1", "p-l2", "p-l3", "p-c1")
        Snapshots(tx, NS).create("overlayfs", "p-c2", "p-l2")
        container(tx, NS, "p-c1")
        container(tx, NS, "p-c2")
    assert mnt.sh("cat snapshots/overlayfs/p-l2/children").stdout == "p-c2\np-l3\n"
    assert rmdir(mnt, store, "containers/p-c1") == {
        ctr("p-c1"),
        snapshot("p-c1"),
        snapshot("p-l3"),
        child("p-l2", "p-l3"),
    }
    assert {"p-l1", "p-l2", "p-c2"} <= snapshot_keys(store)
    shown = set(ls(mnt, "snapshots/overlayfs"))
    assert {"p-l1", "p-l2", "p-c2"} <= shown and not {"p-l3", "p-c1"} & shown
    eventually(lambda: mnt.sh("cat snapshots/overlayfs/p-l2/children").stdout, "p-c2\n")
    assert why(mnt, "snapshots/overlayfs/p-l1") == [
        [
            "container p-c2",
            "snapshot overlayfs/p-c2",
            "snapshot overlayfs/p-l2",
            "snapshot overlayfs/p-l1",
        ]
    ]


def test_a_lease_holds_what_a_deleted_container_used(env):
    mnt, store = env
    with store.write() as tx:
        layers(tx, NS, "l-base", "l-c1")
        container(tx, NS, "l-c1")
        m, c, layer = manifest(tx, NS, "lease")
        Leases(tx, NS).create("l-pull")
        Leases(tx, NS).add_resource("l-pull", LeaseResource.snapshot("overlayfs", "l-c1"))
        Leases(tx, NS).add_resource("l-pull", LeaseResource.content(m))
    assert mnt.sh("cd leases/l-pull && cat snapshots content ingests").stdout == (
        f"overlayfs/l-c1\n{m}\n"
    )
    assert rmdir(mnt, store, "containers/l-c1") == {ctr("l-c1")}
    assert {"l-base", "l-c1"} <= snapshot_keys(store) and {m, c, layer} <= digests(store)
    eventually(
        lambda: why(mnt, "snapshots/overlayfs/l-c1"), [["lease l-pull", "snapshot overlayfs/l-c1"]]
    )
    assert why(mnt, f"content/{layer}") == [["lease l-pull", f"content {m}", f"content {layer}"]]

    with store.write() as tx:
        Leases(tx, NS).delete("l-pull")
    assert not {"l-base", "l-c1"} & snapshot_keys(store) and not {m, c, layer} & digests(store)
    assert "l-pull" not in ls(mnt, "leases")
    assert not {"l-base", "l-c1"} & set(ls(mnt, "snapshots/overlayfs"))
    assert not {m, c, layer} & set(ls(mnt, "content"))


def test_gc_root_keeps_a_snapshot_its_parents_and_what_a_blob_references(env):
    mnt, store = env
    root = "containerd.io/gc.root"
    with store.write() as tx:
        layers(tx, NS, "r-base", "r-top")
        Snapshots(tx, NS).set_label("overlayfs", "r-top", root, "2030-01-01")
        Content(tx, NS).create(dg("r-layer"), 1)
        Content(tx, NS).create(
            dg("r-pinned"), 1, {root: "true", "containerd.io/gc.ref.content.l": dg("r-layer")}
        )
        container(tx, NS, "r-doomed", key="")
    assert rmdir(mnt, store, "containers/r-doomed") == {ctr("r-doomed")}
    assert {"r-base", "r-top"} <= snapshot_keys(store)
    assert {"r-base", "r-top"} <= set(ls(mnt, "snapshots/overlayfs"))
    assert mnt.sh("cat snapshots/overlayfs/r-top/labels/containerd.io%2Fgc.root").stdout == (
        "2030-01-01\n"
    )
    assert mnt.sh("cat snapshots/overlayfs/r-base/why").stdout == (
        "snapshot overlayfs/r-base is kept:\n"
        "  snapshot overlayfs/r-top  (root: label containerd.io/gc.root)\n"
        "  -> snapshot overlayfs/r-base  (parent)\n"
    )
    assert why(mnt, f"content/{dg('r-layer')}") == [
        [f"content {dg('r-pinned')}", f"content {dg('r-layer')}"]
    ]


def test_label_references_keep_until_the_image_goes(env):
    mnt, store = env
    refs = {
        "containerd.io/gc.ref.snapshot.overlayfs": "ref-snap",
        "containerd.io/gc.ref.content.extra": dg("ref-blob"),
    }
    with store.write() as tx:
        Snapshots(tx, NS).create("overlayfs", "ref-snap")
        Content(tx, NS).create(dg("ref-blob"), 1)
        image(tx, NS, "example.com/ref:1", dg("ref-target"), refs)
        container(tx, NS, "ref-doomed", key="")
    assert rmdir(mnt, store, "containers/ref-doomed") == {ctr("ref-doomed")}
    assert mnt.sh("cat snapshots/overlayfs/ref-snap/why").stdout == (
        "snapshot overlayfs/ref-snap is kept:\n"
        "  image example.com/ref:1  (root)\n"
        "  -> snapshot overlayfs/ref-snap  (label containerd.io/gc.ref.snapshot.overlayfs)\n"
    )
    assert why(mnt, f"content/{dg('ref-blob')}") == [
        ["image example.com/ref:1", f"content {dg('ref-blob')}"]
    ]

    assert rmdir(mnt, store, "images/example.com%2Fref:1") == {
        (*DEFAULT, b"images", b"example.com/ref:1"),
        snapshot("ref-snap"),
        blob(dg("ref-blob")),
    }
    assert "ref-snap" not in snapshot_keys(store) and dg("ref-blob") not in digests(store)
    assert "ref-snap" not in ls(mnt, "snapshots/overlayfs")
    assert dg("ref-blob") not in ls(mnt, "content")


def test_an_expired_lease_goes_with_what_only_it_held(env):
    mnt, store = env
    past = (now_ns() - HOUR) // 10**9 * 10**9  # ctr writes whole seconds
    with store.write() as tx:
        leases, content = Leases(tx, NS), Content(tx, NS)
        for lease, expiry in (("e-old", past), ("e-young", now_ns() + HOUR)):
            leases.create(lease, expires_at=expiry)
            content.create(dg(lease), 1)
            leases.add_resource(lease, LeaseResource.content(dg(lease)))
        container(tx, NS, "e-doomed", key="")
    assert mnt.sh("cat leases/e-old/expires").stdout == format_time(past) + "\n"
    assert mnt.sh("cat leases/e-old/why").stdout == (
        "lease e-old is unreferenced: would be collected\n"
    )
    assert mnt.sh(f"cat content/{dg('e-old')}/why").stdout == (
        f"content {dg('e-old')} is unreferenced: would be collected\n"
    )
    assert why(mnt, f"content/{dg('e-young')}")[0][0] == "lease e-young"

    assert rmdir(mnt, store, "containers/e-doomed") == {
        ctr("e-doomed"),
        (*DEFAULT, b"leases", b"e-old"),
        blob(dg("e-old")),
    }
    assert "e-old" not in ls(mnt, "leases") and "e-young" in ls(mnt, "leases")
    assert dg("e-old") not in ls(mnt, "content") and dg("e-young") in ls(mnt, "content")
    with store.read() as tx:
        assert not Leases(tx, NS).exists("e-old") and Leases(tx, NS).exists("e-young")


def test_namespaces_are_isolated(env, mount_factory):
    mnt, store = env
    with store.write() as tx:
        m, c, layer = manifest(tx, OTHER, "iso")
        image(tx, OTHER, "iso:1", m)
        Snapshots(tx, OTHER).create("overlayfs", "only-in-b", labels={"containerd.io/gc.root": "1"})
        manifest(tx, NS, "iso")  # the same digests, in this namespace
        Snapshots(tx, NS).create("overlayfs", "only-in-a", labels={"containerd.io/gc.root": "1"})
        image(tx, NS, "iso:1", m, {"containerd.io/gc.ref.snapshot.overlayfs": "only-in-b"})
        other_before = {k: v for k, v in dump(tx).items() if k[:2] == (b"v1", OTHER.encode())}
    other, _ = mount_factory("-n", OTHER, "--read-only", store_dir=mnt.store_dir)
    assert "only-in-b" not in ls(mnt, "snapshots/overlayfs")
    assert "only-in-a" in ls(mnt, "snapshots/overlayfs")

    assert rmdir(mnt, store, "images/iso:1") == {
        (*DEFAULT, b"images", b"iso:1"),
        blob(m),
        blob(c),
        blob(layer),
    }
    assert not {m, c, layer} & set(ls(mnt, "content"))
    with store.read() as tx:
        assert {k: v for k, v in dump(tx).items() if k[:2] == (b"v1", OTHER.encode())} == (
            other_before
        )
    assert {m, c, layer} <= digests(store, OTHER)
    assert set(ls(other, "content")) == {m, c, layer}
    assert ls(other, "snapshots/overlayfs") == ["only-in-b"]
    assert why(other, f"content/{m}") == [["image iso:1", f"content {m}"]]


def test_names_with_slashes_are_escaped_as_everywhere(env):
    mnt, store = env
    with store.write() as tx:
        Snapshots(tx, NS).create("overlayfs", "esc/key", labels={"a/b": "c"})
        Leases(tx, NS).create("esc lease")
        Leases(tx, NS).add_resource("esc lease", LeaseResource.snapshot("overlayfs", "esc/key"))
    assert "esc%2Fkey" in ls(mnt, "snapshots/overlayfs")
    assert ls(mnt, "snapshots/overlayfs/esc%2Fkey/labels") == ["a%2Fb"]
    assert mnt.sh("cat snapshots/overlayfs/esc%2Fkey/labels/a%2Fb").stdout == "c\n"
    assert mnt.sh("cat 'leases/esc lease/snapshots'").stdout == "overlayfs/esc/key\n"
    assert why(mnt, "snapshots/overlayfs/esc%2Fkey") == [
        ["lease esc lease", "snapshot overlayfs/esc/key"]
    ]


def test_why_follows_the_clock_when_a_lease_expires(env):
    """No commit happens when a lease expires, yet what it held becomes collectable."""
    mnt, store = env
    with store.write() as tx:
        Leases(tx, NS).create("t-soon", expires_at=now_ns() + 1_500_000_000)  # whole seconds
        Content(tx, NS).create(dg("t-soon"), 1)
        Leases(tx, NS).add_resource("t-soon", LeaseResource.content(dg("t-soon")))
    path = f"content/{dg('t-soon')}"
    assert why(mnt, path) == [["lease t-soon", f"content {dg('t-soon')}"]]
    generation = store.generation()
    eventually(
        lambda: mnt.sh(f"cat {path}/why").stdout,
        f"content {dg('t-soon')} is unreferenced: would be collected\n",
        timeout=3,
    )
    assert store.generation() == generation
    with store.write() as tx:  # leave nothing collectable behind for the other cases
        Leases(tx, NS).delete("t-soon")
