"""`metafs mount --containerd`: a private containerd's live metadata and its tasks, compared
with what `ctr` says while ctr changes things underneath; a `--read-only` one refuses every
change (the changes themselves: test_live_edit.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from live_node import IMAGE, LiveMount, LiveNode, mounted, start_node

BOUND = 1.0  # seconds: a change containerd committed shows within it


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[LiveNode]:
    node_gen = start_node(tmp_path_factory)
    node = next(node_gen)
    node.run("run-1", "sleep", "1000", role="running")
    node.run("exit-7", "sh", "-c", "exit 7")
    node.run("pause-1", "sleep", "1000")
    node.ctr("tasks", "pause", "pause-1")
    node.ctr("containers", "create", "--label", "env=dev", IMAGE, "idle-1")
    yield node
    yield from node_gen


@pytest.fixture(scope="module")
def mount(node: LiveNode, tmp_path_factory) -> Iterator[LiveMount]:
    yield from mounted(node, tmp_path_factory.mktemp("live") / "mnt")


def shown_within(check: Callable[[], bool], bound: float = BOUND) -> float:
    """How long until `check()` holds; fails beyond `bound` seconds."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > bound:
            assert check(), f"not shown within {bound} s"
        time.sleep(0.02)
    return time.monotonic() - start


def out(mount: LiveMount, script: str) -> str:
    done = mount.sh(script)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_tree_has_tasks_beside_the_metadata(mount: LiveMount) -> None:
    assert out(mount, "ls").split() == [
        "containers", "content", "images", "leases", "snapshots", "tasks",
    ]  # fmt: skip
    assert out(mount, "ls containers").split() == ["exit-7", "idle-1", "pause-1", "run-1"]
    assert out(mount, "cat containers/idle-1/labels/env") == "dev\n"
    assert out(mount, "ls images").split() == ["docker.io%2Flibrary%2Fbusybox:live"]


def test_tasks_are_what_ctr_lists(node: LiveNode, mount: LiveMount) -> None:
    rows = [line.split() for line in node.ctr("tasks", "ls").splitlines()[1:]]
    assert out(mount, "ls tasks").split() == sorted(row[0] for row in rows)
    for task, pid, status in rows:
        assert out(mount, f"cat tasks/{task}/pid") == f"{pid}\n"
        assert out(mount, f"cat tasks/{task}/status") == f"{status.lower()}\n"
        ps = [line.split()[0] for line in node.ctr("tasks", "ps", task).splitlines()[1:]]
        assert out(mount, f"cat tasks/{task}/pids").split() == ps
        assert out(mount, f"cat tasks/{task}/runtime") == "io.containerd.runc.v2\n"
        bundle = node.state / "io.containerd.runtime.v2.task" / node.namespace / task
        assert out(mount, f"cat tasks/{task}/bundle") == f"{bundle}\n"
    assert out(mount, "cat tasks/exit-7/exitstatus") == "7\n"
    assert out(mount, "cat tasks/exit-7/exitedat").endswith("Z\n")
    assert out(mount, "ls tasks/run-1").split() == [
        "bundle", "pid", "pids", "runtime", "signal", "status",
    ]  # fmt: skip
    assert mount.sh("ls tasks/idle-1").returncode != 0  # a container without a task


def test_every_change_is_refused_read_only(node: LiveNode, tmp_path) -> None:
    before = node.ctr("containers", "info", "idle-1")
    mount = LiveMount(node, tmp_path / "ro", read_only=True)
    try:
        refused(mount)
    finally:
        problems = mount.stop()
    assert not problems, problems
    assert node.ctr("containers", "info", "idle-1") == before


def refused(mount: LiveMount) -> None:
    for script in (
        "echo prod > containers/idle-1/labels/env",
        "rm containers/idle-1/labels/env",
        "mkdir images/new",
        "rmdir containers/idle-1",
        "echo 1 > tasks/run-1/status",
        "echo KILL > tasks/run-1/signal",
    ):
        done = mount.sh(script)
        assert done.returncode != 0 and "Read-only file system" in done.stderr, script


def test_a_label_set_by_ctr_shows(node: LiveNode, mount: LiveMount) -> None:
    assert out(mount, "cat containers/idle-1/labels/env") == "dev\n"
    node.ctr("containers", "label", "idle-1", "env=prod")
    shown_within(lambda: mount.sh("cat containers/idle-1/labels/env").stdout == "prod\n")
    node.ctr("containers", "label", "idle-1", "zone=a")
    shown_within(lambda: "zone" in mount.sh("ls containers/idle-1/labels").stdout)


def test_a_killed_task_shows_its_exit_status(node: LiveNode, mount: LiveMount) -> None:
    assert out(mount, "cat tasks/run-1/status") == "running\n"
    node.ctr("tasks", "kill", "-s", "KILL", "run-1")
    shown_within(lambda: mount.sh("cat tasks/run-1/status").stdout == "stopped\n")
    assert out(mount, "cat tasks/run-1/exitstatus") == "137\n"
    assert out(mount, "cat tasks/run-1/pids") == ""


def test_tasks_come_and_go(node: LiveNode, mount: LiveMount) -> None:
    node.ctr("tasks", "delete", "exit-7")
    shown_within(lambda: "exit-7" not in mount.sh("ls tasks").stdout.split())
    assert "exit-7" in out(mount, "ls containers").split()  # the container stays
    node.run("new-1", "sleep", "1000")
    shown_within(lambda: mount.sh("cat tasks/new-1/status").stdout == "running\n")
    node.ctr("tasks", "resume", "pause-1")
    shown_within(lambda: mount.sh("cat tasks/pause-1/status").stdout == "running\n")


def test_images_and_containers_made_by_ctr_show(node: LiveNode, mount: LiveMount) -> None:
    node.ctr("images", "tag", IMAGE, "example.com/copy:1")
    shown_within(lambda: "example.com%2Fcopy:1" in mount.sh("ls images").stdout.split())
    digest = node.ctr("images", "ls").splitlines()[1].split()[2]
    assert out(mount, "cat images/example.com%2Fcopy:1/digest") == f"{digest}\n"
    node.ctr("containers", "create", IMAGE, "made-1")
    shown_within(lambda: "made-1" in mount.sh("ls containers").stdout.split())
    node.ctr("containers", "rm", "made-1")
    shown_within(lambda: "made-1" not in mount.sh("ls containers").stdout.split())
    node.run("pause-2", "sleep", "1000")
    shown_within(lambda: mount.sh("cat tasks/pause-2/status").stdout == "running\n")
    node.ctr("tasks", "pause", "pause-2")
    shown_within(lambda: mount.sh("cat tasks/pause-2/status").stdout == "paused\n")
