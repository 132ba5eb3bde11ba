"""Objects the mount tests put into a store, and how they read them back."""

from __future__ import annotations

from metafs import (
    AnyValue,
    Container,
    Containers,
    Descriptor,
    Image,
    Images,
    Runtime,
    Store,
)
from metafs.codec import SPEC_TYPE_URL

NS = "default"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SPEC = b'{"ociVersion":"1.1.0","process":{"args":["sh"]}}'


def make_image(store: Store, name: str, labels: dict[str, str] | None = None) -> Image:
    with store.write() as tx:
        target = Descriptor(MANIFEST, DIGEST_A, 1234)
        return Images(tx, NS).create(Image(name, target, labels or {}))


def image(store: Store, name: str) -> Image | None:
    """The image or draft called `name`, as the store holds it now."""
    with store.read() as tx:
        images = Images(tx, NS)
        if images.exists(name):
            return images.get(name)
        return images.draft(name) if images.is_draft(name) else None


def make_container(store: Store, cid: str, **fields) -> Container:
    fields.setdefault("runtime", Runtime("io.containerd.runc.v2"))
    fields.setdefault("spec", AnyValue(SPEC_TYPE_URL, SPEC))
    with store.write() as tx:
        return Containers(tx, NS).create(Container(cid, **fields))


def container(store: Store, cid: str) -> Container | None:
    with store.read() as tx:
        containers = Containers(tx, NS)
        return containers.get(cid) if containers.exists(cid) else None
