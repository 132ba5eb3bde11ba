"""Namespaces with containerd's semantics, on a real LMDB store."""

from __future__ import annotations

import errno

import pytest

from metafs import (
    AlreadyExists,
    Container,
    Containers,
    Descriptor,
    FailedPrecondition,
    Image,
    Images,
    InvalidArgument,
    Namespaces,
    NotFound,
    Runtime,
    Store,
)
from metafs.codec import SPEC_TYPE_URL, AnyValue

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.fixture
def store(store_at: str):
    with Store.open(store_at) as s:
        yield s


def raw(tx, *path):
    bucket = tx.bucket(*path)
    return None if bucket is None else list(bucket.items())


VALID = ["a", "A", "0", "default", "k8s.io", "team-b", "a_b", "a.b-c_d", "x" * 76, "9.9.9"]
INVALID = [
    "",
    "x" * 77,
    "-a",
    "a-",
    ".a",
    "a.",
    "_a",
    "a__b",
    "a..b",
    "a.-b",
    "a b",
    "a/b",
    "a:b",
    "é",
    "a\x00",
    "a\n",
]


@pytest.mark.parametrize("name", VALID)
def test_create_accepts_identifiers(store, name):
    with store.write() as tx:
        Namespaces(tx).create(name)
    with store.read() as tx:
        assert Namespaces(tx).exists(name)
        assert list(Namespaces(tx).list()) == [name]


@pytest.mark.parametrize("name", INVALID)
def test_create_refuses_bad_identifiers(store, name):
    with store.write() as tx, pytest.raises(InvalidArgument) as info:
        Namespaces(tx).create(name)
    assert info.value.errno == errno.EINVAL
    if name:
        assert name[:10] in info.value.message
    with store.read() as tx:
        assert tx.bucket(b"v1") is None


@pytest.mark.parametrize("name", ["bad ns", "x" * 77, "-x"])
def test_objects_cannot_create_an_invalid_namespace(store, name):
    # containerd's NamespaceRequired validates the namespace of every request.
    with store.write() as tx:
        with pytest.raises(InvalidArgument):
            Images(tx, name).create(Image("img", Descriptor("m", DIGEST, 1)))
        with pytest.raises(InvalidArgument):
            Containers(tx, name).create(
                Container("c", runtime=Runtime("r"), spec=AnyValue(SPEC_TYPE_URL, b"{}"))
            )
        with pytest.raises(InvalidArgument):
            Images(tx, name).create_draft("img")
    with store.read() as tx:
        assert list(tx.root().items()) == []


def test_create_writes_containerd_layout(store):
    with store.write() as tx:
        Namespaces(tx).create("plain")
        Namespaces(tx).create("labeled", {"owner": "ops", "tier": "gold"})
    with store.read() as tx:
        # v1/version = varint 3 beside the namespaces; ctr's create always makes `labels`.
        assert raw(tx, b"v1") == [(b"labeled", None), (b"plain", None), (b"version", b"\x06")]
        assert raw(tx, b"v1", b"plain") == [(b"labels", None)]
        assert raw(tx, b"v1", b"plain", b"labels") == []
        assert raw(tx, b"v1", b"labeled", b"labels") == [(b"owner", b"ops"), (b"tier", b"gold")]
        assert list(Namespaces(tx).list()) == ["labeled", "plain"]  # `version` is skipped
        assert Namespaces(tx).labels("labeled") == {"owner": "ops", "tier": "gold"}
        assert Namespaces(tx).labels("plain") == {}


def test_create_twice_is_already_exists(store):
    with store.write() as tx:
        Namespaces(tx).create("ns", {"a": "1"})
    with store.write() as tx, pytest.raises(AlreadyExists) as info:
        Namespaces(tx).create("ns", {"b": "2"})
    assert info.value.errno == errno.EEXIST
    assert '"ns"' in info.value.message
    with store.read() as tx:
        assert Namespaces(tx).labels("ns") == {"a": "1"}


def test_list_is_bytewise_sorted(store):
    names = ["b", "B", "a-1", "a", "a.1", "a_1", "Z9", "0"]
    with store.write() as tx:
        for n in names:
            Namespaces(tx).create(n)
    with store.read() as tx:
        assert list(Namespaces(tx).list()) == sorted(names, key=str.encode)


def test_label_size_limit(store):
    with store.write() as tx:
        Namespaces(tx).create("ns", {"k" * 4000: "v" * 96})  # exactly 4096 bytes
        Namespaces(tx).set_label("ns", "é" * 2, "v" * 4092)  # 4 + 4092 bytes, UTF-8 counted
        with pytest.raises(InvalidArgument) as info:
            Namespaces(tx).create("other", {"k" * 4000: "v" * 97})
        assert "4097" in info.value.message and '"other"' in info.value.message
        with pytest.raises(InvalidArgument) as info:
            Namespaces(tx).set_label("ns", "é" * 2, "v" * 4093)
        assert "4097" in info.value.message and '"ns"' in info.value.message
        with pytest.raises(InvalidArgument):
            Namespaces(tx).set_label("ns", "", "v")
        assert not Namespaces(tx).exists("other")
    with store.read() as tx:
        assert Namespaces(tx).labels("ns") == {"k" * 4000: "v" * 96, "éé": "v" * 4092}


def test_set_label_sets_and_removes_like_containerd(store):
    with store.write() as tx:
        Namespaces(tx).create("ns")
        Namespaces(tx).set_label("ns", "a", "1")
        Namespaces(tx).set_label("ns", "b", "2")
        Namespaces(tx).set_label("ns", "a", "changed")
    with store.read() as tx:
        assert raw(tx, b"v1", b"ns", b"labels") == [(b"a", b"changed"), (b"b", b"2")]
    with store.write() as tx:
        Namespaces(tx).set_label("ns", "a", "")
        Namespaces(tx).set_label("ns", "b", "")
        Namespaces(tx).set_label("ns", "never", "")
    with store.read() as tx:
        assert Namespaces(tx).labels("ns") == {}
        # containerd deletes the key and keeps the (now empty) bucket
        assert raw(tx, b"v1", b"ns") == [(b"labels", None)]


def test_missing_namespace_is_not_found(store):
    with store.write() as tx:
        ns = Namespaces(tx)
        for call in (
            lambda: ns.labels("nope"),
            lambda: ns.set_label("nope", "k", "v"),
            lambda: ns.delete("nope"),
        ):
            with pytest.raises(NotFound) as info:
                call()
            assert info.value.errno == errno.ENOENT
            assert 'namespace "nope"' in info.value.message
        assert not ns.exists("nope")
        assert list(ns.list()) == []


def make_image(tx, ns):
    Images(tx, ns).create(Image("img", Descriptor("m", DIGEST, 1)))


def make_container(tx, ns):
    Containers(tx, ns).create(
        Container("c", runtime=Runtime("r"), spec=AnyValue(SPEC_TYPE_URL, b"{}"))
    )


def make_blob(tx, ns):
    tx.create_buckets(b"v1", ns.encode(), b"content", b"blob", DIGEST.encode()).put(b"size", b"\2")


def make_snapshot(tx, ns):
    tx.create_buckets(b"v1", ns.encode(), b"snapshots", b"overlayfs", b"key").put(b"name", b"x")


def make_draft(tx, ns):
    Images(tx, ns).create_draft("draft")


@pytest.mark.parametrize(
    "make, what",
    [
        (make_image, "images"),
        (make_container, "containers"),
        (make_blob, "blobs"),
        (make_snapshot, "snapshot-overlayfs"),
        (make_draft, "image drafts"),
    ],
)
def test_delete_refused_while_the_namespace_holds_objects(store, make, what):
    with store.write() as tx:
        Namespaces(tx).create("ns", {"k": "v"})
        make(tx, "ns")
    with store.write() as tx, pytest.raises(FailedPrecondition) as info:
        Namespaces(tx).delete("ns")
    assert info.value.errno == errno.ENOTEMPTY
    assert 'namespace "ns" must be empty' in info.value.message
    assert what in info.value.message
    with store.read() as tx:
        assert Namespaces(tx).exists("ns")
        assert Namespaces(tx).labels("ns") == {"k": "v"}


def test_delete_lists_everything_held(store):
    with store.write() as tx:
        for make in (make_image, make_container, make_blob, make_snapshot):
            make(tx, "ns")
        with pytest.raises(FailedPrecondition) as info:
            Namespaces(tx).delete("ns")
    assert "images, blobs, containers, snapshot-overlayfs" in info.value.message


def test_delete_of_an_emptied_namespace(store):
    with store.write() as tx:
        Namespaces(tx).create("ns", {"k": "v"})
        Namespaces(tx).create("other")
        make_image(tx, "ns")
        make_container(tx, "ns")
        make_draft(tx, "ns")
        # empty buckets that containerd leaves behind do not count
        tx.create_buckets(b"v1", b"ns", b"snapshots", b"native")
        tx.create_buckets(b"v1", b"ns", b"content", b"blob")
        tx.create_buckets(b"v1", b"ns", b"content", b"ingests", b"ref")
        tx.create_buckets(b"v1", b"ns", b"leases", b"lease-1")
    with store.write() as tx:
        Images(tx, "ns").delete("img")
        Containers(tx, "ns").delete("c")
        Images(tx, "ns").delete_draft("draft")
        Namespaces(tx).delete("ns")
    with store.read() as tx:
        assert list(Namespaces(tx).list()) == ["other"]
        assert tx.bucket(b"v1", b"ns") is None
        assert raw(tx, b"v1") == [(b"other", None), (b"version", b"\x06")]
        assert tx.bucket(b"metafs", b"drafts", b"ns") is None
