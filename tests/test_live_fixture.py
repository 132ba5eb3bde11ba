"""The offline rule (runc's) replayed on a captured node: tests/fixtures/containerd/tasks-1,
with the roots of state, runc, /proc and the cgroups pointed into the unpacked capture."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from cli_helpers import env

from metafs.live.tasks import Roots, state_task, state_tasks

CAPTURE = Path(__file__).resolve().parent / "fixtures" / "containerd" / "tasks-1"


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> Roots:
    base = tmp_path_factory.mktemp("tasks-1")
    with tarfile.open(CAPTURE / "task-state.tar") as tar:
        tar.extractall(base, filter="tar")
    return Roots(str(base / "state"), str(base / "runc"), str(base / "proc"), str(base / "cgroup"))


def test_statuses_and_pids_are_the_captured_ones(roots: Roots) -> None:
    expected = json.loads((CAPTURE / "tasks.expected.json").read_text())
    found = {t.id: t for t in state_tasks(roots, "default")}
    for container, task in expected.items():
        if task is None:
            assert container not in found
            assert state_task(roots, "default", container) is None
        else:
            assert (found[container].pid, found[container].status) == (task["pid"], task["status"])
            assert found[container].exit_status is None  # only containerd knows it


def test_ls_prints_what_ctr_printed(roots: Roots) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "metafs",
            "--containerd",
            "--state",
            roots.state,
            "tasks",
            "--runc-root",
            str(roots.runc),
            "--proc-root",
            roots.proc,
            "--cgroup-root",
            roots.cgroup,
            "ls",
        ],
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stderr.startswith("metafs: warning: no containerd socket at ")
    captured = (CAPTURE / "task-ls.txt").read_text()
    lines, ctr_lines = done.stdout.splitlines(), captured.splitlines()
    assert lines[0] == ctr_lines[0] and sorted(lines[1:]) == sorted(ctr_lines[1:])


def test_a_frozen_cgroup_is_paused_and_a_fifo_created(roots: Roots) -> None:
    """The two other branches of the rule, on a copy of run-1's files changed as runc would."""
    freezer = Path(roots.cgroup, "freezer", "default", "run-1", "freezer.state")
    freezer.write_text("FROZEN\n")
    try:
        assert state_task(roots, "default", "run-1").status == "paused"
        fifo = Path(str(roots.runc), "default", "run-1", "exec.fifo")
        fifo.touch()
        try:
            assert state_task(roots, "default", "run-1").status == "created"
        finally:
            fifo.unlink()
    finally:
        freezer.write_text("THAWED\n")


def test_a_reused_pid_is_stopped(roots: Roots) -> None:
    """Another process with run-1's pid (another start time) does not make it run."""
    stat = Path(roots.proc, "11862", "stat")
    original = stat.read_text()
    fields = original.split(" ")
    fields[21] = str(int(fields[21]) + 1)
    stat.write_text(" ".join(fields))
    try:
        assert state_task(roots, "default", "run-1").status == "stopped"
    finally:
        stat.write_text(original)


def test_no_task_prints_the_header_ctr_printed(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "metafs", "--containerd", "--state", str(tmp_path), "tasks", "ls"],
        capture_output=True, text=True, env=env(), timeout=60,
    )  # fmt: skip
    assert done.returncode == 0
    assert done.stdout == (CAPTURE / "task-ls.after-delete.txt").read_text()
