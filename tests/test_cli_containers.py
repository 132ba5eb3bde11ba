"""`metafs containers ls|info|create|label|rm` in subprocesses, on a new store on each engine."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cli_helpers import DIGEST, MANIFEST, fails, metafs, ok

from metafs import (
    AnyValue,
    Container,
    Containers,
    Descriptor,
    Image,
    Images,
    Runtime,
    Snapshots,
    Store,
)
from metafs.codec import RUNC_OPTIONS_TYPE_URL, SPEC_TYPE_URL

ALPINE = "docker.io/library/alpine:3.19"
PLAIN = "localhost/plain:latest"
KATA = "io.containerd.kata.v2"


def read(store, cid, namespace="default"):
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        return Containers(tx, namespace).get(cid)


def ids(store, namespace="default"):
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        return list(Containers(tx, namespace).ids())


@pytest.fixture
def store(new_store):
    path = new_store()
    with Store.open(path) as opened, opened.write() as tx:
        images = Images(tx, "default")
        images.create(Image(ALPINE, Descriptor(MANIFEST, DIGEST, 405), {"team": "core", "x": "1"}))
        images.create(Image(PLAIN, Descriptor(MANIFEST, DIGEST, 405)))
    return path


def test_create_records_what_ctr_would_from_metadata(store):
    assert ok(store, "containers", "create", ALPINE, "web-1") == ""
    c = read(store, "web-1")
    assert c.image == ALPINE
    assert c.labels == {"team": "core", "x": "1"}
    assert c.runtime == Runtime("io.containerd.runc.v2", AnyValue(RUNC_OPTIONS_TYPE_URL))
    assert (c.snapshotter, c.snapshot_key) == ("overlayfs", "web-1")
    assert c.spec.type_url == SPEC_TYPE_URL
    assert json.loads(c.spec.value) == {
        "ociVersion": "1.0.2-dev",
        "process": {"user": {"uid": 0, "gid": 0}, "cwd": "/"},
        "root": {"path": "rootfs"},
    }
    assert c.created_at == c.updated_at > 0


def test_create_with_every_option(store):
    ok(store, "containers", "create", "--label", "app=kata", "--label", "flag", "--label", "x=",
       "--runtime", KATA, "--runtime-config-path", "/etc/kata/config.toml",
       "--snapshotter", "native", "--snapshot-key", "snap-1", "--env", "FOO=bar",
       ALPINE, "kata-1", "/bin/sh", "-c", "echo hi")  # fmt: skip
    c = read(store, "kata-1")
    assert c.labels == {"team": "core", "app": "kata", "flag": "true"}
    # the bytes ctr wrote for the same flags (meta-small.db, container kata-1)
    assert c.runtime == Runtime(KATA, AnyValue("runtimeoptions.v1.Options",
                                               b"\x12\x15/etc/kata/config.toml"))  # fmt: skip
    assert (c.snapshotter, c.snapshot_key) == ("native", "snap-1")
    spec = json.loads(c.spec.value)
    assert list(spec) == ["ociVersion", "process", "root", "annotations"]
    assert spec["process"]["args"] == ["/bin/sh", "-c", "echo hi"]
    assert spec["process"]["env"] == ["FOO=bar"]
    assert spec["annotations"] == {"app": "kata", "flag": "true", "x": ""}


def test_create_without_runtime_options_and_without_snapshot(store):
    ok(store, "containers", "create", "--runtime", KATA, "--snapshot-key", "", PLAIN, "k-2")
    c = read(store, "k-2")
    assert c.runtime == Runtime(KATA, None)
    assert (c.snapshotter, c.snapshot_key) == ("overlayfs", "")
    assert c.labels == {}


def test_create_snapshotter_from_the_environment(store):
    result = metafs(store, "containers", "create", PLAIN, "env-1",
                    extra_env={"CONTAINERD_SNAPSHOTTER": "native"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert read(store, "env-1").snapshotter == "native"


def test_create_with_a_spec_file_and_stdin(store, tmp_path):
    spec = {"ociVersion": "1.1.0", "process": {"args": ["true"]}}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    ok(store, "containers", "create", "--spec", str(path), PLAIN, "s-1")
    assert json.loads(read(store, "s-1").spec.value) == spec
    ok(store, "containers", "create", "--spec", "-", PLAIN, "s-2", stdin=b'{"ociVersion": "x"}')
    assert json.loads(read(store, "s-2").spec.value) == {"ociVersion": "x"}


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["nope:1", "c-1"], None, 'image "nope:1" in namespace "default": not found'),
        ([ALPINE, "bad id"], None, "container id"),
        ([ALPINE, "bad-"], None, "container id"),
        (["--runtime-config-path", "/x", ALPINE, "c-1"], None, "not used by"),
        (["--spec", "-", ALPINE, "c-1"], b"{not json", "not valid JSON"),
        (["--spec", "-", ALPINE, "c-1"], b"[1, 2]", "JSON object"),
        (["--spec", "/no/such/file", ALPINE, "c-1"], None, "cannot read spec"),
        (["--spec", "-", ALPINE, "c-1", "/bin/sh"], b"{}", "cannot be combined"),
        (["--label", "=v", ALPINE, "c-1"], None, "label key"),
        (["--runtime", "", ALPINE, "c-1"], None, "Runtime.Name must be set"),
        (["--snapshotter", "", ALPINE, "c-1"], None, "Snapshotter must be set"),
    ],
)
def test_create_refusals_change_nothing(store, args, stdin, message):
    assert message in fails(store, "containers", "create", *args, stdin=stdin)


def test_create_an_existing_id(store):
    ok(store, "containers", "create", ALPINE, "c-1")
    assert "already exists" in fails(store, "containers", "create", PLAIN, "c-1")
    assert "required" in fails(store, "containers", "create", ALPINE, status=2)


def test_ls_table_quiet_json_and_filters(store):
    ok(store, "containers", "create", ALPINE, "web-1")
    ok(store, "containers", "create", "--runtime", KATA, PLAIN, "kata-1")
    with Store.open(store) as opened, opened.write() as tx:
        Containers(tx, "default").create(
            Container("no-image", runtime=Runtime("r"), spec=AnyValue(SPEC_TYPE_URL, b"{}"))
        )
    assert ok(store, "containers", "ls") == (
        "CONTAINER    IMAGE                            RUNTIME                  \n"
        "kata-1       localhost/plain:latest           io.containerd.kata.v2    \n"
        "no-image     -                                r                        \n"
        "web-1        docker.io/library/alpine:3.19    io.containerd.runc.v2    \n"
    )
    assert ok(store, "containers", "ls", "-q") == "kata-1\nno-image\nweb-1\n"
    assert ok(store, "c", "ls", "-q", f"runtime.name=={KATA}", "labels.team==core") == (
        "kata-1\nweb-1\n"
    )
    assert ok(store, "c", "ls", "-q", "image~=alpine,snapshotter==overlayfs") == "web-1\n"
    listed = json.loads(ok(store, "containers", "ls", "--format", "json"))
    assert [c["ID"] for c in listed] == ["kata-1", "no-image", "web-1"]
    assert "Spec" not in listed[0] and listed[2]["Labels"] == {"team": "core", "x": "1"}
    assert ok(store, "-n", "empty", "containers", "ls") == "CONTAINER    IMAGE    RUNTIME    \n"
    assert "unknown field" in fails(store, "containers", "ls", "name==x")


def test_info_prints_ctrs_json(store):
    ok(store, "containers", "create", "--label", "b=2", "--label", "a=1", ALPINE, "web-1")
    c = read(store, "web-1")
    out = ok(store, "containers", "info", "web-1")
    info = json.loads(out)
    assert list(info) == ["ID", "Labels", "Image", "Runtime", "SnapshotKey", "Snapshotter",
                          "CreatedAt", "UpdatedAt", "Extensions", "Spec"]  # fmt: skip
    assert list(info["Labels"]) == ["a", "b", "team", "x"]
    assert info["Runtime"] == {"Name": "io.containerd.runc.v2",
                               "Options": {"type_url": RUNC_OPTIONS_TYPE_URL}}  # fmt: skip
    assert info["Extensions"] is None
    assert info["Spec"] == json.loads(c.spec.value)
    assert out.startswith('{\n    "ID": "web-1",\n    "Labels": {\n        "a": "1",')
    assert out.endswith("\n}\n")
    assert ok(store, "containers", "info", "--format", "json", "web-1") == out
    assert json.loads(ok(store, "containers", "info", "--spec", "web-1")) == info["Spec"]


def test_info_of_options_extensions_and_odd_specs(store):
    with Store.open(store) as opened, opened.write() as tx:
        containers = Containers(tx, "default")
        containers.create(Container(
            "ext-1", runtime=Runtime(KATA, AnyValue("runtimeoptions.v1.Options", b"\x12\x02/x")),
            spec=AnyValue("example.com/ProtoSpec", b"\x08\x01"),
            extensions={"b.ext": AnyValue("t/B", b"\x01"), "a.ext": AnyValue("t/A")},
        ))  # fmt: skip
        containers.create(Container("empty-spec", runtime=Runtime("r"),
                                    spec=AnyValue(SPEC_TYPE_URL)))  # fmt: skip
    info = json.loads(ok(store, "containers", "info", "ext-1"))
    assert info["Labels"] is None and info["Image"] == ""
    assert info["Runtime"]["Options"] == {
        "type_url": "runtimeoptions.v1.Options",
        "value": base64.b64encode(b"\x12\x02/x").decode(),
    }
    assert info["Extensions"] == {"a.ext": {"type_url": "t/A"},
                                  "b.ext": {"type_url": "t/B", "value": "AQ=="}}  # fmt: skip
    assert list(info["Extensions"]) == ["a.ext", "b.ext"]
    assert info["Spec"] == {"type_url": "example.com/ProtoSpec", "value": "CAE="}
    # A spec without a value is printed in the Container's own field order (after Runtime).
    empty = json.loads(ok(store, "containers", "info", "empty-spec"))
    assert list(empty)[:5] == ["ID", "Labels", "Image", "Runtime", "Spec"]
    assert empty["Spec"] == {"type_url": SPEC_TYPE_URL}
    assert empty["Runtime"]["Options"] is None


def test_info_of_a_missing_container(store):
    line = fails(store, "containers", "info", "nope")
    assert line == 'metafs: container "nope" in namespace "default": not found'


def test_label_sets_true_removes_and_prints_sorted(store):
    ok(store, "containers", "create", ALPINE, "web-1")
    assert ok(store, "containers", "label", "web-1", "zone=eu", "flag", "x=") == (
        "flag=true,team=core,zone=eu\n"
    )
    assert read(store, "web-1").labels == {"team": "core", "zone": "eu", "flag": "true"}
    assert ok(store, "containers", "label", "web-1") == "flag=true,team=core,zone=eu\n"
    assert "not found" in fails(store, "containers", "label", "nope", "a=b")
    assert "maximum size" in fails(store, "containers", "label", "web-1", "k=" + "v" * 4096)


def test_rm_is_all_or_nothing(store):
    for cid in ("a-1", "b-1"):
        ok(store, "containers", "create", ALPINE, cid)
    assert '"zz"' in fails(store, "containers", "rm", "a-1", "zz")
    assert ok(store, "containers", "rm", "a-1", "b-1", "a-1") == ""
    assert ids(store) == []
    assert "required" in fails(store, "containers", "rm", status=2)


@pytest.fixture
def with_snapshots(store):
    """Containers a-1, b-1 and c-1 on snapshots of their ids, children of a shared "base";
    c-1's snapshot is pinned already; nosnap-1 has a snapshot key without a record."""
    for cid in ("a-1", "b-1", "c-1", "nosnap-1"):
        ok(store, "containers", "create", ALPINE, cid)
    with Store.open(store) as opened, opened.write() as tx:
        snapshots = Snapshots(tx, "default")
        snapshots.create("overlayfs", "base")
        for key in ("a-1", "b-1"):
            snapshots.create("overlayfs", key, "base")
        snapshots.create("overlayfs", "c-1", "base", {"containerd.io/gc.root": "mine"})
    return store


def snapshot_labels(store) -> dict[str, dict[str, str]]:
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        return {s.key: s.labels for s in Snapshots(tx, "default").list("overlayfs")}


def test_rm_collects_the_snapshot_only_the_container_kept(with_snapshots):
    assert ok(with_snapshots, "containers", "rm", "a-1") == ""
    assert set(snapshot_labels(with_snapshots)) == {"base", "b-1", "c-1"}


def test_rm_keep_snapshot_pins_it_with_gc_root(with_snapshots):
    before = datetime.now(UTC).replace(microsecond=0)
    assert ok(with_snapshots, "containers", "rm", "--keep-snapshot", "b-1", "c-1", "nosnap-1") == ""
    assert ids(with_snapshots) == ["a-1"]
    labels = snapshot_labels(with_snapshots)
    assert set(labels) == {"a-1", "base", "b-1", "c-1"}
    assert labels["c-1"] == {"containerd.io/gc.root": "mine"}
    assert list(labels["b-1"]) == ["containerd.io/gc.root"]
    pinned = datetime.fromisoformat(labels["b-1"]["containerd.io/gc.root"])
    assert before <= pinned <= datetime.now(UTC)
    # the pin holds through later collections, and removing the snapshot lets its parent go
    ok(with_snapshots, "containers", "rm", "a-1")
    assert set(snapshot_labels(with_snapshots)) == {"base", "b-1", "c-1"}
    ok(with_snapshots, "snapshots", "rm", "b-1", "c-1")
    assert snapshot_labels(with_snapshots) == {}


def test_rm_keep_snapshot_refused_changes_nothing(with_snapshots):
    assert '"zz"' in fails(with_snapshots, "containers", "rm", "--keep-snapshot", "b-1", "zz")
    assert snapshot_labels(with_snapshots)["b-1"] == {}


def test_rm_help_says_how_keep_snapshot_keeps(store):
    text = " ".join(ok(store, "containers", "rm", "--help").split())
    assert "labels the snapshot containerd.io/gc.root=<time of removal" in text
