"""The garbage collector's reference graph, case by case, through the store API on real LMDB."""

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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metafs import Containers, Content, Images, LeaseResource, Leases, Snapshots, Store, gc
from metafs.codec import encode_time, now_ns
from metafs.errors import InvalidArgument, NotFound
from metafs.gc import Resource

NS = "default"
HOUR = 3600 * 10**9


@pytest.fixture
def store(store_at: str):
    with Store.open(store_at) as store:
        yield store


def children(store: Store, key: str, ns: str = NS) -> list[str]:
    with store.read() as tx:
        return Snapshots(tx, ns).get("overlayfs", key).children


def delete_container(store: Store, cid: str, ns: str = NS) -> None:
    with store.write() as tx:
        Containers(tx, ns).delete(cid)


def delete_image(store: Store, name: str, ns: str = NS) -> None:
    with store.write() as tx:
        Images(tx, ns).delete(name)


# ---- containers and snapshots ----------------------------------------------------------------


def test_a_snapshot_shared_by_two_containers_stays_until_the_last_goes(store):
    with store.write() as tx:
        layers(tx, NS, "base", "common")
        container(tx, NS, "a", key="common")
        container(tx, NS, "b", key="common")
    delete_container(store, "a")
    assert snapshot_keys(store) == {"base", "common"}
    delete_container(store, "b")
    assert snapshot_keys(store) == set()


def test_a_parent_shared_by_two_containers_stays_until_the_last_goes(store):
    with store.write() as tx:
        layers(tx, NS, "base")
        Snapshots(tx, NS).create("overlayfs", "a", "base")
        Snapshots(tx, NS).create("overlayfs", "b", "base")
        container(tx, NS, "a")
        container(tx, NS, "b")
    delete_container(store, "a")
    assert snapshot_keys(store) == {"base", "b"}
    assert children(store, "base") == ["b"]
    delete_container(store, "b")
    assert snapshot_keys(store) == set()


def test_deleting_a_container_removes_the_parents_only_it_used(store):
    with store.write() as tx:
        layers(tx, NS, "l1", "l2", "l3", "c1")
        Snapshots(tx, NS).create("overlayfs", "c2", "l2")
        container(tx, NS, "c1")
        container(tx, NS, "c2")
    delete_container(store, "c1")
    assert snapshot_keys(store) == {"l1", "l2", "c2"}
    assert children(store, "l2") == ["c2"]  # l3 left l2's children with it
    assert children(store, "l1") == ["l2"]
    delete_container(store, "c2")
    assert snapshot_keys(store) == set()


def test_removing_the_last_child_leaves_an_empty_children_bucket_as_containerd_does(store):
    with store.write() as tx:
        layers(tx, NS, "base", "c1")
        container(tx, NS, "c1")
        Snapshots(tx, NS).set_label("overlayfs", "base", "containerd.io/gc.root", "x")
    delete_container(store, "c1")
    with store.read() as tx:
        assert Snapshots(tx, NS).get("overlayfs", "base").children == []
        bucket = tx.bucket(b"v1", b"default", b"snapshots", b"overlayfs", b"base", b"children")
        assert bucket is not None and bucket.is_empty()


def test_snapshotters_are_separate_graphs(store):
    with store.write() as tx:
        Snapshots(tx, NS).create("native", "base")
        Snapshots(tx, NS).create("overlayfs", "base")
        Snapshots(tx, NS).create("overlayfs", "c1", "base")
        container(tx, NS, "c1")
        container(tx, NS, "other", key="")
    delete_container(store, "other")
    assert snapshot_keys(store, snapshotter="native") == set()
    assert snapshot_keys(store) == {"base", "c1"}


def test_a_container_without_snapshot_keeps_nothing_and_breaks_nothing(store):
    with store.write() as tx:
        container(tx, NS, "bare", key="")
        Snapshots(tx, NS).create("overlayfs", "loose")
    delete_container(store, "bare")
    assert snapshot_keys(store) == set()


# ---- images and content -----------------------------------------------------------------------


def test_an_image_keeps_its_target_and_what_its_labels_reference(store):
    with store.write() as tx:
        m, c, layer = manifest(tx, NS, "a")
        image(tx, NS, "a:1", m)
        image(tx, NS, "a:2", m)
        other = manifest(tx, NS, "b")
        image(tx, NS, "b:1", other[0])
    delete_image(store, "a:1")
    assert digests(store) == {m, c, layer, *other}
    delete_image(store, "a:2")
    assert digests(store) == set(other)


def test_content_labels_reference_snapshots(store):
    with store.write() as tx:
        layers(tx, NS, "chain1", "chain2")
        Snapshots(tx, NS).create("overlayfs", "c1", "chain2")
        container(tx, NS, "c1")
        config = dg("config")
        Content(tx, NS).create(config, 10, {"containerd.io/gc.ref.snapshot.overlayfs": "chain2"})
        image(tx, NS, "img", dg("m"))
        Content(tx, NS).create(dg("m"), 5, {"containerd.io/gc.ref.content.config": config})
    delete_container(store, "c1")
    assert snapshot_keys(store) == {"chain1", "chain2"}
    delete_image(store, "img")
    assert snapshot_keys(store) == set()
    assert digests(store) == set()


@pytest.mark.parametrize(
    "key, follows",
    [
        ("containerd.io/gc.ref.content", True),
        ("containerd.io/gc.ref.content.config", True),
        ("containerd.io/gc.ref.content.l.3", True),
        ("containerd.io/gc.ref.content/blob", True),
        ("containerd.io/gc.ref.contentx", False),
        ("containerd.io/gc.ref.contents", False),
        ("containerd.io/gc.ref.snapshot", False),
        ("example.com/gc.ref.content", False),
    ],
)
def test_content_reference_labels(store, key, follows):
    with store.write() as tx:
        Content(tx, NS).create(dg("target"), 1)
        container(tx, NS, "holder", key="", labels={key: dg("target")})
        container(tx, NS, "doomed", key="")
    delete_container(store, "doomed")
    assert (dg("target") in digests(store)) is follows


@pytest.mark.parametrize(
    "key, snapshotter, follows",
    [
        ("containerd.io/gc.ref.snapshot.overlayfs", "overlayfs", True),
        ("containerd.io/gc.ref.snapshot.overlayfs/layer", "overlayfs", True),
        ("containerd.io/gc.ref.snapshot.native", "overlayfs", False),
        ("containerd.io/gc.ref.snapshot.native/x", "native", True),
        ("containerd.io/gc.ref.snapshots.overlayfs", "overlayfs", False),
    ],
)
def test_snapshot_reference_labels(store, key, snapshotter, follows):
    with store.write() as tx:
        Snapshots(tx, NS).create(snapshotter, "target")
        image(tx, NS, "holder", dg("m"), {key: "target"})
        container(tx, NS, "doomed", key="")
    delete_container(store, "doomed")
    assert (snapshot_keys(store, snapshotter=snapshotter) == {"target"}) is follows


def test_reference_labels_on_every_kind_that_carries_them(store):
    """image -> content -> snapshot -> content -> snapshot -> content, containers too."""
    with store.write() as tx:
        content, snapshots = Content(tx, NS), Snapshots(tx, NS)
        content.create(dg(4), 1)
        snapshots.create("overlayfs", "s2", labels={"containerd.io/gc.ref.content": dg(4)})
        content.create(dg(3), 1, {"containerd.io/gc.ref.snapshot.overlayfs": "s2"})
        snapshots.create("overlayfs", "s1", labels={"containerd.io/gc.ref.content.x": dg(3)})
        content.create(dg(2), 1, {"containerd.io/gc.ref.snapshot.overlayfs/x": "s1"})
        image(tx, NS, "img", dg(1), {"containerd.io/gc.ref.content.extra": dg(2)})
        content.create(dg("c"), 1)
        snapshots.create("overlayfs", "sc")
        container(
            tx,
            NS,
            "c",
            key="",
            labels={
                "containerd.io/gc.ref.content": dg("c"),
                "containerd.io/gc.ref.snapshot.overlayfs": "sc",
            },
        )
        container(tx, NS, "doomed", key="")
    delete_container(store, "doomed")
    assert digests(store) == {dg(2), dg(3), dg(4), dg("c")}
    assert snapshot_keys(store) == {"s1", "s2", "sc"}
    delete_image(store, "img")
    assert digests(store) == {dg("c")}
    assert snapshot_keys(store) == {"sc"}
    delete_container(store, "c")
    assert digests(store) == set() and snapshot_keys(store) == set()


def test_a_reference_cycle_is_collected_whole(store):
    with store.write() as tx:
        content = Content(tx, NS)
        content.create(dg(1), 1, {"containerd.io/gc.ref.content": dg(2)})
        content.create(dg(2), 1, {"containerd.io/gc.ref.content": dg(1)})
        image(tx, NS, "img", dg(1))
    assert digests(store) == {dg(1), dg(2)}
    delete_image(store, "img")
    assert digests(store) == set()


def test_dead_references_are_harmless(store):
    with store.write() as tx:
        image(tx, NS, "img", dg("missing"), {"containerd.io/gc.ref.snapshot.overlayfs": "nope"})
        Snapshots(tx, NS).create("overlayfs", "c1", labels={"containerd.io/gc.ref.content": "x"})
        container(tx, NS, "c1")
        container(tx, NS, "doomed", key="")
    delete_container(store, "doomed")
    assert snapshot_keys(store) == {"c1"}


# ---- gc.root ----------------------------------------------------------------------------------


def test_gc_root_keeps_content_and_snapshots_and_what_they_reference(store):
    with store.write() as tx:
        layers(tx, NS, "base", "top")
        Snapshots(tx, NS).set_label("overlayfs", "top", "containerd.io/gc.root", "2030-01-01")
        Content(tx, NS).create(dg("layer"), 1)
        Content(tx, NS).create(
            dg("pinned"),
            1,
            {"containerd.io/gc.root": "true", "containerd.io/gc.ref.content.l": dg("layer")},
        )
        Content(tx, NS).create(dg("loose"), 1)
        container(tx, NS, "doomed", key="")
    delete_container(store, "doomed")
    assert snapshot_keys(store) == {"base", "top"}
    assert digests(store) == {dg("pinned"), dg("layer")}
    with store.write() as tx:
        Snapshots(tx, NS).set_label("overlayfs", "top", "containerd.io/gc.root", "")
        Content(tx, NS).set_label(dg("pinned"), "containerd.io/gc.root", "")
        assert gc.collect(tx, NS) == [
            Resource("snapshot", "base", "overlayfs"),
            Resource("snapshot", "top", "overlayfs"),
            *(Resource("content", d) for d in sorted([dg("layer"), dg("pinned")])),
        ]
    assert snapshot_keys(store) == set() and digests(store) == set()


# ---- leases -------------------------------------------------------------------------------------


def test_a_lease_holds_snapshots_content_and_what_they_reference(store):
    with store.write() as tx:
        layers(tx, NS, "base", "c1")
        container(tx, NS, "c1")
        m, c, layer = manifest(tx, NS, "a")
        leases = Leases(tx, NS)
        leases.create("pull")
        leases.add_resource("pull", LeaseResource.snapshot("overlayfs", "c1"))
        leases.add_resource("pull", LeaseResource.content(m))
    delete_container(store, "c1")
    assert snapshot_keys(store) == {"base", "c1"}
    assert digests(store) == {m, c, layer}
    with store.write() as tx:
        Leases(tx, NS).delete("pull")
    assert snapshot_keys(store) == set() and digests(store) == set()


def test_a_released_resource_goes_with_the_next_collection(store):
    with store.write() as tx:
        Content(tx, NS).create(dg(1), 1)
        Leases(tx, NS).create("l")
        Leases(tx, NS).add_resource("l", LeaseResource.content(dg(1)))
        container(tx, NS, "doomed", key="")
    with store.write() as tx:
        Leases(tx, NS).remove_resource("l", LeaseResource.content(dg(1)))
        Containers(tx, NS).delete("doomed")
    assert digests(store) == set()
    with store.read() as tx:
        assert Leases(tx, NS).get("l").resources == []


def test_removing_a_snapshot_or_blob_collects_what_only_it_kept(store):
    with store.write() as tx:
        layers(tx, NS, "base", "top")
        Snapshots(tx, NS).create("overlayfs", "pinned", labels={"containerd.io/gc.root": "x"})
        m, c, layer = manifest(tx, NS, "a")
        other = manifest(tx, NS, "b")
        Leases(tx, NS).create("l")
        for key in ("top", "pinned"):
            Leases(tx, NS).add_resource("l", LeaseResource.snapshot("overlayfs", key))
        for digest in (m, other[0]):
            Leases(tx, NS).add_resource("l", LeaseResource.content(digest))
    with store.write() as tx:
        Snapshots(tx, NS).remove("overlayfs", "top")
    assert snapshot_keys(store) == {"pinned"}
    with store.write() as tx:
        Content(tx, NS).delete(m)
    assert digests(store) == set(other)


def test_an_expired_lease_releases_what_it_held_and_is_removed(store):
    past, future = now_ns() - HOUR, now_ns() + HOUR
    with store.write() as tx:
        leases, content = Leases(tx, NS), Content(tx, NS)
        for name, expiry in (("old", past), ("young", future), ("forever", None)):
            leases.create(name, expires_at=expiry)
            content.create(dg(name), 1)
            leases.add_resource(name, LeaseResource.content(dg(name)))
        leases.create("garbled", {"containerd.io/gc.expire": "next tuesday"})
        content.create(dg("garbled"), 1)
        leases.add_resource("garbled", LeaseResource.content(dg("garbled")))
        container(tx, NS, "doomed", key="")
    delete_container(store, "doomed")
    assert digests(store) == {dg("young"), dg("forever"), dg("garbled")}
    with store.read() as tx:
        assert [lease.id for lease in Leases(tx, NS).list()] == ["forever", "garbled", "young"]
        # two hours on, the young one has expired too
        assert gc.collect(tx, NS, dry_run=True, now=future + HOUR) == [
            Resource("lease", "young"),
            Resource("content", dg("young")),
        ]


def test_the_expiry_label_is_rfc3339_as_ctr_writes_it(store):
    with store.write() as tx:
        lease = Leases(tx, NS).create("l", expires_at=1795834834_542550928)
    assert lease.labels == {"containerd.io/gc.expire": "2026-11-28T03:00:34Z"}
    assert lease.expires_at == 1795834834 * 10**9
    with store.write() as tx:
        Leases(tx, NS).create("offset", {"containerd.io/gc.expire": "2026-11-28T05:00:34+02:00"})
        Content(tx, NS).create(dg(1), 1)
        Leases(tx, NS).add_resource("offset", LeaseResource.content(dg(1)))
        before = gc.collect(tx, NS, dry_run=True, now=1795834834 * 10**9)
        after = gc.collect(tx, NS, dry_run=True, now=1795834834 * 10**9 + 1)
    assert Resource("lease", "offset") not in before
    assert Resource("lease", "offset") in after and Resource("content", dg(1)) in after


def test_a_flat_lease_holds_only_what_it_lists(store):
    with store.write() as tx:
        content, snapshots, leases = Content(tx, NS), Snapshots(tx, NS), Leases(tx, NS)
        m, c, layer = manifest(tx, NS, "a")
        content.create(dg("from-snapshot"), 1)
        layers(tx, NS, "base")
        snapshots.create(
            "overlayfs",
            "active",
            "base",
            labels={"containerd.io/gc.ref.content": dg("from-snapshot")},
        )
        leases.create("flat", {"containerd.io/gc.flat": "true"})
        leases.add_resource("flat", LeaseResource.content(m))
        leases.add_resource("flat", LeaseResource.snapshot("overlayfs", "active"))
        container(tx, NS, "doomed", key="")
    delete_container(store, "doomed")
    assert digests(store) == {m}
    assert snapshot_keys(store) == {"base", "active"}  # a flat snapshot still keeps its parents


def test_a_resource_held_flat_and_referenced_in_full_keeps_its_references(store):
    with store.write() as tx:
        m, c, layer = manifest(tx, NS, "a")
        leases = Leases(tx, NS)
        leases.create("flat", {"containerd.io/gc.flat": "true"})
        leases.add_resource("flat", LeaseResource.content(m))
        image(tx, NS, "img", m)
        container(tx, NS, "doomed", key="")
    delete_container(store, "doomed")
    assert digests(store) == {m, c, layer}
    with store.read() as tx:
        text = gc.explain(tx, NS, "content", layer).text()
    assert "image img" in text and "flat" not in text


def test_leased_ingests_and_unexpired_ingests_keep_their_expected_content(store):
    with store.write() as tx:
        ingests = tx.create_buckets(b"v1", b"default", b"content", b"ingests")
        for ref, expires in (
            ("fresh", now_ns() + HOUR),
            ("stale", now_ns() - HOUR),
            ("leased", None),
            ("bare", None),
        ):
            bucket = ingests.create_bucket(ref.encode())
            bucket.put(b"ref", f"default/1/{ref}".encode())
            bucket.put(b"expected", dg(ref).encode())
            if expires is not None:
                bucket.put(b"expireat", encode_time(expires))
            Content(tx, NS).create(dg(ref), 1)
        Leases(tx, NS).create("l")
        Leases(tx, NS).add_resource("l", LeaseResource.ingest("leased"))
        container(tx, NS, "doomed", key="")
    with store.read() as tx:
        assert [i.ref for i in Content(tx, NS).ingests()] == ["bare", "fresh", "leased", "stale"]
        assert Content(tx, NS).ingest("stale").expected == dg("stale")
    delete_container(store, "doomed")
    with store.read() as tx:
        assert [i.ref for i in Content(tx, NS).ingests()] == ["fresh", "leased"]
    assert digests(store) == {dg("fresh"), dg("leased")}


# ---- namespaces -------------------------------------------------------------------------------


def test_namespaces_are_isolated(store):
    with store.write() as tx:
        for ns in ("a", "b"):
            m, c, layer = manifest(tx, ns, "same")
            layers(tx, ns, "base")
            Snapshots(tx, ns).create("overlayfs", "c1", "base")
            container(tx, ns, "c1")
            image(tx, ns, "img", m)
        # a's image label names a snapshot that exists only in b
        Snapshots(tx, "b").create("overlayfs", "only-in-b")
        Images(tx, "a").set_label("img", "containerd.io/gc.ref.snapshot.overlayfs", "only-in-b")
        Snapshots(tx, "b").set_label("overlayfs", "only-in-b", "containerd.io/gc.root", "1")
        b_before = {k: v for k, v in dump(tx).items() if k[:2] == (b"v1", b"b")}
    with store.write() as tx:
        Containers(tx, "a").delete("c1")
        Images(tx, "a").delete("img")
    assert snapshot_keys(store, "a") == set() and digests(store, "a") == set()
    with store.read() as tx:
        assert {k: v for k, v in dump(tx).items() if k[:2] == (b"v1", b"b")} == b_before
    with store.write() as tx:
        Images(tx, "a").create(Images(tx, "b").get("img"))
        Images(tx, "a").set_label("img", "containerd.io/gc.ref.snapshot.overlayfs", "c1")
        Snapshots(tx, "b").set_label("overlayfs", "only-in-b", "containerd.io/gc.root", "")
        Containers(tx, "b").delete("c1")
    # b's garbage went, and a's image, whose labels name b's digests and snapshot, kept none
    assert snapshot_keys(store, "b") == set()
    assert digests(store, "a") == set() and digests(store, "b") == {
        dg("same-manifest"),
        dg("same-config"),
        dg("same-layer"),
    }


# ---- the transaction ----------------------------------------------------------------------------


def test_collection_is_part_of_the_deleting_transaction(store):
    with store.write() as tx:
        layers(tx, NS, "base", "c1")
        container(tx, NS, "c1")
    with pytest.raises(RuntimeError), store.write() as tx:
        Containers(tx, NS).delete("c1")
        raise RuntimeError("abort")
    assert snapshot_keys(store) == {"base", "c1"}
    with store.read() as tx:
        assert Containers(tx, NS).exists("c1")
    generation = store.generation()
    delete_container(store, "c1")
    assert store.generation() == generation + 1  # one commit: the delete and its garbage
    assert snapshot_keys(store) == set()


def test_a_rename_keeps_what_the_image_points_at(store):
    with store.write() as tx:
        m, c, layer = manifest(tx, NS, "a")
        image(tx, NS, "old", m)
    with store.write() as tx:
        Images(tx, NS).rename("old", "new")
    assert digests(store) == {m, c, layer}


def test_deleting_and_recreating_in_one_transaction_keeps_the_content(store):
    """ctr's `images tag --force` onto an existing name: delete, then create."""
    with store.write() as tx:
        m, c, layer = manifest(tx, NS, "a")
        image(tx, NS, "x", m)
    with store.write() as tx:
        target = Images(tx, NS).get("x").target
        Images(tx, NS).delete("x")
        Images(tx, NS).put("x", target)
    assert digests(store) == {m, c, layer}


def test_everything_unreachable_goes_and_nothing_else(store):
    """A delete collects all of the namespace's garbage, not only the deleted object's."""
    with store.write() as tx:
        layers(tx, NS, "base", "c1")
        container(tx, NS, "c1")
        Content(tx, NS).create(dg("loose"), 1)
        Snapshots(tx, NS).create("overlayfs", "loose")
        container(tx, NS, "doomed", key="")
        before = dump(tx)
    delete_container(store, "doomed")
    with store.read() as tx:
        removed, added, changed = diff(before, dump(tx))
    ns = (b"v1", b"default")
    assert not added and not changed
    assert tops(removed) == {
        (*ns, b"containers", b"doomed"),
        (*ns, b"content", b"blob", dg("loose").encode()),
        (*ns, b"snapshots", b"overlayfs", b"loose"),
    }


def test_dry_run_reports_in_a_stable_order_and_removes_nothing(store):
    with store.write() as tx:
        for key in ("b", "a"):
            Snapshots(tx, NS).create("overlayfs", key)
            Snapshots(tx, NS).create("native", key)
            Content(tx, NS).create(dg(key), 1)
        Leases(tx, NS).create("gone", expires_at=now_ns() - HOUR)
        before = dump(tx)
    with store.read() as tx:
        found = gc.collect(tx, NS, dry_run=True)
        assert dump(tx) == before
    assert [str(r) for r in found] == [
        "lease gone",
        "snapshot native/a",
        "snapshot native/b",
        "snapshot overlayfs/a",
        "snapshot overlayfs/b",
        *sorted(f"content {dg(k)}" for k in "ab"),
    ]
    with store.write() as tx:
        assert gc.collect(tx, NS) == found
        assert gc.collect(tx, NS) == []


def test_collecting_a_missing_namespace_finds_nothing(store):
    with store.write() as tx:
        assert gc.collect(tx, "nowhere") == []


# ---- explain ------------------------------------------------------------------------------------


def test_explain_follows_the_chain_from_a_container(store):
    with store.write() as tx:
        layers(tx, NS, "l1", "l2", "c1")
        container(tx, NS, "c1")
        Snapshots(tx, NS).create("overlayfs", "loose")
    with store.read() as tx:
        why = gc.explain(tx, NS, "snapshot", "overlayfs/l1")
        loose = gc.explain(tx, NS, "snapshot", "overlayfs/loose")
    assert why.kept and [(link.what, link.via) for link in why.chain] == [
        ("container c1", ""),
        ("snapshot overlayfs/c1", "snapshotter/snapshotKey"),
        ("snapshot overlayfs/l2", "parent"),
        ("snapshot overlayfs/l1", "parent"),
    ]
    assert why.text() == (
        "snapshot overlayfs/l1 is kept:\n"
        "  container c1  (root)\n"
        "  -> snapshot overlayfs/c1  (snapshotter/snapshotKey)\n"
        "  -> snapshot overlayfs/l2  (parent)\n"
        "  -> snapshot overlayfs/l1  (parent)\n"
    )
    assert not loose.kept
    assert loose.text() == "snapshot overlayfs/loose is unreferenced: would be collected\n"


def test_explain_gives_a_chain_for_every_reference(store):
    """A snapshot shared by two containers names both; a blob in a reference cycle names only
    what keeps it from outside the cycle, unless the other blob is kept from outside too."""
    with store.write() as tx:
        layers(tx, NS, "base")
        for cid in ("a", "b"):
            Snapshots(tx, NS).create("overlayfs", cid, "base")
            container(tx, NS, cid)
        Content(tx, NS).create(dg(1), 1, {"containerd.io/gc.ref.content": dg(2)})
        Content(tx, NS).create(dg(2), 1, {"containerd.io/gc.ref.content": dg(1)})
        image(tx, NS, "one", dg(1))
    with store.read() as tx:
        base = gc.explain(tx, NS, "snapshot", "overlayfs/base")
        one = gc.explain(tx, NS, "content", dg(1))
    assert [[link.what for link in chain] for chain in base.chains] == [
        ["container a", "snapshot overlayfs/a", "snapshot overlayfs/base"],
        ["container b", "snapshot overlayfs/b", "snapshot overlayfs/base"],
    ]
    assert base.chain == base.chains[0]
    assert base.text() == (
        "snapshot overlayfs/base is kept by 2 references:\n"
        "  container a  (root)\n"
        "  -> snapshot overlayfs/a  (snapshotter/snapshotKey)\n"
        "  -> snapshot overlayfs/base  (parent)\n"
        "\n"
        "  container b  (root)\n"
        "  -> snapshot overlayfs/b  (snapshotter/snapshotKey)\n"
        "  -> snapshot overlayfs/base  (parent)\n"
    )
    assert [[link.what for link in chain] for chain in one.chains] == [
        ["image one", f"content {dg(1)}"]
    ]
    with store.write() as tx:
        image(tx, NS, "two", dg(2))
    with store.read() as tx:
        one = gc.explain(tx, NS, "content", dg(1))
    assert [[link.what for link in chain] for chain in one.chains] == [
        ["image one", f"content {dg(1)}"],
        ["image two", f"content {dg(2)}", f"content {dg(1)}"],
    ]


def test_explain_names_labels_leases_and_roots(store):
    with store.write() as tx:
        m, c, layer = manifest(tx, NS, "a")
        image(tx, NS, "img", m)
        Content(tx, NS).create(dg("pinned"), 1, {"containerd.io/gc.root": "yes"})
        Content(tx, NS).create(dg("leased"), 1)
        Leases(tx, NS).create("pull", {"containerd.io/gc.flat": "1"})
        Leases(tx, NS).add_resource("pull", LeaseResource.content(dg("leased")))
        Snapshots(tx, NS).create("overlayfs", "key/with/slashes")
        Leases(tx, NS).add_resource("pull", LeaseResource.snapshot("overlayfs", "key/with/slashes"))
    with store.read() as tx:
        config = gc.explain(tx, NS, "content", c).chain
        pinned = gc.explain(tx, NS, "content", dg("pinned")).chain
        leased = gc.explain(tx, NS, "content", dg("leased")).chain
        slashed = gc.explain(tx, NS, "snapshot", "overlayfs/key/with/slashes")
        lease = gc.explain(tx, NS, "lease", "pull").chain
    assert [(link.what, link.via) for link in config] == [
        ("image img", ""),
        (f"content {m}", "target digest"),
        (f"content {c}", "label containerd.io/gc.ref.content.config"),
    ]
    assert [(link.what, link.via) for link in pinned] == [
        (f"content {dg('pinned')}", "label containerd.io/gc.root")
    ]
    assert [(link.what, link.via) for link in leased] == [
        ("lease pull", "lease without expiry, flat"),
        (f"content {dg('leased')}", "held by the flat lease"),
    ]
    assert slashed.kept and slashed.resource.key == "key/with/slashes"
    assert [link.what for link in lease] == ["lease pull"]


def test_explain_refuses_what_does_not_exist_or_cannot_be(store):
    with store.write() as tx:
        Content(tx, NS).create(dg(1), 1)
    with store.read() as tx:
        with pytest.raises(NotFound, match=r'snapshot "overlayfs/x" in namespace "default"'):
            gc.explain(tx, NS, "snapshot", "overlayfs/x")
        with pytest.raises(NotFound):
            gc.explain(tx, "other", "content", dg(1))
        with pytest.raises(InvalidArgument):
            gc.explain(tx, NS, "snapshot", "no-snapshotter")
        with pytest.raises(InvalidArgument):
            gc.explain(tx, NS, "image", "x")


def test_an_expired_lease_explains_as_unreferenced(store):
    with store.write() as tx:
        Leases(tx, NS).create("old", expires_at=now_ns() - HOUR)
    with store.read() as tx:
        assert not gc.explain(tx, NS, "lease", "old").kept


def test_an_image_draft_keeps_the_target_it_will_point_at(store):
    """metafs's own root: an image being written from a shell (a draft) keeps its digest."""
    with store.write() as tx:
        m, c, layer = manifest(tx, NS, "a")
        Images(tx, NS).create_draft("half/made:1")
        Images(tx, NS).set_target_field("half/made:1", "digest", m)
        container(tx, NS, "doomed", key="")
    delete_container(store, "doomed")
    assert digests(store) == {m, c, layer}
    with store.read() as tx:
        assert [link.what for link in gc.explain(tx, NS, "content", layer).chain] == [
            "image draft half/made:1",
            f"content {m}",
            f"content {layer}",
        ]
    with store.write() as tx:
        Images(tx, NS).delete_draft("half/made:1")
        assert gc.collect(tx, NS) == [Resource("content", d) for d in sorted([m, c, layer])]


# ---- the shared explainer -----------------------------------------------------------------------


class _Abort(Exception):
    pass


@st.composite
def worlds(draw):
    """A random reference graph: snapshots with parents, blobs, images, containers, leases
    (flat, expired), gc.ref labels on all that carry them (cycles included), gc.root."""
    blobs = [dg(f"b{i}") for i in range(draw(st.integers(0, 5)))]
    snaps = [f"s{i}" for i in range(draw(st.integers(0, 5)))]
    targets = [("c", b) for b in blobs] + [("s", s) for s in snaps]

    def labels() -> dict[str, str]:
        found = {}
        for n, (kind, name) in enumerate(
            draw(st.lists(st.sampled_from(targets), max_size=2)) if targets else []
        ):
            key = "gc.ref.content" if kind == "c" else "gc.ref.snapshot.overlayfs"
            found[f"containerd.io/{key}/{n}"] = name
        if draw(st.booleans()) and draw(st.booleans()):
            found["containerd.io/gc.root"] = "1"
        return found

    snapshots = [
        (s, draw(st.sampled_from(["", *snaps[:i]])), labels()) for i, s in enumerate(snaps)
    ]
    contents = [(b, labels()) for b in blobs]
    images = [
        (f"img{i}", draw(st.sampled_from([dg("none"), *blobs])), labels())
        for i in range(draw(st.integers(0, 2)))
    ]
    containers = [
        (f"c{i}", draw(st.sampled_from(["", *snaps])), labels())
        for i in range(draw(st.integers(0, 2)))
    ]
    leases = [
        (
            f"l{i}",
            draw(st.booleans()),
            draw(st.booleans()),
            draw(st.lists(st.sampled_from(targets), max_size=3)) if targets else [],
        )
        for i in range(draw(st.integers(0, 2)))
    ]
    return snapshots, contents, images, containers, leases


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(world=worlds())
def test_the_explainer_answers_what_explain_answers(store, world):
    snapshots, contents, images, containers, leases = world
    with pytest.raises(_Abort), store.write() as tx:  # build, compare, leave nothing behind
        for key, parent, snapshot_labels in snapshots:
            Snapshots(tx, NS).create("overlayfs", key, parent, snapshot_labels)
        for digest, blob_labels in contents:
            Content(tx, NS).create(digest, 1, blob_labels)
        for name, target, image_labels in images:
            image(tx, NS, name, target, image_labels)
        for cid, key, container_labels in containers:
            container(tx, NS, cid, key=key, labels=container_labels)
        for lease_id, flat, expired, held in leases:
            expiry = now_ns() + (-HOUR if expired else HOUR)
            Leases(tx, NS).create(
                lease_id, {"containerd.io/gc.flat": "1"} if flat else {}, expires_at=expiry
            )
            for kind, name in held:
                resource = (
                    LeaseResource.content(name)
                    if kind == "c"
                    else LeaseResource.snapshot("overlayfs", name)
                )
                Leases(tx, NS).add_resource(lease_id, resource)
        now = now_ns()
        explainer = gc.Explainer(tx, NS, now=now)
        asked = [("snapshot", f"overlayfs/{s[0]}") for s in snapshots]
        asked += [("content", c[0]) for c in contents] + [("lease", lease[0]) for lease in leases]
        for kind, ident in asked:
            assert explainer.explain(tx, kind, ident) == gc.explain(tx, NS, kind, ident, now=now)
        raise _Abort
