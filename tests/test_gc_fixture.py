"""Collection on the state of meta-small.db: deleting container web-1 removes exactly its
own snapshot; deleting an image that shares its target removes no content.

Each case runs on the file imported with metafs.importer and on the same state rebuilt through
the store API (tests/gc_world.py, checked against the fixture's bolt-dump.txt for every entry
the collector reads)."""

from __future__ import annotations

import json
import re

import pytest
from containerd_fixture import BOLT_DUMP, META_DB
from gc_world import (
    CHAIN,
    CONFIG,
    DEFAULT_IMAGES,
    LAYER,
    MANIFEST,
    build_meta_small,
    diff,
    dump,
    tops,
)

from metafs import Containers, Images, Snapshots, Store, gc
from metafs.importer import import_bolt

DEFAULT = (b"v1", b"default")
OVERLAY = (*DEFAULT, b"snapshots", b"overlayfs")


@pytest.fixture(params=["imported", "rebuilt"])
def store(request, tmp_path):
    with Store.open(tmp_path / "store") as store:
        if request.param == "imported":
            import_bolt(store, META_DB)
        else:
            with store.write() as tx:
                build_meta_small(tx)
        yield store


@pytest.fixture
def rebuilt(tmp_path):
    with Store.open(tmp_path / "store") as store:
        with store.write() as tx:
            build_meta_small(tx)
        yield store


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def bolt_dump_entries(text: str) -> dict[tuple[str, ...], str | None]:
    """Paths and values of bolt-dump.txt: a bucket maps to None, a key to its value as printed
    (a quoted string decoded, anything else as is)."""
    found: dict[tuple[str, ...], str | None] = {}
    stack: list[str] = []
    for line in text.splitlines():
        depth = (len(line) - len(line.lstrip(" "))) // 2
        body = line.strip()
        del stack[depth:]
        if body.startswith("["):
            stack.append(json.loads(_QUOTED.match(body, 1).group()))
            found[tuple(stack)] = None
            continue
        key = _QUOTED.match(body)
        value = body[key.end() + len(" = ") :].split("  (")[0]
        found[(*stack, json.loads(key.group()))] = (
            json.loads(value) if value.startswith('"') else value
        )
    return found


def what_gc_reads(path: tuple[str, ...]) -> bool:
    """The entries the collector reads (or whose presence it depends on): names of objects,
    targets, snapshot keys, parents, children, labels of resources, leases."""
    if len(path) < 4 or path[0] != "v1":
        return False
    kind, rest = path[2], path[3:]
    if kind == "images":
        return len(rest) == 1 or rest[1:] == ("target", "digest")
    if kind == "containers":
        return len(rest) == 1 or rest[1:] in (("snapshotter",), ("snapshotKey",))
    if kind == "snapshots":
        return len(rest) <= 2 or rest[2] in ("parent", "children", "labels")
    if kind == "content":
        return rest[0] == "blob" and (len(rest) <= 2 or rest[2] in ("labels", "size"))
    return kind == "leases" and (len(rest) == 1 or rest[1] == "labels")


def render(path: tuple[str, ...], value: bytes | None) -> str | None:
    """A value as bolt-dump.txt prints it, for the entries compared here: varint sizes in hex,
    the rest as text."""
    if value is None:
        return None
    return "hex:" + value.hex() if path[-1] == "size" else value.decode()


def test_the_rebuilt_state_is_the_fixtures_as_far_as_the_collector_reads(rebuilt):
    expected = {
        path: value
        for path, value in bolt_dump_entries(BOLT_DUMP.read_text()).items()
        if what_gc_reads(path)
    }
    with rebuilt.read() as tx:
        built = {
            names: render(names, value)
            for path, value in dump(tx).items()
            if what_gc_reads(names := tuple(part.decode() for part in path))
        }
    assert built == expected
    assert len(expected) > 60


def test_the_rebuilt_state_holds_no_garbage(store):
    with store.read() as tx:
        for ns in ("default", "team-b", "labeled-ns"):
            assert gc.collect(tx, ns, dry_run=True) == []


def test_deleting_web_1_removes_exactly_its_snapshot(store):
    with store.read() as tx:
        before = dump(tx)
    with store.write() as tx:
        Containers(tx, "default").delete("web-1")
    with store.read() as tx:
        after = dump(tx)
        base = Snapshots(tx, "default").get("overlayfs", CHAIN)
    removed, added, changed = diff(before, after)
    assert not added and not changed
    assert tops(removed) == {
        (*DEFAULT, b"containers", b"web-1"),
        (*OVERLAY, b"web-1"),
        (*OVERLAY, CHAIN.encode(), b"children", b"web-1"),  # its parent's link to it
    }
    assert base.children == ["kata-1"]


def test_deleting_an_image_that_shares_its_target_removes_no_content(store):
    with store.read() as tx:
        before = dump(tx)
    with store.write() as tx:
        Images(tx, "default").delete("docker.io/library/alpine:latest")
    with store.read() as tx:
        removed, added, changed = diff(before, dump(tx))
    assert not added and not changed
    assert tops(removed) == {(*DEFAULT, b"images", b"docker.io/library/alpine:latest")}


def test_deleting_every_image_removes_the_content_but_not_snapshots_containers_use(store):
    with store.read() as tx:
        before = dump(tx)
    with store.write() as tx:
        for name in DEFAULT_IMAGES:
            Images(tx, "default").delete(name)
    with store.read() as tx:
        removed, added, changed = diff(before, dump(tx))
    blobs = (*DEFAULT, b"content", b"blob")
    assert not added and not changed
    assert tops(removed) == {(*DEFAULT, b"images", name.encode()) for name in DEFAULT_IMAGES} | {
        (*blobs, digest.encode()) for digest in (MANIFEST, CONFIG, LAYER)
    }
