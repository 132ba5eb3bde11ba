"""`metafs leases ls`, `snapshots ls`, `content ls` over buckets laid out as containerd does."""

from __future__ import annotations

import json
import re

import pytest
from cli_helpers import DIGEST, fails, metafs, ok

from metafs import Store
from metafs import buckets as B
from metafs.codec import encode_time, now_ns, put_varint

CONFIG = "sha256:507ca0b3f27295a0a17cbc75d4088913317e5da66c4021098dc28094a43358ae"
CHAIN = "sha256:c2ec185c8eb134579100115b496eba84d6057ff1e01ad1ca9c0b94997d336419"
FIXED = 1795834834_542550928  # 2026-11-28T03:00:34.542550928Z
HOUR = 3600 * 1_000_000_000


@pytest.fixture
def store(new_store):
    path = new_store()
    now = now_ns()
    with Store.open(path) as opened, opened.write() as tx:
        ns = B.create_namespace(tx, "default")
        blob = tx.create_buckets(*ns.path, B.CONTENT, B.BLOB)
        for digest, size, created, labels in (
            (CONFIG, 349, now - 3 * HOUR, {"containerd.io/gc.ref.snapshot.overlayfs": CHAIN}),
            (DIGEST, 405, now, {"b": "2", "a": "1"}),
            ("sha256:" + "8d" * 32, 1027836, now - 3 * 86400 * 10**9, {}),
        ):
            bucket = blob.create_bucket(B.enc(digest))
            B.write_times(bucket, created, created)
            bucket.put(B.SIZE, put_varint(size))
            B.write_labels(bucket, labels)
        tx.create_buckets(*ns.path, B.CONTENT, B.INGESTS)
        snaps = tx.create_buckets(*ns.path, B.SNAPSHOTS, b"overlayfs")
        for key, parent, children in (
            ("web-1", CHAIN, []),
            (CHAIN, "", ["web-1", "view-1"]),
            ("view-1", CHAIN, []),
            ("extract-123 layer", "", []),
            ("top", "", ["leaf"]),
            ("leaf", "top", []),
        ):
            bucket = snaps.create_bucket(B.enc(key))
            bucket.put(B.NAME, B.enc(f"default/1/{key}"))
            if parent:
                bucket.put(B.PARENT, B.enc(parent))
            B.write_times(bucket, FIXED, FIXED)
            if children:
                sub = bucket.create_bucket(B.CHILDREN)
                for child in children:
                    sub.put(B.enc(child), b"")
        B.write_labels(snaps.bucket(B.enc("top")), {"containerd.io/gc.root": "x"})
        tx.create_buckets(*ns.path, B.SNAPSHOTS, b"native")
        leases = tx.create_buckets(*ns.path, B.LEASES)
        for lease_id, labels in (("keep-me", {"purpose": "fixture"}), ("tmp", {})):
            bucket = leases.create_bucket(B.enc(lease_id))
            bucket.put(B.CREATEDAT, encode_time(FIXED))
            B.write_labels(bucket, labels)
        held = leases.bucket(b"keep-me")
        held.create_bucket(B.CONTENT).put(B.enc(DIGEST), b"")
        tx.create_buckets(*held.path, B.SNAPSHOTS, b"overlayfs").put(B.enc(CHAIN), b"")
        tx.create_buckets(*held.path, B.INGESTS).put(b"ref-1", b"")
    return path


def test_leases_ls(store):
    assert ok(store, "leases", "ls") == (
        "ID      CREATED AT           LABELS          \n"
        "keep-me 2026-11-28T03:00:34Z purpose=fixture \n"
        "tmp     2026-11-28T03:00:34Z -               \n"
    )
    assert ok(store, "leases", "ls", "-q") == "keep-me\ntmp\n"
    assert ok(store, "lease", "list", "-q", "labels.purpose") == "keep-me\n"
    assert ok(store, "leases", "ls", "-q", "id~=^t") == "tmp\n"
    listed = json.loads(ok(store, "leases", "ls", "--format", "json"))
    assert listed[0] == {
        "ID": "keep-me",
        "CreatedAt": "2026-11-28T03:00:34.542550928Z",
        "Labels": {"purpose": "fixture"},
        "Resources": [
            {"ID": DIGEST, "Type": "content"},
            {"ID": "ref-1", "Type": "ingests"},
            {"ID": CHAIN, "Type": "snapshots/overlayfs"},
        ],
    }
    assert ok(store, "-n", "other", "leases", "ls") == "ID CREATED AT LABELS \n"


def test_leases_ls_prints_local_time(store):
    result = metafs(store, "leases", "ls", extra_env={"TZ": "Asia/Kolkata"})
    assert "2026-11-28T08:30:34+05:30" in result.stdout


def test_snapshots_ls_with_derived_kinds(store):
    w = len(CHAIN) + 1
    expected = [
        ("KEY", "PARENT", "KIND"),
        ("extract-123 layer", "", "Active"),
        ("leaf", "top", "Active"),
        (CHAIN, "", "Committed"),
        ("top", "", "Committed"),
        ("view-1", CHAIN, "Active"),
        ("web-1", CHAIN, "Active"),
    ]
    assert ok(store, "snapshots", "ls") == "".join(
        f"{key:<{w}}{parent:<{w}}{kind:<10}\n" for key, parent, kind in expected
    )
    assert ok(store, "snapshots", "--snapshotter", "overlayfs", "ls") == ok(
        store, "snapshots", "ls", "--snapshotter", "overlayfs"
    )
    assert ok(store, "snapshots", "--snapshotter", "native", "ls") == "KEY PARENT KIND \n"
    assert ok(store, "snapshots", "--snapshotter", "zfs", "ls") == "KEY PARENT KIND \n"


def test_snapshots_ls_filters_and_json(store):
    out = ok(store, "snapshots", "ls", "kind==committed")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [CHAIN, "top"]
    out = ok(store, "snapshots", "ls", f"parent=={CHAIN}", 'labels."containerd.io/gc.root"')
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["top", "view-1", "web-1"]
    listed = json.loads(ok(store, "snapshots", "ls", "--format", "json", "name==top"))
    assert listed == [
        {
            "kind": "Committed",
            "name": "top",
            "parent": "",
            "labels": {"containerd.io/gc.root": "x"},
            "created": "2026-11-28T03:00:34.542550928Z",
            "updated": "2026-11-28T03:00:34.542550928Z",
            "children": ["leaf"],
            "snapshotter": "overlayfs",
            "backend_name": "default/1/top",
        }
    ]


def test_snapshots_from_the_environment(store):
    result = metafs(store, "snapshots", "ls", extra_env={"CONTAINERD_SNAPSHOTTER": "native"})
    assert result.stdout == "KEY PARENT KIND \n"


def test_snapshots_help_documents_the_kind_rule(store):
    text = " ".join(ok(store, "snapshots", "ls", "--help").split())
    assert "has children, or whose key is a digest" in text


def test_content_ls(store):
    out = ok(store, "content", "ls")
    rows = [line.split("\t") for line in out.splitlines()]
    cells = [[cell for cell in row if cell] for row in rows]
    assert cells == [
        ["DIGEST", "SIZE", "AGE", "LABELS"],
        [CONFIG, "349B", "3 hours", f"containerd.io/gc.ref.snapshot.overlayfs={CHAIN}"],
        [DIGEST, "405B", "Less than a second", "a=1,b=2"],
        ["sha256:" + "8d" * 32, "1.028MB", "3 days", "-"],
    ]
    # tab-padded as ctr: DIGEST is 71 wide + 1 -> 72 (9 tab stops); AGE up to 18 + 1 -> 24
    assert out.startswith("DIGEST" + "\t" * 9 + "SIZE\tAGE\t\t\tLABELS\n")
    assert re.search(rf"^{CONFIG}\t349B\t3 hours\t\t", out, re.M)
    assert ok(store, "content", "ls", "-q", "labels.a==1") == f"{DIGEST}\n"
    assert ok(store, "content", "ls", "-q", "size==349") == f"{CONFIG}\n"
    listed = json.loads(ok(store, "content", "ls", "--format", "json", f"digest=={DIGEST}"))
    assert [(b["Digest"], b["Size"], b["Labels"]) for b in listed] == [
        (DIGEST, 405, {"a": "1", "b": "2"})
    ]
    assert ok(store, "-n", "other", "content", "ls") == "DIGEST\tSIZE\tAGE\tLABELS\n"


def test_resource_filters_are_checked(store):
    assert "unknown field" in fails(store, "leases", "ls", "name==x")
    assert "unknown field" in fails(store, "snapshots", "ls", "key==x")
    assert "unknown field" in fails(store, "content", "ls", "mediatype==x")
