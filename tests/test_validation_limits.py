"""Every field has a length limit (issue 19.2): a value beyond it is InvalidArgument (EINVAL
through the mount), never an internal error, and the store is left as it was."""

from __future__ import annotations

import pytest
from mount_helpers import NS, image, make_container, make_image

from metafs import (
    Container,
    Containers,
    Descriptor,
    Image,
    Images,
    InvalidArgument,
    Runtime,
    Store,
    validation,
)
from metafs.codec import SPEC_TYPE_URL, AnyValue

DIGEST = "sha256:" + "ab" * 32
MEDIA = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "store") as opened:
        yield opened


def test_size_text_of_any_length_is_a_value_error_not_a_crash():
    for text in ("9" * 5000, "1" * 20, "9223372036854775808"):
        with pytest.raises(InvalidArgument, match="too large"):
            validation.size(text)
    assert validation.size("9223372036854775807") == (1 << 63) - 1
    for text in ("0", "012", "1a", "-1", "١٢", "x" * 5000):
        with pytest.raises(InvalidArgument, match="positive decimal integer"):
            validation.size(text)
    with pytest.raises(InvalidArgument) as caught:
        validation.size("9" * 5000)
    assert len(str(caught.value)) < 100  # the message does not echo 5000 digits


def create(store: Store, name: str, media: str = MEDIA, **annotations: str) -> None:
    with store.write() as tx:
        Images(tx, NS).create(Image(name, Descriptor(media, DIGEST, 1, dict(annotations))))


def test_media_type_and_name_up_to_their_limits(store):
    media_max, name_max = validation.MEDIA_TYPE_MAX, validation.NAME_MAX
    create(store, "media-at-limit", media="a/" + "b" * (media_max - 2))
    create(store, "n" * name_max)
    generation = store.generation()
    with pytest.raises(InvalidArgument, match=f"media type is {media_max + 1} bytes"):
        create(store, "media-too-long", media="a/" + "b" * (media_max - 1))
    with pytest.raises(InvalidArgument, match=f"image name is {name_max + 1} bytes"):
        create(store, "n" * (name_max + 1))
    with pytest.raises(InvalidArgument, match="more than"):
        create(store, "huge", media="a/" + "b" * (20 << 20))
    assert store.generation() == generation


def test_a_20_mb_media_type_is_refused_by_set_target_field(store):
    make_image(store, "app:1")
    with (
        pytest.raises(InvalidArgument, match="media type is 20971522 bytes long"),
        store.write() as tx,
    ):
        Images(tx, NS).set_target_field("app:1", "mediatype", "a/" + "b" * (20 << 20))
    assert image(store, "app:1").target.media_type != "a/b"


def test_annotation_values_and_container_values(store):
    create(store, "small", **{"k": "v" * validation.ANNOTATION_MAX})
    with pytest.raises(InvalidArgument, match="annotation value"):
        create(store, "big", **{"k": "v" * (validation.ANNOTATION_MAX + 1)})
    make_container(store, "web-1")
    big_spec = AnyValue(SPEC_TYPE_URL, b'{"x": "' + b"y" * validation.VALUE_MAX + b'"}')
    with pytest.raises(InvalidArgument, match="container.Spec is"), store.write() as tx:
        Containers(tx, NS).create(
            Container("web-2", runtime=Runtime("io.containerd.runc.v2"), spec=big_spec)
        )
    with pytest.raises(InvalidArgument, match="container.Image is"), store.write() as tx:
        Containers(tx, NS).create(
            Container(
                "web-3",
                image="i" * (validation.NAME_MAX + 1),
                runtime=Runtime("io.containerd.runc.v2"),
                spec=AnyValue(SPEC_TYPE_URL, b"{}"),
            )
        )


def test_through_a_mount_size_and_media_type_beyond_their_limits_are_einval(mount_factory):
    mnt, store = mount_factory(fill=lambda s: make_image(s, "app:1"))
    before = image(store, "app:1")
    d = "images/app:1"
    done = mnt.sh(f"echo {'9' * 5000} > {d}/size")
    assert done.returncode == 1
    assert done.stderr.endswith("write error: Invalid argument\n"), done.stderr
    done = mnt.sh(f"head -c {20 << 20} /dev/zero | tr '\\0' a > {d}/mediatype")
    assert done.returncode == 1
    assert "Invalid argument" in done.stderr, done.stderr
    assert image(store, "app:1") == before
    assert mnt.sh(f"echo 4321 > {d}/size && cat {d}/size", check=True).stdout == "4321\n"
