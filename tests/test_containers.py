"""Containers with containerd's semantics, on a real LMDB store."""

from __future__ import annotations

import errno
import hashlib
import json
import struct

import pytest
from containerd_fixture import TIMES, dump_lines, fixture_lines

from metafs import (
    AlreadyExists,
    AnyValue,
    Container,
    Containers,
    InvalidArgument,
    MetafsError,
    NotFound,
    Runtime,
    Store,
)
from metafs.codec import RUNC_OPTIONS_TYPE_URL, SPEC_TYPE_URL
from metafs.containers import spec_from_json
from metafs.dump import render

NS = "default"
SPEC = AnyValue(SPEC_TYPE_URL, b'{"ociVersion":"1.0.2-dev"}')
RUNC = Runtime("io.containerd.runc.v2", AnyValue(RUNC_OPTIONS_TYPE_URL))
KATA_OPTIONS = AnyValue("runtimeoptions.v1.Options", b"\x12\x15/etc/kata/config.toml")


@pytest.fixture
def store(store_at: str):
    with Store.open(store_at) as s:
        yield s


def container(cid: str = "db-1", **kwargs) -> Container:
    fields = dict(
        image="registry.example.com:5000/team/app:v1",
        runtime=RUNC,
        spec=SPEC,
        snapshotter="native",
        snapshot_key=cid,
        labels={"app": "db"},
    )
    fields.update(kwargs)
    return Container(cid, **fields)


def create(store, c: Container | None = None) -> Container:
    with store.write() as tx:
        return Containers(tx, NS).create(c or container())


def get(store, cid: str = "db-1") -> Container:
    with store.read() as tx:
        return Containers(tx, NS).get(cid)


def raw(tx, cid: str = "db-1"):
    return tx.bucket(b"v1", NS.encode(), b"containers", cid.encode())


def assert_names_container(exc: MetafsError, cid: str, ns: str = NS) -> None:
    assert f'container "{cid}" in namespace "{ns}"' in exc.message


# ---- the stored bytes -----------------------------------------------------------------------


def test_stored_bytes_match_containerd(store):
    """The buckets of containers db-1 and kata-1 in containerd 1.6's meta-small.db, line for
    line, times and the spec (a host's own) aside."""
    create(
        store,
        container(
            labels={
                "com.example.version": "1.0",
                "io.containerd.image.config.stop-signal": "SIGTERM",
                "org.example.peer": "metafs",
                "role": "primary",
            }
        ),
    )
    kata = container(
        "kata-1",
        image="docker.io/library/alpine:latest",
        snapshotter="overlayfs",
        runtime=Runtime("io.containerd.kata.v2", KATA_OPTIONS),
        labels={
            "app": "kata",
            "io.containerd.image.config.stop-signal": "SIGTERM",
            "org.example.peer": "metafs",
        },
    )
    create(store, kata)
    skip = (*TIMES, b"spec")
    with store.read() as tx:
        db1, kata1 = dump_lines(raw(tx), skip), dump_lines(raw(tx, "kata-1"), skip)
        assert [k for k, _ in raw(tx).items()] == [
            b"createdat",
            b"image",
            b"labels",
            b"runtime",
            b"snapshotKey",
            b"snapshotter",
            b"spec",
            b"updatedat",
        ]
    assert db1 == fixture_lines("v1", NS, "containers", "db-1", skip=skip)
    assert kata1 == fixture_lines("v1", NS, "containers", "kata-1", skip=skip)
    assert '"snapshotter" = "native"' in db1 and '"snapshotter" = "overlayfs"' in kata1


def test_spec_is_a_protobuf_any_holding_json(store):
    # ctr's spec for db-1 was 2742 bytes of JSON in an Any of 2801 bytes.
    doc = {"ociVersion": "1.0.2-dev", "pad": ""}
    doc["pad"] = "x" * (2742 - len(json.dumps(doc, separators=(",", ":"))))
    text = json.dumps(doc, separators=(",", ":"))
    assert len(text) == 2742
    create(store, container(spec=spec_from_json(text)))
    with store.read() as tx:
        stored = raw(tx).get(b"spec")
    url = SPEC_TYPE_URL.encode()
    assert len(stored) == 2801
    assert stored == b"\x0a\x36" + url + b"\x12\xb6\x15" + text.encode()
    assert get(store).spec == AnyValue(SPEC_TYPE_URL, text.encode())


def test_empty_strings_are_always_written(store):
    create(
        store, container(image="", snapshotter="", snapshot_key="", labels={}, runtime=Runtime("r"))
    )
    with store.read() as tx:
        lines = dump_lines(raw(tx), skip=TIMES)
    assert lines == [
        '"image" = ""',
        '["runtime"]',
        '  "name" = "r"',
        '"snapshotKey" = ""',
        '"snapshotter" = ""',
        f'"spec" = {render(SPEC.encode())}  (Any type_url="{SPEC_TYPE_URL}" value=26 bytes '
        f"sha256:{hashlib.sha256(SPEC.value).hexdigest()})",
    ]


def test_extensions_are_a_container_level_bucket_of_any(store):
    ext = {"a": AnyValue("t/a", b"\x01"), "b": AnyValue("t/b")}
    create(store, container(extensions=ext))
    with store.read() as tx:
        assert raw(tx).bucket(b"runtime").bucket(b"extensions") is None
        assert list(raw(tx).bucket(b"extensions").items()) == [
            (b"a", b"\x0a\x03t/a\x12\x01\x01"),
            (b"b", b"\x0a\x03t/b"),
        ]
    assert get(store).extensions == ext


def go_time(raw_value: bytes) -> int:
    assert len(raw_value) == 15 and raw_value[0] == 1 and raw_value[-2:] == b"\xff\xff"
    sec, nsec = struct.unpack(">qi", raw_value[1:13])
    return (sec - 62135596800) * 10**9 + nsec


def test_timestamps(store):
    made = create(store)
    assert made.created_at == made.updated_at > 0
    with store.read() as tx:
        assert raw(tx).get(b"createdat") == raw(tx).get(b"updatedat")
        assert go_time(raw(tx).get(b"createdat")) == made.created_at
    with store.write() as tx:
        updated = Containers(tx, NS).set_label("db-1", "k", "v")
    assert updated.created_at == made.created_at < updated.updated_at
    with store.read() as tx:
        assert go_time(raw(tx).get(b"createdat")) == made.created_at
        assert go_time(raw(tx).get(b"updatedat")) == updated.updated_at


# ---- create, get, list, delete --------------------------------------------------------------


def test_create_get_round_trip(store):
    made = create(store, container(extensions={"x": AnyValue("t", b"v")}))
    assert get(store) == made
    assert made.runtime == RUNC and made.spec == SPEC and made.labels == {"app": "db"}


def test_ids_list_in_bolt_order(store):
    ids = ["b", "a", "A", "a-1", "a.1", "a_1", "0", "z" * 76]
    with store.write() as tx:
        for cid in ids:
            Containers(tx, NS).create(container(cid))
    with store.read() as tx:
        assert list(Containers(tx, NS).ids()) == sorted(ids)
        assert [c.id for c in Containers(tx, NS).list()] == sorted(ids)
        assert all(Containers(tx, NS).exists(cid) for cid in ids)
        assert not Containers(tx, NS).exists("c") and not Containers(tx, NS).exists("")
        assert list(Containers(tx, "other").ids()) == []


def test_create_twice_is_already_exists(store):
    create(store)
    with store.write() as tx, pytest.raises(AlreadyExists) as info:
        Containers(tx, NS).create(container(image="other"))
    assert info.value.errno == errno.EEXIST
    assert_names_container(info.value, "db-1")
    assert get(store).image == "registry.example.com:5000/team/app:v1"


def test_not_found_everywhere(store):
    with store.write() as tx:
        containers = Containers(tx, NS)
        for call in (
            lambda: containers.get("nope"),
            lambda: containers.update(container("nope")),
            lambda: containers.set_label("nope", "k", "v"),
            lambda: containers.delete("nope"),
        ):
            with pytest.raises(NotFound) as info:
                call()
            assert info.value.errno == errno.ENOENT
            assert_names_container(info.value, "nope")


def test_delete(store):
    create(store)
    create(store, container("other"))
    with store.write() as tx:
        Containers(tx, NS).delete("db-1")
        with pytest.raises(NotFound):
            Containers(tx, NS).delete("db-1")
        with pytest.raises(NotFound):
            Containers(tx, NS).delete("")
    with store.read() as tx:
        assert list(Containers(tx, NS).ids()) == ["other"]
        assert raw(tx) is None


# ---- validation -----------------------------------------------------------------------------

GOOD_IDS = ["a", "0", "db-1", "svc-2.worker_3", "A.b-C_d", "x" * 76]
BAD_IDS = ["", "x" * 77, "-a", "a-", "a--b", "a._b", "a b", "a/b", "a:b", "ü", "a\n"]


@pytest.mark.parametrize("cid", GOOD_IDS)
def test_good_ids(store, cid):
    create(store, container(cid))
    assert get(store, cid).id == cid


@pytest.mark.parametrize("cid", BAD_IDS)
def test_bad_ids_are_refused(store, cid):
    with store.write() as tx, pytest.raises(InvalidArgument) as info:
        Containers(tx, NS).create(container(cid))
    assert info.value.errno == errno.EINVAL
    assert_names_container(info.value, cid)
    with store.read() as tx:
        assert list(Containers(tx, NS).ids()) == []


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(runtime=Runtime("")), "Runtime.Name"),
        (dict(runtime=Runtime("", AnyValue("t"))), "Runtime.Name"),
        (dict(spec=None), "Spec"),
        (dict(snapshotter=""), "Snapshotter"),
        (dict(extensions={"": AnyValue("t")}), "Extension"),
        (dict(labels={"k" * 4000: "v" * 97}), "4097"),
        (dict(labels={"": "v"}), "label key"),
    ],
)
def test_invalid_containers_are_refused(store, change, words):
    with store.write() as tx, pytest.raises(InvalidArgument) as info:
        Containers(tx, NS).create(container(**change))
    assert words in info.value.message
    assert_names_container(info.value, "db-1")
    with store.read() as tx:
        assert tx.bucket(b"v1", NS.encode(), b"containers", b"db-1") is None


def test_limits_that_are_accepted(store):
    create(
        store,
        container(
            labels={"k" * 4000: "v" * 96},
            snapshotter="native",
            snapshot_key="",
            image="",
            runtime=Runtime("r"),
        ),
    )
    assert get(store).labels == {"k" * 4000: "v" * 96}


# ---- update ---------------------------------------------------------------------------------


def update(store, c: Container, *paths: str) -> Container:
    with store.write() as tx:
        result = Containers(tx, NS).update(c, *paths)
    assert get(store, c.id) == result
    return result


@pytest.fixture
def made(store):
    return create(
        store,
        container(
            labels={"a": "1", "b": "2"}, extensions={"x": AnyValue("t/x"), "y": AnyValue("t/y")}
        ),
    )


NEW_SPEC = AnyValue(SPEC_TYPE_URL, b'{"ociVersion":"1.1.0"}')


def test_update_labels(store, made):
    c = update(store, Container("db-1", labels={"a": "A", "z": "Z"}), "labels.a")
    assert c.labels == {"a": "A", "b": "2"}
    c = update(store, Container("db-1"), "labels.b")
    assert c.labels == {"a": "A"}
    c = update(store, Container("db-1", labels={"n": "1"}), "labels")
    assert c.labels == {"n": "1"}
    assert c.spec == SPEC and c.image == made.image and c.runtime == RUNC


def test_update_spec_image_snapshotkey(store, made):
    c = update(store, Container("db-1", spec=NEW_SPEC), "spec")
    assert c.spec == NEW_SPEC and c.image == made.image
    c = update(store, Container("db-1", image="new:image"), "image")
    assert c.image == "new:image" and c.spec == NEW_SPEC
    c = update(store, Container("db-1", snapshot_key="other-key"), "snapshotkey")
    assert c.snapshot_key == "other-key" and c.snapshotter == "native"
    c = update(store, Container("db-1"), "snapshotkey", "image")
    assert c.snapshot_key == "" and c.image == ""
    assert c.labels == made.labels and c.extensions == made.extensions


def test_update_extensions(store, made):
    c = update(store, Container("db-1", extensions={"x": AnyValue("t/new", b"1")}), "extensions.x")
    assert c.extensions == {"x": AnyValue("t/new", b"1"), "y": AnyValue("t/y")}
    c = update(store, Container("db-1"), "extensions.y")
    assert c.extensions == {"x": AnyValue("t/new", b"1")}
    c = update(store, Container("db-1", extensions={"q": AnyValue("t/q")}), "extensions")
    assert c.extensions == {"q": AnyValue("t/q")}
    c = update(store, Container("db-1"), "extensions")
    assert c.extensions == {}
    with store.read() as tx:
        assert raw(tx).bucket(b"extensions") is None


@pytest.mark.parametrize(
    "path", ["runtime", "runtime.name", "snapshotter", "id", "createdat", "spec.x", "Labels", ""]
)
def test_bad_field_paths_are_refused(store, made, path):
    with store.write() as tx, pytest.raises(InvalidArgument) as info:
        Containers(tx, NS).update(
            container(labels={"a": "x"}, runtime=Runtime("o")), "labels.a", path
        )
    assert f'"{path}"' in info.value.message
    assert_names_container(info.value, "db-1")
    assert get(store) == made


def test_full_update(store, made):
    new = container(
        labels={"only": "this"},
        spec=NEW_SPEC,
        image="i",
        snapshot_key="k2",
        extensions={},
        runtime=Runtime(RUNC.name, AnyValue("ignored.Options")),
    )
    c = update(store, new)
    assert c.labels == {"only": "this"} and c.spec == NEW_SPEC and c.image == "i"
    assert c.snapshot_key == "k2" and c.extensions == {}
    assert c.runtime == RUNC  # runtime options are not part of a full update in containerd
    assert c.created_at == made.created_at < c.updated_at


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(snapshotter="overlayfs"), "Snapshotter field is immutable"),
        (dict(snapshotter=""), "Snapshotter field is immutable"),
        (dict(runtime=Runtime("io.containerd.kata.v2")), "Runtime.Name field is immutable"),
    ],
)
def test_full_update_refuses_changing_immutable_fields(store, made, change, words):
    with store.write() as tx, pytest.raises(InvalidArgument) as info:
        Containers(tx, NS).update(container(**change, image="changed"))
    assert words in info.value.message
    assert_names_container(info.value, "db-1")
    assert get(store) == made


@pytest.mark.parametrize(
    "c, paths, words",
    [
        (Container("db-1"), ("spec",), "Spec"),
        (Container("db-1", labels={"k": "v" * 5000}), ("labels.k",), "greater than maximum"),
        (Container("db-1", extensions={"": AnyValue("t")}), ("extensions",), "Extension"),
    ],
)
def test_invalid_updates_change_nothing(store, made, c, paths, words):
    with store.write() as tx, pytest.raises(InvalidArgument) as info:
        Containers(tx, NS).update(c, *paths)
    assert words in info.value.message
    assert_names_container(info.value, "db-1")
    assert get(store) == made


def test_snapshot_key_needs_a_snapshotter_on_update(store):
    create(store, container("c", snapshotter="", snapshot_key=""))
    with store.write() as tx, pytest.raises(InvalidArgument) as info:
        Containers(tx, NS).update(Container("c", snapshot_key="k"), "snapshotkey")
    assert "Snapshotter" in info.value.message
    assert get(store, "c").snapshot_key == ""


def test_update_needs_an_id(store):
    with store.write() as tx, pytest.raises(InvalidArgument):
        Containers(tx, NS).update(Container(""))


def test_set_label(store, made):
    with store.write() as tx:
        assert Containers(tx, NS).set_label("db-1", "c", "3").labels == {
            "a": "1",
            "b": "2",
            "c": "3",
        }
        assert Containers(tx, NS).set_label("db-1", "a", "").labels == {"b": "2", "c": "3"}
        with pytest.raises(InvalidArgument) as info:
            Containers(tx, NS).set_label("db-1", "", "x")
        assert_names_container(info.value, "db-1")
        with pytest.raises(InvalidArgument):
            Containers(tx, NS).set_label("db-1", "k", "v" * 4096)
    with store.read() as tx:
        assert list(raw(tx).bucket(b"labels").items()) == [(b"b", b"2"), (b"c", b"3")]


def test_a_label_write_changes_only_that_label_and_the_time(store, made):
    """One label is written alone, with the same result as containerd's rewrite of the whole
    container: everything else byte for byte the same; and as its writeMap, removing the last
    label by its path leaves the labels bucket, empty."""

    def walk(tx):
        return {path: value for path, value in raw(tx).walk() if path[0] != b"updatedat"}

    with store.read() as tx:
        before = walk(tx)
    with store.write() as tx:
        Containers(tx, NS).set_label("db-1", "a", "A")
    with store.read() as tx:
        after = walk(tx)
    assert after == {**before, (b"labels", b"a"): b"A"}
    assert get(store).updated_at > made.updated_at
    with store.write() as tx:
        Containers(tx, NS).set_label("db-1", "a", "")
        Containers(tx, NS).set_label("db-1", "b", "")
    with store.read() as tx:
        assert list(raw(tx).bucket(b"labels").items()) == []
        assert {p: v for p, v in walk(tx).items() if p[0] != b"labels"} == {
            p: v for p, v in before.items() if p[0] != b"labels"
        }


# ---- spec_from_json -------------------------------------------------------------------------


def test_spec_from_json():
    assert spec_from_json(' {"a": 1}\n') == AnyValue(SPEC_TYPE_URL, b'{"a": 1}')
    assert spec_from_json(b'{"a": 1}') == AnyValue(SPEC_TYPE_URL, b'{"a": 1}')
    for bad in ("", "{", "[1]", '"s"', "null", "1"):
        with pytest.raises(InvalidArgument):
            spec_from_json(bad)


@pytest.mark.parametrize(
    "change",
    [
        dict(image="\ud800"),
        dict(snapshotter="a\udfff"),
        dict(snapshot_key="\ud800"),
        dict(runtime=Runtime("\ud800")),
        dict(extensions={"\ud800": AnyValue("t")}),
        dict(labels={"\ud800": "v"}),
    ],
)
def test_unencodable_text_is_invalid_argument(store, change):
    with store.write() as tx, pytest.raises(InvalidArgument) as info:
        Containers(tx, NS).create(container(**change))
    assert_names_container(info.value, "db-1")
    with store.read() as tx:
        assert list(tx.root().items()) == []
