"""The store's editor (the mount's writes on a store): the checks that depend on the object are
made on what its transaction reads, not on what the caller saw; what a store's mount does not
change is refused with EPERM. On a real LMDB store and on etcd."""

from __future__ import annotations

import errno

import pytest

from metafs import Container, Descriptor, Image, Images, Store
from metafs.containers import Containers, Runtime, spec_from_json
from metafs.errors import AlreadyExists, MetafsError, NotFound
from metafs.store_editor import StoreEditor

NS = "default"
TARGET = Descriptor("application/vnd.oci.image.manifest.v1+json", "sha256:" + "a" * 64, 1)


@pytest.fixture
def store(store_at: str):
    with Store.open(store_at) as s:
        yield s


def _image(store: Store, name: str = "img") -> Image:
    with store.read() as tx:
        return Images(tx, NS).get(name)


def test_a_moved_label_carries_the_stored_value_not_the_one_the_caller_saw(store: Store):
    with store.write() as tx:
        Images(tx, NS).create(Image("img", TARGET, labels={"k": "now"}))
    StoreEditor(store, NS).rename_label("images", "img", "k", "k2", "seen", replace=False)
    assert _image(store).labels == {"k2": "now"}


def test_a_label_gone_meanwhile_is_not_found_and_nothing_changes(store: Store):
    with store.write() as tx:
        Images(tx, NS).create(Image("img", TARGET, labels={"a": "1"}))
    before = _image(store)
    editor = StoreEditor(store, NS)
    with pytest.raises(NotFound):
        editor.remove_label("images", "img", "gone")
    with pytest.raises(NotFound):
        editor.rename_label("images", "img", "gone", "b", "1", replace=True)
    assert _image(store) == before


def test_a_label_moved_onto_another_is_refused_unless_replacing(store: Store):
    with store.write() as tx:
        Containers(tx, NS).create(
            Container(
                "c",
                runtime=Runtime("io.containerd.runc.v2"),
                spec=spec_from_json("{}"),
                labels={"a": "1", "b": "2"},
            )
        )
    editor = StoreEditor(store, NS)
    with pytest.raises(AlreadyExists):
        editor.rename_label("containers", "c", "a", "b", "1", replace=False)
    editor.rename_label("containers", "c", "a", "b", "1", replace=True)
    with store.read() as tx:
        assert Containers(tx, NS).get("c").labels == {"b": "1"}


def test_a_draft_made_and_completed_through_the_editor_becomes_an_image(store: Store):
    editor = StoreEditor(store, NS)
    editor.create_draft("d")
    with pytest.raises(AlreadyExists):
        editor.create_draft("d")
    editor.set_labels("images", "d", {"x": "1"})
    editor.set_field("images", "d", "digest", TARGET.digest)
    editor.set_field("images", "d", "mediatype", TARGET.media_type)
    editor.set_field("images", "d", "size", "7")
    image = _image(store, "d")
    assert (image.target.size, image.labels) == (7, {"x": "1"})
    assert editor.drafts() == {}  # a store's drafts are stored objects


def test_what_a_store_mount_does_not_change_is_refused_with_eperm(store: Store):
    editor = StoreEditor(store, NS)
    assert not editor.edits_labels("snapshots") and not editor.edits_labels("content")
    for refused in (
        lambda: editor.delete("leases", "l"),
        lambda: editor.set_labels("snapshots", "overlayfs/k", {"a": "1"}),
    ):
        with pytest.raises(MetafsError) as caught:
            refused()
        assert caught.value.errno == errno.EPERM
