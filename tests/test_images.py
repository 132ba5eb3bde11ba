"""Images and image drafts with containerd's semantics, on a real LMDB store."""

from __future__ import annotations

import errno
import struct

import pytest
from containerd_fixture import TIMES, dump_lines, fixture_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metafs import (
    AlreadyExists,
    Descriptor,
    Image,
    Images,
    InvalidArgument,
    MetafsError,
    NotFound,
    Store,
)
from metafs.codec import decode_time

NS = "default"
DIGEST = "sha256:77c508ee5a3a257a51d5640cc183eb15622e066838d22835ea36b11232590550"
OTHER = "sha256:" + "0" * 64
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ALPINE = "docker.io/library/alpine:3.19"
GO_EPOCH_OFFSET = 62135596800  # seconds from 0001-01-01 to 1970-01-01


@pytest.fixture
def store(store_at: str):
    with Store.open(store_at) as s:
        yield s


def target(size: int = 405, digest: str = DIGEST, media_type: str = MANIFEST, **annotations):
    return Descriptor(media_type, digest, size, dict(annotations))


def create(store, name: str = ALPINE, **kwargs) -> Image:
    with store.write() as tx:
        return Images(tx, NS).create(Image(name, kwargs.pop("target", target()), **kwargs))


def get(store, name: str = ALPINE, ns: str = NS) -> Image:
    with store.read() as tx:
        return Images(tx, ns).get(name)


def raw_image(tx, name: str = ALPINE):
    return tx.bucket(b"v1", NS.encode(), b"images", name.encode("utf-8", "surrogateescape"))


def assert_names_image(exc: MetafsError, name: str, ns: str = NS) -> None:
    assert f'image "{name}" in namespace "{ns}"' in exc.message


# ---- create, get, list and the stored bytes --------------------------------------------------


def test_stored_bytes_match_containerd(store):
    """Lines from containerd 1.6's own bolt file for this image (meta-small.db), times aside."""
    create(
        store,
        labels={
            "env": "prod",
            "eq": "a=b",
            "io.example/owner": "alice",
            "note": "hello world",
            "team": "core",
            "unicode": "héllo ✓",
        },
        target=target(
            **{"io.containerd.image.name": ALPINE, "org.opencontainers.image.ref.name": "3.19"}
        ),
    )
    with store.read() as tx:
        lines = dump_lines(raw_image(tx), skip=TIMES)
        assert [name for name, _ in raw_image(tx).items()] == [
            b"annotations",
            b"createdat",
            b"labels",
            b"target",
            b"updatedat",
        ]
        assert raw_image(tx).bucket(b"target").get(b"size") == b"\xaa\x06"
        # the schema version beside the namespace buckets: varint 3
        assert tx.bucket(b"v1").get(b"version") == b"\x06"
    assert lines == fixture_lines("v1", NS, "images", ALPINE, skip=TIMES)
    assert '  "size" = hex:aa06  (varint 405)' in lines


def go_time(raw: bytes) -> int:
    """Decode Go's MarshalBinary v1 independently of metafs.codec: Unix nanoseconds, UTC."""
    assert len(raw) == 15 and raw[0] == 1 and raw[-2:] == b"\xff\xff"
    sec, nsec = struct.unpack(">qi", raw[1:13])
    assert 0 <= nsec < 10**9
    return (sec - GO_EPOCH_OFFSET) * 10**9 + nsec


def test_create_sets_both_times_equal_as_go_marshal_binary(store):
    made = create(store)
    with store.read() as tx:
        b = raw_image(tx)
        created, updated = b.get(b"createdat"), b.get(b"updatedat")
    assert created == updated
    assert go_time(created) == made.created_at == made.updated_at
    assert get(store).created_at == made.created_at


def test_update_keeps_createdat_and_advances_updatedat(store):
    made = create(store)
    with store.write() as tx:
        first = Images(tx, NS).set_label(ALPINE, "k", "v")
    with store.write() as tx:
        second = Images(tx, NS).update(Image(ALPINE, target(size=406)))
    for image in (first, second):
        assert image.created_at == made.created_at
    assert made.updated_at < first.updated_at < second.updated_at
    with store.read() as tx:
        b = raw_image(tx)
        assert go_time(b.get(b"createdat")) == made.created_at
        assert go_time(b.get(b"updatedat")) == second.updated_at
        assert decode_time(b.get(b"updatedat")) == second.updated_at


def test_get_round_trips_every_field(store):
    made = create(store, labels={"a": "1", "b": "2"}, target=target(size=2**63 - 1, x="y"))
    image = get(store)
    assert image == made
    assert image.target == Descriptor(MANIFEST, DIGEST, 2**63 - 1, {"x": "y"})


def test_names_are_any_non_empty_bytes_and_list_in_bolt_order(store):
    names = [
        "b",
        "a",
        "example.com/odd name with spaces:1",
        "Weird Name:1",
        "a@sha256:" + "0" * 64,
        "héllo",
        "tab\there",
        "nul\x00inside",
        "bad-utf8-\udcff",
        "x" * 1000,
    ]
    with store.write() as tx:
        for n in names:
            Images(tx, NS).create(Image(n, target(), labels={"n": n[:20]}))
    order = sorted(names, key=lambda n: n.encode("utf-8", "surrogateescape"))
    with store.read() as tx:
        images = Images(tx, NS)
        assert list(images.names()) == order
        assert [i.name for i in images.list()] == order
        for n in names:
            assert images.exists(n)
            assert images.get(n).labels == {"n": n[:20]}
        assert not images.exists("")
        assert not images.exists("c")
        assert not Images(tx, "other").exists("b")
        assert list(Images(tx, "other").names()) == []


def test_create_twice_is_already_exists_and_changes_nothing(store):
    create(store, labels={"k": "v"})
    with store.write() as tx, pytest.raises(AlreadyExists) as info:
        Images(tx, NS).create(Image(ALPINE, target(size=1), labels={"other": "x"}))
    assert info.value.errno == errno.EEXIST
    assert_names_image(info.value, ALPINE)
    assert get(store).labels == {"k": "v"} and get(store).target.size == 405


def test_namespaces_are_separate(store):
    create(store)
    with store.write() as tx:
        Images(tx, "team-b").create(Image(ALPINE, target(size=7)))
    assert get(store).target.size == 405
    assert get(store, ns="team-b").target.size == 7


# ---- validation -----------------------------------------------------------------------------

GOOD_DIGESTS = [DIGEST, "sha384:" + "a" * 96, "sha512:" + "0" * 128]
BAD_DIGESTS = [
    "",
    "sha256",
    "sha256:",
    ":" + "a" * 64,
    "sha256" + "a" * 64,
    "md5:" + "a" * 32,
    "SHA256:" + "a" * 64,
    "sha256:" + "A" * 64,
    "sha256:" + "a" * 63,
    "sha256:" + "a" * 65,
    "sha256:" + "g" * 64,
    "sha256:" + "a" * 63 + "\n",
    "sha256:" + "a" * 32 + ":" + "a" * 31,
    "sha384:" + "a" * 64,
    "sha512:" + "a" * 64,
    " sha256:" + "a" * 64,
]


@pytest.mark.parametrize("digest", GOOD_DIGESTS)
def test_valid_digests(store, digest):
    create(store, target=target(digest=digest))
    assert get(store).target.digest == digest


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_invalid_digests_are_refused(store, digest):
    with store.write() as tx, pytest.raises(InvalidArgument) as info:
        Images(tx, NS).create(Image(ALPINE, target(digest=digest)))
    assert info.value.errno == errno.EINVAL
    assert_names_image(info.value, ALPINE)
    with store.read() as tx:
        assert not Images(tx, NS).exists(ALPINE)


@pytest.mark.parametrize("size", [0, -1, -(2**63), 2**63, True, "405", 4.5])
def test_invalid_sizes_are_refused(store, size):
    with store.write() as tx, pytest.raises(InvalidArgument) as info:
        Images(tx, NS).create(Image(ALPINE, target(size=size)))
    assert_names_image(info.value, ALPINE)


@pytest.mark.parametrize(
    "size, encoded",
    [
        (1, b"\x02"),
        (3, b"\x06"),
        (349, b"\xba\x05"),
        (405, b"\xaa\x06"),
        (1027836, b"\xf8\xbb\x7d"),
    ],
)
def test_size_is_a_go_varint(store, size, encoded):
    create(store, target=target(size=size))
    with store.read() as tx:
        assert raw_image(tx).bucket(b"target").get(b"size") == encoded
    assert get(store).target.size == size


def test_media_type_and_name_are_required(store):
    with store.write() as tx:
        with pytest.raises(InvalidArgument) as info:
            Images(tx, NS).create(Image(ALPINE, target(media_type="")))
        assert_names_image(info.value, ALPINE)
        with pytest.raises(InvalidArgument) as info:
            Images(tx, NS).create(Image("", target()))
        assert_names_image(info.value, "")
        assert list(Images(tx, NS).names()) == []


def test_label_size_limit_is_4096_bytes(store):
    ok = {"k" * 4000: "v" * 96, "ü" * 100: "v" * 3896}  # bytes, not characters
    create(store, labels=ok)
    assert get(store).labels == ok
    for bad in ({"k" * 4000: "v" * 97}, {"ü" * 100: "v" * 3897}, {"": "v"}):
        with store.write() as tx, pytest.raises(InvalidArgument) as info:
            Images(tx, NS).update(Image(ALPINE, labels=bad), "labels")
        assert_names_image(info.value, ALPINE)
        with store.write() as tx, pytest.raises(InvalidArgument):
            Images(tx, NS).create(Image("other", target(), labels=bad))
    assert get(store).labels == ok


def test_annotations_are_not_size_limited_like_containerd(store):
    big = {"a" * 5000: "b" * 5000}
    create(store, target=target(**big))
    assert get(store).target.annotations == big
    with store.write() as tx:  # and the image stays updatable
        Images(tx, NS).set_label(ALPINE, "k", "v")
    assert get(store).target.annotations == big


# ---- update by field paths ------------------------------------------------------------------


@pytest.fixture
def labelled(store):
    create(store, labels={"a": "1", "b": "2"}, target=target(x="1", y="2"))
    return store


def update(store, image: Image, *paths: str) -> Image:
    with store.write() as tx:
        returned = Images(tx, NS).update(image, *paths)
    assert get(store) == returned
    return returned


def test_update_one_label(labelled):
    img = update(labelled, Image(ALPINE, target(size=1), labels={"a": "new", "c": "x"}), "labels.a")
    assert img.labels == {"a": "new", "b": "2"}
    assert img.target == target(x="1", y="2")  # untouched
    img = update(labelled, Image(ALPINE, labels={"c": "3"}), "labels.c")
    assert img.labels == {"a": "new", "b": "2", "c": "3"}
    img = update(labelled, Image(ALPINE), "labels.a")  # absent from the image: removed
    assert img.labels == {"b": "2", "c": "3"}
    img = update(labelled, Image(ALPINE, labels={"b": ""}), "labels.b")  # empty: removed
    assert img.labels == {"c": "3"}


def test_update_all_labels(labelled):
    assert update(labelled, Image(ALPINE, labels={"z": "9"}), "labels").labels == {"z": "9"}
    assert update(labelled, Image(ALPINE), "labels").labels == {}
    with labelled.read() as tx:
        assert raw_image(tx).bucket(b"labels") is None  # no labels, no bucket


def test_update_annotations(labelled):
    img = update(labelled, Image(ALPINE, target(x="changed")), "annotations.x")
    assert img.target.annotations == {"x": "changed", "y": "2"}
    img = update(labelled, Image(ALPINE), "annotations.y")
    assert img.target.annotations == {"x": "changed"}
    img = update(labelled, Image(ALPINE, target(q="1")), "annotations")
    assert img.target.annotations == {"q": "1"}
    assert img.target.size == 405 and img.labels == {"a": "1", "b": "2"}


def test_update_target_replaces_it_as_a_unit(labelled):
    new = target(size=7, digest=OTHER, media_type="m", z="1")
    img = update(labelled, Image(ALPINE, new, labels={"ignored": "x"}), "target")
    assert img.target == new  # annotations included, as containerd does
    assert img.labels == {"a": "1", "b": "2"}


def test_update_with_several_paths(labelled):
    img = update(
        labelled,
        Image(ALPINE, target(size=9), labels={"b": "B", "n": "N"}),
        "labels.b",
        "target",
        "labels.n",
    )
    assert img.labels == {"a": "1", "b": "B", "n": "N"}
    assert img.target == target(size=9)


def test_full_update_replaces_everything_but_createdat(labelled):
    before = get(labelled)
    img = update(labelled, Image(ALPINE, target(size=1, w="1"), labels={"only": "this"}))
    assert img.labels == {"only": "this"} and img.target == target(size=1, w="1")
    assert img.created_at == before.created_at and img.updated_at > before.updated_at


@pytest.mark.parametrize(
    "path", ["name", "createdat", "target.digest", "Labels", "label.a", "annotation", "", "size"]
)
def test_bad_field_paths_are_refused(labelled, path):
    before = get(labelled)
    with labelled.write() as tx, pytest.raises(InvalidArgument) as info:
        Images(tx, NS).update(Image(ALPINE, labels={"a": "x"}), "labels.a", path)
    assert f'"{path}"' in info.value.message
    assert_names_image(info.value, ALPINE)
    assert get(labelled) == before


def test_invalid_update_changes_nothing(labelled):
    before = get(labelled)
    for image, paths in [
        (Image(ALPINE, target(digest="sha256:bad")), ("target",)),
        (Image(ALPINE, target(size=0)), ()),
        (Image(ALPINE, labels={"k": "v" * 5000}), ("labels.k",)),
    ]:
        with labelled.write() as tx, pytest.raises(InvalidArgument) as info:
            Images(tx, NS).update(image, *paths)
        assert_names_image(info.value, ALPINE)
    assert get(labelled) == before


def test_update_errors(store):
    with store.write() as tx:
        with pytest.raises(InvalidArgument):
            Images(tx, NS).update(Image("", target()))
        with pytest.raises(NotFound) as info:
            Images(tx, NS).update(Image("missing", target()))
        assert info.value.errno == errno.ENOENT
        assert_names_image(info.value, "missing")


# ---- labels as containerd writes them --------------------------------------------------------


def test_labels_bucket_is_rewritten_like_containerd(store):
    create(store)
    with store.read() as tx:
        assert raw_image(tx).bucket(b"labels") is None  # no labels: no bucket
        assert raw_image(tx).bucket(b"annotations") is None
    with store.write() as tx:
        Images(tx, NS).set_label(ALPINE, "team", "core")
        Images(tx, NS).set_label(ALPINE, "env", "prod")
    with store.read() as tx:
        assert list(raw_image(tx).bucket(b"labels").items()) == [
            (b"env", b"prod"),
            (b"team", b"core"),
        ]
    with store.write() as tx:
        Images(tx, NS).set_label(ALPINE, "team", "")
        Images(tx, NS).set_label(ALPINE, "env", "")
    with store.read() as tx:
        # containerd's writeMap: the update carries {"env": ""}, so the bucket is re-created
        # and the empty value dropped, leaving it empty
        assert list(raw_image(tx).bucket(b"labels").items()) == []
        assert get(store).labels == {}
    with store.write() as tx:
        Images(tx, NS).set_labels(ALPINE, {})
    with store.read() as tx:
        assert raw_image(tx).bucket(b"labels") is None


def test_set_label_and_set_labels(store):
    create(store, labels={"a": "1"})
    with store.write() as tx:
        assert Images(tx, NS).set_label(ALPINE, "b", "2").labels == {"a": "1", "b": "2"}
        assert Images(tx, NS).set_labels(ALPINE, {"c": "3", "d": ""}).labels == {"c": "3"}
        with pytest.raises(InvalidArgument):
            Images(tx, NS).set_label(ALPINE, "", "v")
        with pytest.raises(InvalidArgument):
            Images(tx, NS).set_label(ALPINE, "k", "v" * 4096)
        with pytest.raises(NotFound) as info:
            Images(tx, NS).set_label("missing", "k", "v")
        assert_names_image(info.value, "missing")
    assert get(store).labels == {"c": "3"}


# ---- put, delete, rename --------------------------------------------------------------------


def test_put_creates_then_replaces_the_target(store):
    with store.write() as tx:
        made = Images(tx, NS).put(ALPINE, target(a="1"))
        Images(tx, NS).set_label(ALPINE, "k", "v")
    with store.write() as tx:
        put = Images(tx, NS).put(ALPINE, target(size=1, digest=OTHER))
    assert put.target == target(size=1, digest=OTHER)
    assert put.labels == {"k": "v"} and put.created_at == made.created_at
    assert get(store) == put
    with store.write() as tx, pytest.raises(InvalidArgument):
        Images(tx, NS).put(ALPINE, target(size=0))
    with store.write() as tx, pytest.raises(InvalidArgument):
        Images(tx, NS).put("new", target(digest="nope"))
    assert get(store) == put
    with store.read() as tx:
        assert list(Images(tx, NS).names()) == [ALPINE]


def test_delete(store):
    create(store, labels={"k": "v"})
    create(store, "other")
    with store.write() as tx:
        Images(tx, NS).delete(ALPINE)
        for name in (ALPINE, "", "never"):
            with pytest.raises(NotFound) as info:
                Images(tx, NS).delete(name)
            assert_names_image(info.value, name)
    with store.read() as tx:
        assert list(Images(tx, NS).names()) == ["other"]
        assert raw_image(tx) is None
        with pytest.raises(NotFound) as info:
            Images(tx, NS).get(ALPINE)
        assert_names_image(info.value, ALPINE)
    with store.write() as tx, pytest.raises(NotFound) as info:
        Images(tx, "empty-ns").delete(ALPINE)
    assert_names_image(info.value, ALPINE, "empty-ns")


def test_rename_image(store):
    made = create(store, labels={"k": "v"}, target=target(a="1"))
    create(store, "taken")
    with store.write() as tx:
        renamed = Images(tx, NS).rename(ALPINE, "new:name")
    assert renamed.name == "new:name"
    assert renamed.labels == made.labels and renamed.target == made.target
    assert renamed.created_at == made.created_at and renamed.updated_at > made.updated_at
    with store.read() as tx:
        assert list(Images(tx, NS).names()) == ["new:name", "taken"]
        assert Images(tx, NS).get("new:name") == renamed
    with store.write() as tx:
        with pytest.raises(AlreadyExists) as info:
            Images(tx, NS).rename("new:name", "taken")
        assert_names_image(info.value, "taken")
        with pytest.raises(NotFound) as info:
            Images(tx, NS).rename("missing", "fresh")
        assert_names_image(info.value, "missing")
        with pytest.raises(InvalidArgument) as info:
            Images(tx, NS).rename("new:name", "")
        assert_names_image(info.value, "new:name")
        with pytest.raises(AlreadyExists):
            Images(tx, NS).rename("taken", "taken")
        with pytest.raises(InvalidArgument):
            Images(tx, NS).rename("taken", "\ud800")
    with store.read() as tx:
        assert list(Images(tx, NS).names()) == ["new:name", "taken"]


# ---- drafts ---------------------------------------------------------------------------------


def drafts_raw(tx, ns: str = NS):
    bucket = tx.bucket(b"metafs", b"drafts", ns.encode())
    return None if bucket is None else dump_lines(bucket, skip=TIMES)


def test_draft_lives_outside_v1(store):
    with store.write() as tx:
        draft = Images(tx, NS).create_draft("new")
        Images(tx, NS).set_label("new", "k", "v")
    assert draft.created_at == draft.updated_at > 0
    with store.read() as tx:
        images = Images(tx, NS)
        assert tx.bucket(b"v1") is None  # nothing under v1, not even the namespace
        assert drafts_raw(tx) == [
            '["new"]',
            '  ["labels"]',
            '    "k" = "v"',
            '  ["target"]',
        ]
        assert images.is_draft("new") and not images.exists("new")
        assert list(images.draft_names()) == ["new"]
        assert list(images.names()) == []
        assert images.draft("new").labels == {"k": "v"}
        with pytest.raises(NotFound) as info:
            images.get("new")
        assert_names_image(info.value, "new")


def test_set_target_field_promotes_exactly_when_complete(store):
    with store.write() as tx:
        made = Images(tx, NS).create_draft(ALPINE)
        Images(tx, NS).set_label(ALPINE, "team", "core")
    steps = [("size", 405), ("digest", DIGEST), ("mediatype", MANIFEST)]
    for i, (field, value) in enumerate(steps):
        with store.write() as tx:
            result = Images(tx, NS).set_target_field(ALPINE, field, value)
        with store.read() as tx:
            images = Images(tx, NS)
            complete = i == len(steps) - 1
            assert images.exists(ALPINE) == complete
            assert images.is_draft(ALPINE) == (not complete)
            assert images.get(ALPINE) == result if complete else images.draft(ALPINE) == result
    assert result.target == target() and result.labels == {"team": "core"}
    assert result.created_at == made.created_at
    with store.read() as tx:
        assert tx.bucket(b"metafs", b"drafts", NS.encode()) is None
        assert raw_image(tx).bucket(b"target").get(b"size") == b"\xaa\x06"
        assert go_time(raw_image(tx).get(b"createdat")) == made.created_at


@pytest.mark.parametrize(
    "field, value",
    [
        ("digest", "sha256:abc"),
        ("digest", ""),
        ("size", 0),
        ("size", -5),
        ("mediatype", ""),
        ("platform", "linux"),
    ],
)
def test_set_target_field_validates_each_value(store, field, value):
    with store.write() as tx:
        Images(tx, NS).create_draft("d")
        Images(tx, NS).set_target_field("d", "size", 1)
    create(store)
    for name in ("d", ALPINE):
        with store.write() as tx, pytest.raises(InvalidArgument) as info:
            Images(tx, NS).set_target_field(name, field, value)
        assert_names_image(info.value, name)
    with store.read() as tx:
        assert Images(tx, NS).draft("d").target == Descriptor(size=1)
        assert Images(tx, NS).get(ALPINE).target == target()


def test_set_target_field_on_an_image_updates_its_target(store):
    made = create(store, target=target(a="1"))
    with store.write() as tx:
        img = Images(tx, NS).set_target_field(ALPINE, "digest", OTHER)
    assert img.target == target(digest=OTHER, a="1")
    assert img.created_at == made.created_at and img.updated_at > made.updated_at
    with store.write() as tx, pytest.raises(NotFound) as info:
        Images(tx, NS).set_target_field("missing", "size", 1)
    assert_names_image(info.value, "missing")


def test_drafts_and_images_share_one_name_space(store):
    create(store)
    with store.write() as tx:
        images = Images(tx, NS)
        images.create_draft("draft")
        for call in (
            lambda: images.create_draft(ALPINE),
            lambda: images.create_draft("draft"),
            lambda: images.create(Image("draft", target())),
            lambda: images.rename(ALPINE, "draft"),
            lambda: images.rename("draft", ALPINE),
        ):
            with pytest.raises(AlreadyExists) as info:
                call()
            assert 'in namespace "default"' in info.value.message
        with pytest.raises(InvalidArgument):
            images.create_draft("")
    with store.read() as tx:
        assert list(Images(tx, NS).names()) == [ALPINE]
        assert list(Images(tx, NS).draft_names()) == ["draft"]
        assert Images(tx, NS).get(ALPINE) == get(store)


def test_put_completes_a_draft(store):
    with store.write() as tx:
        made = Images(tx, NS).create_draft("d")
        Images(tx, NS).set_label("d", "k", "v")
        image = Images(tx, NS).put("d", target())
    assert image.labels == {"k": "v"} and image.target == target()
    assert image.created_at == made.created_at
    with store.read() as tx:
        assert Images(tx, NS).get("d") == image
        assert not Images(tx, NS).is_draft("d")


def test_rename_draft(store):
    with store.write() as tx:
        made = Images(tx, NS).create_draft("old")
        Images(tx, NS).set_target_field("old", "size", 5)
        Images(tx, NS).rename("old", "new")
    with store.read() as tx:
        images = Images(tx, NS)
        assert list(images.draft_names()) == ["new"]
        draft = images.draft("new")
        assert draft.target.size == 5 and draft.created_at == made.created_at
        assert tx.bucket(b"v1") is None


def test_delete_draft(store):
    with store.write() as tx:
        Images(tx, NS).create_draft("a")
        Images(tx, NS).create_draft("b")
        Images(tx, "team-b").create_draft("c")
        Images(tx, NS).delete_draft("a")
        with pytest.raises(NotFound) as info:
            Images(tx, NS).delete_draft("a")
        assert 'draft "a" in namespace "default"' in info.value.message
        with pytest.raises(NotFound):
            Images(tx, NS).delete("b")  # a draft is not an image
    with store.read() as tx:
        assert list(Images(tx, NS).draft_names()) == ["b"]
    with store.write() as tx:
        Images(tx, NS).delete_draft("b")
    with store.read() as tx:
        assert tx.bucket(b"metafs", b"drafts", NS.encode()) is None
        assert list(Images(tx, "team-b").draft_names()) == ["c"]


def test_draft_labels_are_validated(store):
    with store.write() as tx:
        Images(tx, NS).create_draft("d")
        with pytest.raises(InvalidArgument) as info:
            Images(tx, NS).set_label("d", "k", "v" * 4096)
        assert 'draft "d" in namespace "default"' in info.value.message
        with pytest.raises(InvalidArgument):
            Images(tx, NS).set_label("d", "", "v")
    with store.read() as tx:
        assert Images(tx, NS).draft("d").labels == {}


# ---- any bytes round-trip -------------------------------------------------------------------

raw_text = st.binary(min_size=1, max_size=600).map(lambda b: b.decode("utf-8", "surrogateescape"))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    names=st.lists(raw_text, min_size=1, max_size=6, unique=True),
    labels=st.dictionaries(
        raw_text, st.binary(max_size=300).map(lambda b: b.decode("latin-1")), max_size=5
    ),
)
def test_any_names_and_labels_round_trip(store, names, labels):
    with store.write() as tx:
        for name in list(Images(tx, NS).names()):
            Images(tx, NS).delete(name)
        for name in names:
            Images(tx, NS).create(Image(name, target(), labels=labels))
    stored = {k: v for k, v in labels.items() if v}
    with store.read() as tx:
        images = Images(tx, NS)
        assert list(images.names()) == sorted(
            names, key=lambda n: n.encode("utf-8", "surrogateescape")
        )
        for name in names:
            assert images.get(name).labels == stored


@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb"])
def test_unencodable_text_is_invalid_argument(store, bad):
    with store.write() as tx:
        for call in (
            lambda: Images(tx, NS).create(Image(bad, target())),
            lambda: Images(tx, NS).create(Image("ok", target(), labels={bad: "v"})),
            lambda: Images(tx, NS).create(Image("ok", target(), labels={"k": bad})),
            lambda: Images(tx, NS).create(Image("ok", target(**{bad: "v"}))),
            lambda: Images(tx, NS).create(Image("ok", target(media_type=bad))),
            lambda: Images(tx, NS).create_draft(bad),
        ):
            with pytest.raises(InvalidArgument):
                call()
    with store.read() as tx:
        assert list(tx.root().items()) == []
