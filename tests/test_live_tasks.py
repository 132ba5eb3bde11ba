"""`metafs --containerd tasks ls|ps` against a private containerd running real runc tasks,
compared with what `ctr` prints for the same containerd at the same moment."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from cli_helpers import ROOT, env
from live_node import LiveNode, start_node

from metafs.live.tasks import LiveTasks, Roots, state_tasks


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> LiveNode:
    yield from start_node(tmp_path_factory)


@pytest.fixture(scope="module")
def tasks(node: LiveNode) -> LiveNode:
    """run-1 sleeping, exit-7 exited with status 7, pause-1 paused, idle-1 without a task."""
    node.run("run-1", "sleep", "1000", role="running")
    node.run("exit-7", "sh", "-c", "exit 7")
    node.run("pause-1", "sleep", "1000")
    node.ctr("tasks", "pause", "pause-1")
    node.ctr("containers", "create", "docker.io/library/busybox:live", "idle-1")
    deadline = time.monotonic() + 10
    while "STOPPED" not in node.ctr("tasks", "ls") and time.monotonic() < deadline:
        time.sleep(0.05)
    return node


def metafs(node: LiveNode, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metafs", "--containerd", *args],
        capture_output=True,
        text=True,
        env={**env(), **extra},
        cwd=ROOT,
        timeout=60,
    )


def at(node: LiveNode, *args: str) -> list[str]:
    return ["--state", str(node.state), "-n", node.namespace, *args]


def same_table(ours: str, ctrs: str) -> None:
    """containerd lists tasks in no fixed order (a Go map): the header and the widths must be
    byte for byte ctr's, the rows the same set."""
    ours_lines, ctr_lines = ours.splitlines(), ctrs.splitlines()
    assert ours_lines[0] == ctr_lines[0]
    assert sorted(ours_lines[1:]) == sorted(ctr_lines[1:])
    assert ours.endswith("\n") and ctrs.endswith("\n")


def test_ls_prints_what_ctr_prints(tasks: LiveNode) -> None:
    done = metafs(tasks, *at(tasks, "tasks", "ls"))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    same_table(done.stdout, tasks.ctr("tasks", "ls"))
    statuses = {line.split()[0]: line.split()[2] for line in done.stdout.splitlines()[1:]}
    assert statuses == {"run-1": "RUNNING", "exit-7": "STOPPED", "pause-1": "PAUSED"}


def test_ls_quiet(tasks: LiveNode) -> None:
    done = metafs(tasks, *at(tasks, "tasks", "ls", "-q"))
    assert sorted(done.stdout.splitlines()) == sorted(tasks.ctr("tasks", "ls", "-q").split())


def test_exit_status_comes_from_the_api(tasks: LiveNode) -> None:
    done = metafs(tasks, *at(tasks, "tasks", "ls", "--format", "json"))
    rows = {row["ID"]: row for row in json.loads(done.stdout)}
    assert rows["exit-7"]["ExitStatus"] == 7 and rows["exit-7"]["ExitedAt"].endswith("Z")
    assert "ExitStatus" not in rows["run-1"]


def test_environment_names_the_node(tasks: LiveNode) -> None:
    done = metafs(
        tasks,
        "tasks",
        "ls",
        "-q",
        CONTAINERD_ADDRESS=f"unix://{tasks.address}",
        CONTAINERD_NAMESPACE=tasks.namespace,
    )
    assert sorted(done.stdout.split()) == ["exit-7", "pause-1", "run-1"], done.stderr
    # -n wins over the environment, as in ctr
    other = metafs(tasks, "-n", "other", "tasks", "ls", "-q", CONTAINERD_ADDRESS=tasks.address)
    assert other.returncode == 0 and other.stdout == ""


def test_ps_prints_what_ctr_prints(tasks: LiveNode) -> None:
    for task in ("run-1", "pause-1", "exit-7"):
        done = metafs(tasks, *at(tasks, "tasks", "ps", task))
        assert done.returncode == 0, done.stderr
        assert done.stdout == tasks.ctr("tasks", "ps", task), task


def test_ps_of_a_container_without_task(tasks: LiveNode) -> None:
    done = metafs(tasks, *at(tasks, "tasks", "ps", "idle-1"))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "metafs: no running task found: task idle-1 not found: not found\n"
    done = metafs(tasks, *at(tasks, "tasks", "ps", "nothing"))
    assert done.returncode == 1
    assert done.stderr == (
        f'metafs: container "nothing" in namespace "{tasks.namespace}": not found\n'
    )


def test_runc_rule_agrees_with_containerd(tasks: LiveNode) -> None:
    """The offline rule, read from this node's real files, gives containerd's statuses."""
    found = state_tasks(Roots(str(tasks.state), runc=str(tasks.runc_root)), tasks.namespace)
    assert {t.id: t.status for t in found} == {
        "exit-7": "stopped",
        "pause-1": "paused",
        "run-1": "running",
    }
    pids = {
        line.split()[0]: int(line.split()[1]) for line in tasks.ctr("tasks", "ls").splitlines()[1:]
    }
    assert {t.id: t.pid for t in found} == pids


def test_no_containerd_is_one_line(tmp_path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "metafs",
            "--containerd",
            "--state",
            str(tmp_path),
            "tasks",
            "ps",
            "x",
        ],
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
    )
    assert done.returncode == 1
    assert (
        done.stderr == f"metafs: no containerd socket at {tmp_path}/containerd.sock: unavailable\n"
    )


def test_a_socket_that_is_not_containerd(tmp_path) -> None:
    """A gRPC server without containerd's services: say so, in one line."""
    import grpc

    server = grpc.server(__import__("concurrent.futures").futures.ThreadPoolExecutor(1))
    sock = tmp_path / "containerd.sock"
    server.add_insecure_port(f"unix://{sock}")
    server.start()
    try:
        done = metafs(None, "--address", str(sock), "tasks", "ls")  # type: ignore[arg-type]
    finally:
        server.stop(None)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "does not serve tasks.v1.Tasks/List of containerd's v1 API" in done.stderr


def test_live_tasks_read_when_asked(tasks: LiveNode) -> None:
    roots = Roots(str(tasks.state), runc=str(tasks.runc_root))
    source = LiveTasks(tasks.address, tasks.namespace, roots, fresh=0)
    try:
        found = source.all()
        assert {i: t.status for i, t in found.items()} == {
            "exit-7": "stopped",
            "pause-1": "paused",
            "run-1": "running",
        }
        assert found["exit-7"].exit_status == 7 and source.get("idle-1") is None
        ps = tasks.ctr("tasks", "ps", "run-1").split()
        assert source.pids("run-1") == [int(ps[2])] and source.pids("exit-7") == []
    finally:
        source.close()
    # containerd not answering: the runtime's files, without exit status
    offline = LiveTasks(str(tasks.base / "absent.sock"), tasks.namespace, roots)
    assert {i: (t.status, t.exit_status) for i, t in offline.all().items()} == {
        "exit-7": ("stopped", None),
        "pause-1": ("paused", None),
        "run-1": ("running", None),
    }
    assert offline.pids("run-1") == [found["run-1"].pid]


def test_events_stream_what_containerd_does(node: LiveNode) -> None:
    """The event stream a cache can be dropped on: a task's exit arrives with its topic."""
    from metafs.live.api import Containerd

    seen: list[tuple[str, str]] = []
    with Containerd(node.address, node.namespace) as client:
        stream = client.events('topic=="/tasks/exit"')

        def listen() -> None:
            for envelope in stream:
                seen.append((envelope.namespace, envelope.topic))
                return

        listener = threading.Thread(target=listen)
        listener.start()
        time.sleep(0.2)  # subscribed before the task runs
        node.run("exit-3", "sh", "-c", "exit 3")
        listener.join(timeout=10)
        stream.close()
    assert seen == [(node.namespace, "/tasks/exit")]
