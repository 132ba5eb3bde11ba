"""Snapshot, content and lease records on a real LMDB store: layout, rules and errors."""

from __future__ import annotations

import pytest
from gc_world import dg, dump

from metafs import Blob, Content, LeaseResource, Leases, Snapshot, Snapshots, Store
from metafs.codec import decode_time, read_varint
from metafs.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

NS = "default"


@pytest.fixture
def store(store_at: str):
    with Store.open(store_at) as store:
        yield store


def raw(tx, *path: str) -> dict:
    """The entries of a bucket, as containerd's layout holds them."""
    bucket = tx.bucket(*(p.encode() for p in path))
    assert bucket is not None, path
    return dict(bucket.items())


# ---- snapshots ----------------------------------------------------------------------------------


def test_a_snapshot_record_is_laid_out_as_containerd_writes_it(store):
    with store.write() as tx:
        snapshots = Snapshots(tx, NS)
        base = snapshots.create("overlayfs", "sha256:base", labels={"k": "v"})
        child = snapshots.create("overlayfs", "web-1", "sha256:base")
        other = snapshots.create("native", "n1")
    with store.read() as tx:
        record = raw(tx, "v1", NS, "snapshots", "overlayfs", "web-1")
        assert record[b"name"] == b"default/2/web-1" and record[b"parent"] == b"sha256:base"
        assert decode_time(record[b"createdat"]) == child.created_at == child.updated_at
        assert raw(tx, "v1", NS, "snapshots", "overlayfs", "sha256:base", "children") == {
            b"web-1": b""
        }
        assert raw(tx, "v1", NS, "snapshots", "overlayfs", "sha256:base", "labels") == {b"k": b"v"}
        assert b"parent" not in raw(tx, "v1", NS, "snapshots", "overlayfs", "sha256:base")
        assert b"labels" not in raw(tx, "v1", NS, "snapshots", "overlayfs", "web-1")
        assert Snapshots(tx, NS).get("overlayfs", "sha256:base").children == ["web-1"]
    assert (base.name, other.name) == ("default/1/sha256:base", "default/1/n1")


def test_snapshot_names_are_numbered_per_snapshotter_and_never_reused(store):
    with store.write() as tx:
        snapshots = Snapshots(tx, NS)
        for key in ("a", "b", "c"):
            snapshots.create("overlayfs", key)
        snapshots.remove("overlayfs", "c")
        assert snapshots.create("overlayfs", "d").name == "default/4/d"
        assert Snapshots(tx, "team-b").create("overlayfs", "a").name == "team-b/1/a"


def test_numbering_continues_after_snapshots_written_by_containerd(store):
    """An import brings names but no counter: the first create continues past the highest."""
    with store.write() as tx:
        imported = tx.create_buckets(b"v1", b"default", b"snapshots", b"overlayfs", b"x")
        imported.put(b"name", b"default/41/x")
        assert Snapshots(tx, NS).create("overlayfs", "y").name == "default/42/y"


def test_listing_snapshots(store):
    with store.write() as tx:
        snapshots = Snapshots(tx, NS)
        snapshots.create("overlayfs", "b")
        snapshots.create("overlayfs", "a", "b")
        snapshots.create("native", "z")
    with store.read() as tx:
        snapshots = Snapshots(tx, NS)
        assert list(snapshots.snapshotters()) == ["native", "overlayfs"]
        assert [(s.snapshotter, s.key) for s in snapshots.list()] == [
            ("native", "z"),
            ("overlayfs", "a"),
            ("overlayfs", "b"),
        ]
        assert [s.key for s in snapshots.list("overlayfs")] == ["a", "b"]
        assert list(snapshots.list("btrfs")) == []
        assert list(Snapshots(tx, "nowhere").list()) == []
        assert snapshots.exists("overlayfs", "a") and not snapshots.exists("native", "a")
        assert list(snapshots.keys("overlayfs")) == ["a", "b"]
        assert list(snapshots.keys("overlayfs", start="aa")) == ["b"]
        assert list(snapshots.keys("overlayfs", start="b")) == ["b"]
        assert list(snapshots.keys("btrfs")) == []


def test_snapshot_creation_rules(store):
    with store.write() as tx:
        snapshots = Snapshots(tx, NS)
        snapshots.create("overlayfs", "base")
        with pytest.raises(AlreadyExists, match='snapshot "base" of snapshotter "overlayfs"'):
            snapshots.create("overlayfs", "base")
        with pytest.raises(NotFound, match='parent snapshot "base" of snapshotter "native"'):
            snapshots.create("native", "child", "base")
        with pytest.raises(InvalidArgument):
            snapshots.create("", "k")
        with pytest.raises(InvalidArgument):
            snapshots.create("over/lay", "k")
        with pytest.raises(InvalidArgument):
            snapshots.create("overlayfs", "")
        with pytest.raises(InvalidArgument, match="label key and value length"):
            snapshots.create("overlayfs", "big", labels={"k": "v" * 4096})
        snapshots.create("overlayfs", "just-fits", labels={"k": "v" * 4095})
        assert not snapshots.exists("native", "child") and not snapshots.exists("overlayfs", "big")


def test_a_snapshot_with_children_cannot_be_removed(store):
    with store.write() as tx:
        snapshots = Snapshots(tx, NS)
        snapshots.create("overlayfs", "base")
        snapshots.create("overlayfs", "child", "base")
        with pytest.raises(FailedPrecondition, match="has children"):
            snapshots.remove("overlayfs", "base")
        snapshots.remove("overlayfs", "child")
        assert snapshots.get("overlayfs", "base").children == []
        snapshots.remove("overlayfs", "base")
        assert list(snapshots.list()) == []
        with pytest.raises(NotFound):
            snapshots.remove("overlayfs", "base")


def test_snapshot_labels_are_the_only_mutable_field(store):
    with store.write() as tx:
        snapshots = Snapshots(tx, NS)
        created = snapshots.create("overlayfs", "s", labels={"a": "1", "b": "2"})
        updated = snapshots.set_label("overlayfs", "s", "c", "3")
        assert updated.labels == {"a": "1", "b": "2", "c": "3"}
        assert updated.created_at == created.created_at < updated.updated_at
        assert snapshots.set_label("overlayfs", "s", "a", "").labels == {"b": "2", "c": "3"}
        replaced = snapshots.update(Snapshot("overlayfs", "s", labels={"only": "this"}))
        assert replaced.labels == {"only": "this"}
        with pytest.raises(InvalidArgument, match='cannot update "parent"'):
            snapshots.update(replaced, "parent")
        with pytest.raises(NotFound):
            snapshots.set_label("overlayfs", "missing", "a", "1")
        with pytest.raises(InvalidArgument):
            snapshots.set_label("overlayfs", "s", "k", "v" * 4096)
        assert snapshots.get("overlayfs", "s").labels == {"only": "this"}


# ---- content ------------------------------------------------------------------------------------


def test_a_content_record_is_laid_out_as_containerd_writes_it(store):
    with store.write() as tx:
        blob = Content(tx, NS).create(dg(1), 1027836, {"containerd.io/uncompressed": dg(2)})
    with store.read() as tx:
        record = raw(tx, "v1", NS, "content", "blob", dg(1))
        assert record[b"size"] == bytes.fromhex("f8bb7d")  # as in meta-small.db
        assert read_varint(record[b"size"]) == blob.size == 1027836
        assert decode_time(record[b"createdat"]) == blob.created_at
        assert Content(tx, NS).get(dg(1)) == blob


def test_content_rules(store):
    with store.write() as tx:
        content = Content(tx, NS)
        content.create(dg(1), 0)
        with pytest.raises(AlreadyExists, match=f'content "{dg(1)}" in namespace "default"'):
            content.create(dg(1), 5)
        for bad in ("sha256:abc", "md5:" + "0" * 32, "sha256:" + "A" * 64, "nodigest"):
            with pytest.raises(InvalidArgument):
                content.create(bad, 1)
        for size in (-1, "1", 1.5, True):
            with pytest.raises(InvalidArgument):
                content.create(dg(2), size)
        with pytest.raises(InvalidArgument):
            content.create(dg(2), 1, {"": "x"})
        with pytest.raises(NotFound):
            content.delete(dg(2))
        content.delete(dg(1))
        assert not content.exists(dg(1)) and list(content.list()) == []


def test_content_listing_skips_keys_that_are_not_digests_as_containerd_walk_does(store):
    with store.write() as tx:
        Content(tx, NS).create(dg("b"), 2)
        Content(tx, NS).create(dg("a"), 1)
        tx.create_buckets(b"v1", b"default", b"content", b"blob", b"not-a-digest")
    with store.read() as tx:
        assert [b.digest for b in Content(tx, NS).list()] == sorted([dg("a"), dg("b")])
        first, second = sorted([dg("a"), dg("b")])
        assert list(Content(tx, NS).digests()) == [first, second]
        assert list(Content(tx, NS).digests(start=second)) == [second]
        assert list(Content(tx, "nowhere").digests()) == []


def test_content_labels_update(store):
    with store.write() as tx:
        content = Content(tx, NS)
        created = content.create(dg(1), 7, {"a": "1"})
        updated = content.set_label(dg(1), "b", "2")
        assert updated.labels == {"a": "1", "b": "2"} and updated.size == 7
        assert updated.created_at == created.created_at < updated.updated_at
        assert content.set_label(dg(1), "a", "").labels == {"b": "2"}
        with pytest.raises(InvalidArgument, match='cannot update "size"'):
            content.update(updated, "size")
        assert content.update(Blob(dg(1), labels={"z": "9"})).labels == {"z": "9"}


# ---- leases -------------------------------------------------------------------------------------


def test_a_lease_is_laid_out_as_containerd_writes_it(store):
    with store.write() as tx:
        leases = Leases(tx, NS)
        lease = leases.create("keep-me", {"purpose": "fixture"})
        leases.add_resource("keep-me", LeaseResource.content(dg(1)))
        leases.add_resource("keep-me", LeaseResource.snapshot("overlayfs", "web-1"))
        leases.add_resource("keep-me", LeaseResource.ingest("upload-1"))
    with store.read() as tx:
        record = raw(tx, "v1", NS, "leases", "keep-me")
        assert set(record) == {b"createdat", b"labels", b"content", b"snapshots", b"ingests"}
        assert decode_time(record[b"createdat"]) == lease.created_at
        assert raw(tx, "v1", NS, "leases", "keep-me", "content") == {dg(1).encode(): b""}
        assert raw(tx, "v1", NS, "leases", "keep-me", "snapshots", "overlayfs") == {b"web-1": b""}
        got = Leases(tx, NS).get("keep-me")
    assert got.labels == {"purpose": "fixture"} and got.expires_at is None and not got.flat
    assert got.resources == [
        LeaseResource(dg(1), "content"),
        LeaseResource("upload-1", "ingests"),
        LeaseResource("web-1", "snapshots/overlayfs"),
    ]


def test_lease_rules(store):
    with store.write() as tx:
        leases = Leases(tx, NS)
        leases.create("l")
        with pytest.raises(AlreadyExists, match='lease "l" in namespace "default"'):
            leases.create("l")
        with pytest.raises(InvalidArgument):
            leases.create("")
        with pytest.raises(NotFound):
            leases.add_resource("missing", LeaseResource.content(dg(1)))
        for bad in (
            LeaseResource("sha256:short", "content"),
            LeaseResource("k", "snapshots"),
            LeaseResource("k", "snapshots/a/b"),
            LeaseResource("r", "ingests/x"),
            LeaseResource("i", "images"),
            LeaseResource("", "ingests"),
        ):
            with pytest.raises(InvalidArgument):
                leases.add_resource("l", bad)
        leases.remove_resource("l", LeaseResource.content(dg(1)))  # not held: no error
        assert leases.resources("l") == []
        with pytest.raises(NotFound):
            leases.delete("missing")
        leases.create("m")
        assert list(leases.ids()) == ["l", "m"] and list(leases.ids(start="l0")) == ["m"]
        leases.delete("l")
        leases.delete("m")
        assert not leases.exists("l") and list(leases.list()) == []


def test_lease_expiry_and_flat_labels(store):
    with store.write() as tx:
        leases = Leases(tx, NS)
        leases.create("a", {"containerd.io/gc.flat": "x"}, expires_at=1_700_000_000 * 10**9)
        leases.create("b", {"containerd.io/gc.expire": "soon"})
        leases.create("c", {"containerd.io/gc.expire": "2023-11-14T22:13:20.5+00:00"})
    with store.read() as tx:
        a, b, c = Leases(tx, NS).list()
    assert a.labels["containerd.io/gc.expire"] == "2023-11-14T22:13:20Z" and a.flat
    assert a.expires_at == 1_700_000_000 * 10**9
    assert b.expires_at is None
    assert c.expires_at == 1_700_000_000 * 10**9 + 500_000_000


def test_resource_records_leave_other_namespaces_alone(store):
    with store.write() as tx:
        Snapshots(tx, "a").create("overlayfs", "s")
        Content(tx, "a").create(dg(1), 1)
        Leases(tx, "a").create("l")
        before = dump(tx)
        Snapshots(tx, "b").create("overlayfs", "s")
        Content(tx, "b").create(dg(1), 1)
        Leases(tx, "b").create("l")
        Snapshots(tx, "b").remove("overlayfs", "s")
        Content(tx, "b").delete(dg(1))
        Leases(tx, "b").delete("l")
        after = dump(tx)

    def outside_b(entries: dict) -> dict:
        return {
            k: v
            for k, v in entries.items()
            if k[:2] != (b"v1", b"b") and k[:3] != (b"metafs", b"sequences", b"b")
        }

    assert outside_b(after) == outside_b(before)


def test_names_are_byte_strings_and_errors_name_the_object(store):
    with store.write() as tx:
        with pytest.raises(InvalidArgument, match="snapshot key .* is not a byte string"):
            Snapshots(tx, NS).create("overlayfs", "bad\ud800")
        with pytest.raises(InvalidArgument, match="lease id .* is not a byte string"):
            Leases(tx, NS).create("bad\ud800")
        with pytest.raises(InvalidArgument, match='^lease "" in namespace "default": lease id'):
            Leases(tx, NS).create("")
        with pytest.raises(InvalidArgument, match=f'^content "{dg(1)}" in namespace "default"'):
            Content(tx, NS).create(dg(1), 1 << 63)
        # a Go string need not be UTF-8: bytes that are not round-trip through surrogateescape
        odd = b"\xff\xfe".decode("utf-8", "surrogateescape")
        Snapshots(tx, NS).create("overlayfs", odd)
        assert tx.bucket(b"v1", b"default", b"snapshots", b"overlayfs", b"\xff\xfe") is not None
        assert [s.key for s in Snapshots(tx, NS).list()] == [odd]
