"""`metafs leases create|rm`, `snapshots rm|label`, `content rm|label` in subprocesses, on a
store made by importing containerd's meta-small.db; every refusal leaves the store as it was."""

from __future__ import annotations

import re

import pytest
from cli_helpers import fails, metafs, ok
from containerd_fixture import META_DB

from metafs import Content, LeaseResource, Leases, Snapshots, Store
from metafs.cli.leases import parse_duration
from metafs.codec import now_ns
from metafs.importer import import_bolt

MANIFEST = "sha256:77c508ee5a3a257a51d5640cc183eb15622e066838d22835ea36b11232590550"
CONFIG = "sha256:507ca0b3f27295a0a17cbc75d4088913317e5da66c4021098dc28094a43358ae"
LAYER = "sha256:8d87610a373d04c4059b6aa4231f415a44afb0b33d9ae66551eca37f4d374a76"
CHAIN = "sha256:c2ec185c8eb134579100115b496eba84d6057ff1e01ad1ca9c0b94997d336419"
MISSING = "sha256:" + "0" * 64
HOUR = 3600 * 10**9


@pytest.fixture
def store(new_store):
    path = new_store()
    with Store.open(path) as opened:
        import_bolt(opened, META_DB)
    return path


def leases(store) -> dict[str, dict[str, str]]:
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        return {lease.id: lease.labels for lease in Leases(tx, "default").list()}


def snapshots(store, snapshotter="overlayfs") -> dict[str, dict[str, str]]:
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        return {s.key: s.labels for s in Snapshots(tx, "default").list(snapshotter)}


def blobs(store) -> dict[str, dict[str, str]]:
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        return {b.digest: b.labels for b in Content(tx, "default").list()}


# ---- leases ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("24h", 24 * HOUR),
        ("1h30m", 90 * 60 * 10**9),
        ("1.5h", 90 * 60 * 10**9),
        ("+90s", 90 * 10**9),
        ("300ms", 300_000_000),
        (".5us", 500),
        ("1µs2ns", 1002),
        ("-1m", -60 * 10**9),
    ],
)
def test_durations_read_as_go_reads_them(text, ns):
    assert parse_duration(text, "--expires") == ns


def test_leases_create_prints_the_id_and_stores_labels_and_expiry(store):
    before = now_ns()
    assert ok(store, "leases", "create", "--id", "pull-1", "-x", "1h", "app=x", "flag") == (
        "pull-1\n"
    )
    assert ok(store, "lease", "create", "--expires", "0", "--id", "forever") == "forever\n"
    generated = ok(store, "leases", "create").strip()
    assert re.fullmatch(r"\d{1,9}-[A-Za-z0-9_-]{4}", generated)
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        got = Leases(tx, "default").get
        pull, forever, default = got("pull-1"), got("forever"), got(generated)
    assert pull.labels["app"] == "x" and pull.labels["flag"] == "true"
    assert before - 10**9 <= pull.expires_at - HOUR <= now_ns()
    assert forever.labels == {} and forever.expires_at is None
    assert before - 10**9 <= default.expires_at - 24 * HOUR <= now_ns()
    listed = ok(store, "leases", "ls", "-q")
    assert listed.splitlines() == sorted([generated, "forever", "keep-me", "pull-1"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--id", "keep-me"], 'lease "keep-me" in namespace "default": already exists'),
        (["-x", "5d"], '--expires "5d" is not a duration'),
        (["-x", "10"], '--expires "10" is not a duration'),
        (["--expires=-1h"], '--expires "-1h" must not be negative'),
        (["--id", "big", "k=" + "v" * 4096], "greater than maximum size"),
        (["--id", "nokey", "=v"], "label key must not be empty"),
    ],
)
def test_leases_create_refusals_change_nothing(store, args, message):
    assert message in fails(store, "leases", "create", *args)


def test_leases_create_in_a_bad_namespace_is_refused(store):
    assert "namespace" in fails(store, "-n", "bad ns", "leases", "create", "--id", "x")


def test_leases_rm_prints_ids_and_collects_what_only_they_held(store):
    with Store.open(store) as opened, opened.write() as tx:
        Snapshots(tx, "default").create("overlayfs", "pulled", CHAIN)
        Leases(tx, "default").create("pull")
        Leases(tx, "default").add_resource("pull", LeaseResource.snapshot("overlayfs", "pulled"))
    assert "pulled" in snapshots(store)
    assert ok(store, "leases", "rm", "pull", "keep-me", "pull") == "pull\nkeep-me\n"
    assert leases(store) == {}
    assert "pulled" not in snapshots(store) and CHAIN in snapshots(store)


def test_leases_rm_is_all_or_nothing(store):
    assert '"nope"' in fails(store, "leases", "delete", "keep-me", "nope")
    assert "required" in fails(store, "leases", "rm", status=2)
    assert list(leases(store)) == ["keep-me"]


# ---- snapshots -------------------------------------------------------------------------------


def test_snapshots_rm_removes_in_order_and_prints_nothing(store):
    assert ok(store, "snapshots", "rm", "web-1") == ""
    assert list(snapshots(store)) == ["kata-1", CHAIN]
    assert ok(store, "snapshots", "remove", "kata-1", CHAIN) == ""
    assert snapshots(store) == {}
    assert list(snapshots(store, "native")) == ["db-1", CHAIN]
    assert ok(store, "snapshots", "--snapshotter", "native", "del", "db-1") == ""
    # the chain stays: the image config's gc.ref.snapshot.native label keeps it
    assert list(snapshots(store, "native")) == [CHAIN]


def test_snapshots_rm_collects_a_parent_nothing_else_keeps(store):
    with Store.open(store) as opened, opened.write() as tx:
        Snapshots(tx, "default").create("overlayfs", "base", labels={"containerd.io/gc.root": "1"})
        Snapshots(tx, "default").create("overlayfs", "top", "base")
        Snapshots(tx, "default").set_label("overlayfs", "base", "containerd.io/gc.root", "")
    ok(store, "snapshots", "rm", "top")
    assert list(snapshots(store)) == ["kata-1", CHAIN, "web-1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rm", CHAIN, "kata-1", "web-1"], "has children"),
        (["rm", "web-1", "nope"], 'snapshot "nope" of snapshotter "overlayfs"'),
        (["--snapshotter", "native", "rm", "web-1"], 'snapshot "web-1" of snapshotter "native"'),
        (["rm", "--snapshotter", "zfs", "web-1"], 'of snapshotter "zfs" in namespace "default"'),
        (["label", "nope", "a=b"], "not found"),
        (["label", "web-1", "k=" + "v" * 4096], "greater than maximum size"),
        (["label", "web-1", "a=b", "=v"], "label key must not be empty"),
    ],
)
def test_snapshot_refusals_change_nothing(store, args, message):
    assert message in fails(store, "snapshots", *args)


def test_snapshots_label_sets_true_removes_and_prints_sorted(store):
    assert ok(store, "snapshots", "label", "web-1", "zone=eu", "flag", "a=1") == (
        "a=1,flag=true,zone=eu\n"
    )
    assert ok(store, "snapshots", "label", "web-1", "a=") == "flag=true,zone=eu\n"
    assert ok(store, "snapshots", "label", "web-1") == "flag=true,zone=eu\n"
    assert snapshots(store)["web-1"] == {"flag": "true", "zone": "eu"}
    assert ok(store, "snapshots", "label", "--snapshotter", "native", "db-1", "x=y") == "x=y\n"
    assert snapshots(store, "native")["db-1"] == {"x": "y"}
    assert ok(store, "snapshots", "label", "kata-1") == "\n"


def test_snapshots_rm_and_label_need_their_arguments(store):
    assert "required" in fails(store, "snapshots", "rm", status=2)
    assert "required" in fails(store, "snapshots", "label", status=2)


# ---- content ---------------------------------------------------------------------------------


def test_content_label_prints_every_label_sorted(store):
    ref = f"containerd.io/gc.ref.snapshot.overlayfs={CHAIN}"
    assert ok(store, "content", "label", CONFIG, "b=2", "a") == (
        f"a=true,b=2,containerd.io/gc.ref.snapshot.native={CHAIN},{ref}\n"
    )
    assert ok(store, "content", "label", CONFIG, "a=", "b=", ref.split("=")[0] + "=") == (
        f"containerd.io/gc.ref.snapshot.native={CHAIN}\n"
    )
    assert ok(store, "content", "label", LAYER) == f"containerd.io/uncompressed={CHAIN}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["label", "sha256:abc", "a=b"], 'digest "sha256:abc"'),
        (["label", MISSING, "a=b"], f'content "{MISSING}" in namespace "default": not found'),
        (["label", CONFIG, "k=" + "v" * 4096], "greater than maximum size"),
        (["rm", MANIFEST, "not-a-digest"], 'digest "not-a-digest" is not of the form'),
    ],
)
def test_content_refusals_change_nothing(store, args, message):
    assert message in fails(store, "content", *args)


def test_content_rm_prints_what_it_removed_and_collects_what_only_it_referenced(store):
    done = metafs(store, "content", "rm", MISSING, MANIFEST, MANIFEST)
    assert (done.returncode, done.stdout) == (0, f"{MANIFEST}\n")
    assert done.stderr == (
        f'metafs: warning: content "{MISSING}" in namespace "default": not found\n'
    )
    # the manifest's labels were all that kept its config and layer
    assert blobs(store) == {}
    # the images stay, pointing at a digest without record, as in containerd
    assert "docker.io/library/alpine:3.19" in ok(store, "images", "ls", "-q")
    assert "required" in fails(store, "content", "rm", status=2)
