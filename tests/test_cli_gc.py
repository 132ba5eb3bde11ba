"""`metafs gc` and `metafs gc explain`, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import metafs
from gc_world import CHAIN, CONFIG, MANIFEST, build_meta_small, container, dg

from metafs import Content, Leases, Snapshots, Store


@pytest.fixture
def store(new_store):
    path = new_store()
    with Store.open(path) as store, store.write() as tx:
        build_meta_small(tx)
        Snapshots(tx, "default").create("overlayfs", "stray", CHAIN)
        Snapshots(tx, "default").create("overlayfs", "has space", "stray")
        Content(tx, "team-b").create(dg("stray"), 1)
        Leases(tx, "team-b").create("expired", expires_at=1)
        container(tx, "labeled-ns", "bare", key="")
    return path


def snapshot_keys(path: Path) -> list[str]:
    with Store.open(path) as store, store.read() as tx:
        return [s.key for s in Snapshots(tx, "default").list("overlayfs")]


def test_dry_run_prints_what_would_go_and_removes_nothing(store):
    keys = snapshot_keys(store)
    done = metafs(store, "gc", "--dry-run")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == "default snapshot overlayfs/has space\ndefault snapshot overlayfs/stray\n"
    assert snapshot_keys(store) == keys


def test_gc_removes_and_prints_one_line_per_resource(store):
    done = metafs(store, "-n", "default", "gc")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "default snapshot overlayfs/has space",
        "default snapshot overlayfs/stray",
    ]
    assert snapshot_keys(store) == ["kata-1", CHAIN, "web-1"]
    assert metafs(store, "gc").stdout == ""


def test_gc_all_namespaces(store):
    done = metafs(store, "gc", "--all-namespaces", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "default snapshot overlayfs/has space",
        "default snapshot overlayfs/stray",
        "team-b lease expired",
        f"team-b content {dg('stray')}",
    ]
    assert metafs(store, "gc", "--all-namespaces").stdout == done.stdout
    assert metafs(store, "gc", "--all-namespaces").stdout == ""


def test_explain_prints_the_chain(store):
    done = metafs(store, "gc", "explain", "snapshot", "overlayfs", CHAIN)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"snapshot overlayfs/{CHAIN} is kept by 3 references:\n"
        "  container kata-1  (root)\n"
        "  -> snapshot overlayfs/kata-1  (snapshotter/snapshotKey)\n"
        f"  -> snapshot overlayfs/{CHAIN}  (parent)\n"
        "\n"
        "  container web-1  (root)\n"
        "  -> snapshot overlayfs/web-1  (snapshotter/snapshotKey)\n"
        f"  -> snapshot overlayfs/{CHAIN}  (parent)\n"
        "\n"
        "  image docker.io/library/alpine:3.19  (root)\n"
        f"  -> content {MANIFEST}  (target digest)\n"
        f"  -> content {CONFIG}  (label containerd.io/gc.ref.content.config)\n"
        f"  -> snapshot overlayfs/{CHAIN}  (label containerd.io/gc.ref.snapshot.overlayfs)\n"
    )
    native = metafs(store, "gc", "explain", "snapshot", "native", CHAIN).stdout
    assert "container db-1  (root)" in native
    config = metafs(store, "-n", "team-b", "gc", "explain", "content", CONFIG).stdout
    assert "image docker.io/library/alpine:3.19  (root)" in config
    assert "(label containerd.io/gc.ref.content.config)" in config
    lease = metafs(store, "gc", "explain", "lease", "keep-me").stdout
    assert lease == "lease keep-me is kept:\n  lease keep-me  (root: lease without expiry)\n"
    stray = metafs(store, "gc", "explain", "snapshot", "overlayfs", "has space")
    assert stray.stdout == "snapshot overlayfs/has space is unreferenced: would be collected\n"


def test_explain_errors(store):
    missing = metafs(store, "gc", "explain", "content", dg("nothing"))
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr == (
        f'metafs: content "{dg("nothing")}" in namespace "default": not found\n'
    )
    usage = metafs(store, "gc", "explain", "image", "x")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


def test_gc_json_says_what_the_lines_say(store):
    done = metafs(store, "gc", "--all-namespaces", "--dry-run", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {
            "namespace": "default",
            "kind": "snapshot",
            "id": "overlayfs/has space",
            "snapshotter": "overlayfs",
            "key": "has space",
        },
        {
            "namespace": "default",
            "kind": "snapshot",
            "id": "overlayfs/stray",
            "snapshotter": "overlayfs",
            "key": "stray",
        },
        {"namespace": "team-b", "kind": "lease", "id": "expired"},
        {"namespace": "team-b", "kind": "content", "id": dg("stray")},
    ]
    assert json.loads(metafs(store, "gc", "--format", "json").stdout)[0]["key"] == "has space"
    assert json.loads(metafs(store, "gc", "--format", "json").stdout) == []


def test_explain_json(store):
    done = metafs(store, "gc", "explain", "--format", "json", "lease", "keep-me")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "namespace": "default",
        "resource": {"kind": "lease", "id": "keep-me"},
        "kept": True,
        "chains": [[{"what": "lease keep-me", "via": "lease without expiry"}]],
    }
    chains = json.loads(
        metafs(store, "gc", "explain", "--format", "json", "snapshot", "overlayfs", CHAIN).stdout
    )["chains"]
    assert [[link["what"] for link in chain][0] for chain in chains] == [
        "container kata-1",
        "container web-1",
        "image docker.io/library/alpine:3.19",
    ]
    assert chains[0][1] == {"what": "snapshot overlayfs/kata-1", "via": "snapshotter/snapshotKey"}
    stray = metafs(store, "gc", "explain", "--format", "json", "snapshot", "overlayfs", "stray")
    assert json.loads(stray.stdout)["kept"] is False
    assert json.loads(stray.stdout)["chains"] == []
