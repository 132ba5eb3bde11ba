"""Helpers for the resource and garbage-collection tests: build states through the store API
and take whole-store dumps to compare before and after."""

from __future__ import annotations

import hashlib

from metafs import (
    Container,
    Containers,
    Content,
    Descriptor,
    Image,
    Images,
    Leases,
    Namespaces,
    Runtime,
    Snapshots,
    Store,
)
from metafs.containers import spec_from_json
from metafs.store import Bucket, Txn

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def dg(seed: object) -> str:
    """A valid sha256 digest made from any seed."""
    return "sha256:" + hashlib.sha256(str(seed).encode()).hexdigest()


def image(tx: Txn, ns: str, name: str, digest: str, labels: dict[str, str] | None = None) -> None:
    Images(tx, ns).create(Image(name, Descriptor(MANIFEST_TYPE, digest, 405), labels or {}))


def container(
    tx: Txn,
    ns: str,
    cid: str,
    key: str | None = None,
    snapshotter: str = "overlayfs",
    labels: dict[str, str] | None = None,
) -> None:
    Containers(tx, ns).create(
        Container(
            cid,
            labels=labels or {},
            runtime=Runtime("io.containerd.runc.v2"),
            spec=spec_from_json('{"ociVersion": "1.0.2-dev"}'),
            snapshotter=snapshotter if key != "" else "",
            snapshot_key=cid if key is None else key,
        )
    )


def layers(tx: Txn, ns: str, *keys: str) -> None:
    """A chain of overlayfs snapshots, each the parent of the next."""
    parent = ""
    for key in keys:
        Snapshots(tx, ns).create("overlayfs", key, parent)
        parent = key


def manifest(tx: Txn, ns: str, seed: str) -> tuple[str, str, str]:
    """A manifest referencing a config and a layer through labels, as containerd labels them."""
    m, c, layer = dg(f"{seed}-manifest"), dg(f"{seed}-config"), dg(f"{seed}-layer")
    content = Content(tx, ns)
    content.create(layer, 100)
    content.create(c, 10)
    refs = {"containerd.io/gc.ref.content.config": c, "containerd.io/gc.ref.content.l.0": layer}
    content.create(m, 405, refs)
    return m, c, layer


def snapshot_keys(store: Store, ns: str = "default", snapshotter: str = "overlayfs") -> set[str]:
    with store.read() as tx:
        return {s.key for s in Snapshots(tx, ns).list(snapshotter)}


def digests(store: Store, ns: str = "default") -> set[str]:
    with store.read() as tx:
        return {b.digest for b in Content(tx, ns).list()}


def dump(tx: Txn) -> dict[tuple[bytes, ...], bytes | None]:
    """Every bucket (value None) and key of the store, by path."""
    found: dict[tuple[bytes, ...], bytes | None] = {}

    def walk(bucket: Bucket) -> None:
        for name, value in bucket.items():
            path = (*bucket.path, name)
            found[path] = value
            if value is None:
                walk(Bucket(tx, path))

    walk(tx.root())
    return found


def diff(before: dict, after: dict) -> tuple[set, set, set]:
    """(paths removed, paths added, paths whose value changed)."""
    removed = set(before) - set(after)
    added = set(after) - set(before)
    changed = {p for p in set(before) & set(after) if before[p] != after[p]}
    return removed, added, changed


def tops(paths: set) -> set:
    """The paths of `paths` whose parent is not among them: whole buckets removed or added
    are named once."""
    return {p for p in paths if p[:-1] not in paths}


# ---- the state of meta-small.db, rebuilt through the API -------------------------------------

MANIFEST = "sha256:77c508ee5a3a257a51d5640cc183eb15622e066838d22835ea36b11232590550"
CONFIG = "sha256:507ca0b3f27295a0a17cbc75d4088913317e5da66c4021098dc28094a43358ae"
LAYER = "sha256:8d87610a373d04c4059b6aa4231f415a44afb0b33d9ae66551eca37f4d374a76"
CHAIN = "sha256:c2ec185c8eb134579100115b496eba84d6057ff1e01ad1ca9c0b94997d336419"

DEFAULT_IMAGES = (
    "docker.io/library/alpine:3.19",
    "docker.io/library/alpine:latest",
    "docker.io/library/alpine@" + MANIFEST,
    "example.com/odd name with spaces:1",
    "ghcr.io/org/sub/tool:1.0.0-rc.1",
    "localhost/plain:latest",
    "registry.example.com:5000/team/app:v1",
)


def _unpacked_image(tx: Txn, ns: str, snapshotters: tuple[str, ...]) -> None:
    content = Content(tx, ns)
    content.create(LAYER, 1027836, {"containerd.io/uncompressed": CHAIN})
    content.create(
        CONFIG, 349, {f"containerd.io/gc.ref.snapshot.{name}": CHAIN for name in snapshotters}
    )
    content.create(
        MANIFEST,
        405,
        {"containerd.io/gc.ref.content.config": CONFIG, "containerd.io/gc.ref.content.l.0": LAYER},
    )
    for name in snapshotters:
        Snapshots(tx, ns).create(name, CHAIN)


def build_meta_small(tx: Txn) -> None:
    """The namespaces, images, content, snapshots, containers and lease of meta-small.db (see
    tests/fixtures/containerd/meta-small.expected/bolt-dump.txt), made through the API."""
    _unpacked_image(tx, "default", ("overlayfs", "native"))
    for name in DEFAULT_IMAGES:
        image(tx, "default", name, MANIFEST)
    snapshots = Snapshots(tx, "default")
    snapshots.create("overlayfs", "web-1", CHAIN)
    container(tx, "default", "web-1", labels={"app": "web"})
    snapshots.create("native", "db-1", CHAIN)
    container(tx, "default", "db-1", snapshotter="native", labels={"app": "db"})
    snapshots.create("overlayfs", "kata-1", CHAIN)
    container(tx, "default", "kata-1", labels={"app": "kata"})
    Leases(tx, "default").create("keep-me", {"purpose": "fixture"})

    _unpacked_image(tx, "team-b", ("overlayfs",))
    image(tx, "team-b", "docker.io/library/alpine:3.19", MANIFEST)
    image(tx, "team-b", "registry.example.com:5000/team-b/svc:2.0", MANIFEST, {"owner": "bob"})
    for cid in ("svc-1", "svc-2.worker_3"):
        Snapshots(tx, "team-b").create("overlayfs", cid, CHAIN)
        container(tx, "team-b", cid, labels={"team": "b"})

    Namespaces(tx).create("labeled-ns", {"owner": "ops", "tier": "gold"})
