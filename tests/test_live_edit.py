"""Changes through a writable `metafs mount --containerd`: each one a call of containerd's API,
checked with `ctr` afterwards; each refusal leaves containerd's state as ctr saw it before."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from cli_helpers import ROOT, env
from live_node import IMAGE, LiveMount, LiveNode, mounted, start_node
from test_live_mount import out, shown_within

IMAGE_DIR = "images/docker.io%2Flibrary%2Fbusybox:live"


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[LiveNode]:
    node_gen = start_node(tmp_path_factory)
    node = next(node_gen)
    node.run("busy-1", "sleep", "1000")
    node.ctr("containers", "create", "--label", "env=dev", IMAGE, "idle-1")
    yield node
    yield from node_gen


@pytest.fixture(scope="module")
def mount(node: LiveNode, tmp_path_factory) -> Iterator[LiveMount]:
    yield from mounted(node, tmp_path_factory.mktemp("edit") / "mnt")


def info(node: LiveNode, container_id: str) -> dict:
    return json.loads(node.ctr("containers", "info", container_id))


def labels(node: LiveNode, container_id: str) -> dict[str, str]:
    """A container's labels, without the stop signal ctr adds to each."""
    found = info(node, container_id)["Labels"]
    return {k: v for k, v in found.items() if not k.startswith("io.containerd.")}


def image_rows(node: LiveNode) -> dict[str, list[str]]:
    """`ctr images ls`: name -> the other columns."""
    rows = node.ctr("images", "ls").splitlines()[1:]
    return {row.split()[0]: row.split()[1:] for row in rows}


def refused(mount: LiveMount, script: str, message: str) -> None:
    done = mount.sh(script)
    assert done.returncode != 0 and message in done.stderr, (script, done.stderr)


def test_container_labels_are_set_and_removed(node: LiveNode, mount: LiveMount) -> None:
    out(mount, "echo prod > containers/idle-1/labels/env")
    assert labels(node, "idle-1")["env"] == "prod"
    assert out(mount, "cat containers/idle-1/labels/env") == "prod\n"  # at once
    out(mount, "echo a > containers/idle-1/labels/zone")
    assert labels(node, "idle-1") == {"env": "prod", "zone": "a"}
    out(mount, "rm containers/idle-1/labels/zone")
    assert labels(node, "idle-1") == {"env": "prod"}
    assert "zone" not in out(mount, "ls containers/idle-1/labels").split()
    out(mount, "setfattr -n user.team -v core containers/idle-1")
    assert labels(node, "idle-1")["team"] == "core"
    out(mount, "setfattr -x user.team containers/idle-1")
    assert "team" not in labels(node, "idle-1")
    out(mount, "mv containers/idle-1/labels/env containers/idle-1/labels/stage")
    assert labels(node, "idle-1") == {"stage": "prod"}


def test_image_labels_and_target(node: LiveNode, mount: LiveMount) -> None:
    out(mount, f"echo yes > {IMAGE_DIR}/labels/checked")
    assert image_rows(node)[IMAGE][-1] == "checked=yes"
    out(mount, f"rm {IMAGE_DIR}/labels/checked")
    assert image_rows(node)[IMAGE][-1] == "-"
    node.ctr("images", "tag", IMAGE, "example.com/target:1")
    digest = image_rows(node)[IMAGE][1]
    other = "sha256:" + "ab" * 32
    shown_within(lambda: "example.com%2Ftarget:1" in mount.sh("ls images").stdout.split())
    out(mount, f"echo {other} > images/example.com%2Ftarget:1/digest")
    assert image_rows(node)["example.com/target:1"][1] == other
    assert image_rows(node)[IMAGE][1] == digest
    out(
        mount,
        "echo application/vnd.oci.image.index.v1+json > images/example.com%2Ftarget:1/mediatype",
    )
    assert image_rows(node)["example.com/target:1"][0] == "application/vnd.oci.image.index.v1+json"


def test_a_container_spec_is_replaced(node: LiveNode, mount: LiveMount) -> None:
    out(mount, """echo '{"ociVersion": "1.0.2", "hostname": "edited"}' > containers/idle-1/spec""")
    assert info(node, "idle-1")["Spec"] == {"ociVersion": "1.0.2", "hostname": "edited"}


def test_images_are_renamed_and_removed(node: LiveNode, mount: LiveMount) -> None:
    node.ctr("images", "tag", IMAGE, "example.com/a:1")
    shown_within(lambda: "example.com%2Fa:1" in mount.sh("ls images").stdout.split())
    out(mount, "mv images/example.com%2Fa:1 images/example.com%2Fb:1")
    rows = image_rows(node)
    assert "example.com/b:1" in rows and "example.com/a:1" not in rows
    assert rows["example.com/b:1"][1] == rows[IMAGE][1]
    out(mount, "rmdir images/example.com%2Fb:1")
    assert "example.com/b:1" not in image_rows(node)
    assert "example.com%2Fb:1" not in out(mount, "ls images").split()


def test_a_removed_container_goes_and_its_snapshot_is_collected(
    node: LiveNode, mount: LiveMount
) -> None:
    node.run("old-1", "true")
    shown_within(lambda: mount.sh("cat tasks/old-1/status").stdout == "stopped\n", 10)
    out(mount, "rmdir tasks/old-1")
    assert "old-1" not in node.ctr("tasks", "ls", "-q").split()
    assert "old-1" in out(mount, "ls snapshots/overlayfs").split()
    out(mount, "rmdir containers/old-1")
    assert "old-1" not in node.ctr("containers", "ls", "-q").split()
    assert "old-1" not in out(mount, "ls containers").split()
    # containerd's own gc collects the snapshot nothing refers to any more
    shown_within(lambda: "old-1" not in node.ctr("snapshots", "ls"), 5)
    shown_within(lambda: "old-1" not in mount.sh("ls snapshots/overlayfs").stdout.split())


def test_a_lease_is_deleted(node: LiveNode, mount: LiveMount) -> None:
    node.ctr("leases", "create", "--id", "leaked-1")
    shown_within(lambda: "leaked-1" in mount.sh("ls leases").stdout.split())
    out(mount, "rmdir leases/leaked-1")
    assert "leaked-1" not in node.ctr("leases", "ls", "-q").split()


def test_a_task_is_signalled_and_deleted(node: LiveNode, mount: LiveMount) -> None:
    node.run("sig-1", "sleep", "1000")
    node.run("sig-2", "sleep", "1000")
    shown_within(lambda: mount.sh("cat tasks/sig-1/status").stdout == "running\n")
    refused(mount, "rmdir tasks/sig-1", "Device or resource busy")
    out(mount, "echo KILL > tasks/sig-1/signal")
    shown_within(lambda: mount.sh("cat tasks/sig-1/status").stdout == "stopped\n", 5)
    assert out(mount, "cat tasks/sig-1/exitstatus") == "137\n"
    out(mount, "echo 15 > tasks/sig-2/signal")  # a number; sleep as pid 1 ignores TERM...
    out(mount, "echo sigkill > tasks/sig-2/signal")  # ...but not KILL
    shown_within(lambda: mount.sh("cat tasks/sig-2/status").stdout == "stopped\n", 5)
    out(mount, "rmdir tasks/sig-1")
    assert "sig-1" not in node.ctr("tasks", "ls", "-q").split()
    assert "sig-1" not in out(mount, "ls tasks").split()
    assert "sig-1" in node.ctr("containers", "ls", "-q").split()  # the container stays


def test_refusals_leave_containerd_as_it_was(node: LiveNode, mount: LiveMount) -> None:
    before = (
        node.ctr("containers", "info", "idle-1"),
        node.ctr("containers", "info", "busy-1"),
        node.ctr("images", "ls"),
        sorted(node.ctr("tasks", "ls").splitlines()),  # a Go map's order
        node.ctr("snapshots", "ls"),
    )
    refused(mount, "rmdir containers/busy-1", "Device or resource busy")  # it has a task
    long = "x" * 4094  # with its key, more than 4096 bytes: refused in one write()
    refused(mount, f"echo {long} > containers/idle-1/labels/two", "Invalid argument")
    refused(mount, f"setfattr -n user.two -v {long} containers/idle-1", "Invalid argument")
    refused(mount, f"echo sha256:nothex > {IMAGE_DIR}/digest", "Invalid argument")
    refused(mount, f"echo -1 > {IMAGE_DIR}/size", "Invalid argument")
    refused(mount, "echo '[1]' > containers/idle-1/spec", "Invalid argument")
    refused(mount, "echo v > containers/nothing/labels/k", "No such file or directory")
    refused(mount, "rmdir containers/nothing", "No such file or directory")
    refused(mount, "rmdir leases/nothing", "No such file or directory")
    refused(mount, "echo 1 > containers/idle-1/runtime", "Operation not permitted")
    refused(mount, "echo NOSUCH > tasks/busy-1/signal", "Invalid argument")
    refused(mount, "echo 99 > tasks/busy-1/signal", "Invalid argument")
    refused(mount, "echo 1 > tasks/busy-1/status", "Operation not permitted")
    refused(mount, "mkdir tasks/new", "Operation not permitted")
    refused(mount, "mkdir containers/new", "Operation not permitted")
    after = (
        node.ctr("containers", "info", "idle-1"),
        node.ctr("containers", "info", "busy-1"),
        node.ctr("images", "ls"),
        sorted(node.ctr("tasks", "ls").splitlines()),  # a Go map's order
        node.ctr("snapshots", "ls"),
    )
    assert after == before
    assert out(mount, "cat tasks/busy-1/status") == "running\n"


# ---- the command line's write verbs with --containerd: the same editor


def metafs(node: LiveNode, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metafs", "--containerd", "--root", str(node.root), "--state",
         str(node.state), "-n", node.namespace, *args],
        capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60,
    )  # fmt: skip


def ok(node: LiveNode, *args: str) -> str:
    done = metafs(node, *args)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


def test_cli_labels(node: LiveNode) -> None:
    node.ctr("containers", "create", IMAGE, "cli-1")
    shown = ok(node, "containers", "label", "cli-1", "env=prod", "zone=a")
    every = info(node, "cli-1")["Labels"]  # with the stop signal ctr adds
    assert shown == ",".join(f"{k}={v}" for k, v in sorted(every.items())) + "\n"
    assert labels(node, "cli-1") == {"env": "prod", "zone": "a"}
    ok(node, "containers", "label", "cli-1", "zone=")
    assert labels(node, "cli-1") == {"env": "prod"}
    ok(node, "images", "label", IMAGE, "team=core")
    assert image_rows(node)[IMAGE][-1] == "team=core"
    assert ok(node, "images", "label", "--replace-all", IMAGE, "owner=me") == "owner=me\n"
    assert image_rows(node)[IMAGE][-1] == "owner=me"


def test_cli_tag_and_rm(node: LiveNode) -> None:
    assert ok(node, "images", "tag", IMAGE, "example.com/cli:1") == "example.com/cli:1\n"
    rows = image_rows(node)
    assert rows["example.com/cli:1"][1] == rows[IMAGE][1]
    done = metafs(node, "images", "tag", IMAGE, "example.com/cli:1")
    assert done.returncode == 1 and "already exists" in done.stderr
    ok(node, "images", "tag", "--force", IMAGE, "example.com/cli:1")
    done = metafs(node, "images", "rm", "example.com/cli:1", "example.com/none:1")
    assert done.returncode == 0 and done.stdout == "example.com/cli:1\n"
    assert done.stderr.count("\n") == 1 and "not found" in done.stderr
    assert "example.com/cli:1" not in image_rows(node)
    node.ctr("containers", "create", IMAGE, "cli-rm")
    ok(node, "containers", "rm", "cli-rm")
    assert "cli-rm" not in node.ctr("containers", "ls", "-q").split()
    node.ctr("leases", "create", "--id", "cli-lease")
    assert ok(node, "leases", "rm", "cli-lease") == "cli-lease\n"
    assert "cli-lease" not in node.ctr("leases", "ls", "-q").split()


def test_cli_refusals_leave_containerd_as_it_was(node: LiveNode) -> None:
    before = (node.ctr("containers", "info", "busy-1"), node.ctr("images", "ls"))
    for args, message in (
        (("containers", "rm", "busy-1"), "has a task"),
        (("containers", "rm", "nothing"), "not found"),
        (("containers", "label", "nothing", "a=b"), "not found"),
        (("containers", "label", "busy-1", "a=" + "x" * 4100), "invalid argument"),
        (("images", "tag", "example.com/none:1", "example.com/x:1"), "not found"),
        (("leases", "rm", "nothing"), "not found"),
    ):
        done = metafs(node, *args)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert (node.ctr("containers", "info", "busy-1"), node.ctr("images", "ls")) == before


def test_a_change_by_ctr_meanwhile_shows(node: LiveNode, mount: LiveMount) -> None:
    out(mount, "echo mine > containers/idle-1/labels/who")
    node.ctr("containers", "label", "idle-1", "who=ctr")
    shown_within(lambda: mount.sh("cat containers/idle-1/labels/who").stdout == "ctr\n")
    out(mount, "echo again > containers/idle-1/labels/who")
    assert labels(node, "idle-1")["who"] == "again"


def test_cli_without_containerd_is_one_line(node: LiveNode, tmp_path) -> None:
    socket = str(tmp_path / "none.sock")
    before = node.ctr("containers", "info", "idle-1")
    done = metafs(node, "--address", socket, "containers", "label", "idle-1", "a=b")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert socket in done.stderr and "Traceback" not in done.stderr
    assert node.ctr("containers", "info", "idle-1") == before


def test_snapshot_and_content_labels(node: LiveNode, mount: LiveMount) -> None:
    snapshot = "snapshots/overlayfs/idle-1"
    out(mount, f"echo yes > {snapshot}/labels/checked")
    info_labels = json.loads(node.ctr("snapshots", "info", "idle-1"))["Labels"]
    assert info_labels["checked"] == "yes"
    assert out(mount, f"cat {snapshot}/labels/checked") == "yes\n"
    out(mount, f"rm {snapshot}/labels/checked")
    assert "checked" not in json.loads(node.ctr("snapshots", "info", "idle-1")).get("Labels", {})
    digest = image_rows(node)[IMAGE][1]
    out(mount, f"setfattr -n user.checked -v yes content/{digest}")
    row = next(r for r in node.ctr("content", "ls").splitlines() if r.startswith(digest))
    assert "checked=yes" in row.split()[-1]
    out(mount, f"rm content/{digest}/labels/checked")
    row = next(r for r in node.ctr("content", "ls").splitlines() if r.startswith(digest))
    assert "checked=yes" not in row
    refused(mount, f"echo 1 > {snapshot}/kind", "Operation not permitted")
    refused(mount, "echo v > leases/nothing/labels/k", "No such file or directory")


def test_an_image_made_by_mkdir_reaches_containerd_once_complete(
    node: LiveNode, mount: LiveMount
) -> None:
    digest, size = image_rows(node)[IMAGE][1], image_rows(node)[IMAGE][2]
    new = "images/example.com%2Fnew:1"
    out(mount, f"mkdir {new}")
    assert "example.com%2Fnew:1" in out(mount, "ls images").split()
    out(mount, f"echo yes > {new}/labels/made")
    out(mount, f"echo {digest} > {new}/digest")
    assert "example.com/new:1" not in image_rows(node)  # a draft, in the mount only
    refused(mount, f"mkdir {new}", "File exists")
    out(mount, f"echo application/vnd.oci.image.manifest.v1+json > {new}/mediatype")
    manifest = node.ctr("content", "get", digest)
    out(mount, f"echo {len(manifest)} > {new}/size")
    row = image_rows(node)["example.com/new:1"]
    assert row[:2] == ["application/vnd.oci.image.manifest.v1+json", digest]
    assert row[-1] == "made=yes" and size in row
    assert out(mount, f"cat {new}/size") == f"{len(manifest)}\n"
    out(mount, "mkdir images/example.com%2Fgone:1")
    out(mount, "rmdir images/example.com%2Fgone:1")
    assert "example.com%2Fgone:1" not in out(mount, "ls images").split()
    assert "example.com/gone:1" not in image_rows(node)
