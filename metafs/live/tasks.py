"""A node's tasks: from containerd's API when it answers, else from the runtime's files.

A task is runtime state, never in `meta.db`. containerd asks each task's shim and answers
`Tasks.List`/`Get` with pid, status and, once the task stopped, exit status and time — the exit
status lives only there (in the shim's memory; an exiting task changes no file).

When containerd does not answer (it is down, or this is a captured node), the status follows
runc's own rule over the files the runtime keeps:

- the bundle `<state>/io.containerd.runtime.v2.task/<ns>/<id>/` exists for every task (it goes
  when the task is deleted); `init.pid` holds the init process's pid, `options.json` runc's
  `root` if not the default;
- runc's `<runc root>/<ns>/<id>/state.json` has `init_process_start`, the start time (field 22
  of `/proc/<pid>/stat`) the process had: if `/proc/<pid>` is gone or started at another time
  (the pid was reused), the task is *stopped*;
- else *created* while runc's `exec.fifo` exists (the process waits to be started), *paused*
  while its freezer cgroup says FROZEN (v1) or `cgroup.freeze` is 1 (v2), else *running*.

`Roots` says where those files are, so that a capture of them (tests/fixtures) reads the same.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..codec import format_time
from . import CGROUP_MOUNT, DEFAULT_RUNC_ROOT
from .api import Containerd, NotAnswering
from .proto import task_pb2

RUNTIME_V2 = "io.containerd.runtime.v2.task"
STATUSES = ("created", "running", "paused", "pausing", "stopped", "unknown")


@dataclass(frozen=True)
class Task:
    id: str
    pid: int
    status: str  # one of STATUSES
    exit_status: int | None = None  # known only from containerd's API, once stopped
    exited_at: str | None = None  # RFC 3339, as containerd gives it

    @property
    def shown_status(self) -> str:
        """The status as ctr prints it: "RUNNING"."""
        return self.status.upper()


@dataclass(frozen=True)
class Roots:
    """Where the runtime's files are: containerd's state dir, runc's root (None: the one the
    task's options.json names, else runc's default), /proc, and the cgroup mount."""

    state: str
    runc: str | None = None
    proc: str = "/proc"
    cgroup: str = CGROUP_MOUNT

    def bundles(self, namespace: str) -> Path:
        return Path(self.state, RUNTIME_V2, namespace)


def _from_process(process: task_pb2.Process) -> Task:
    status = task_pb2.Status.Name(process.status).lower()
    if process.status != task_pb2.STOPPED:
        return Task(process.id, process.pid, status)
    at = process.exited_at
    return Task(
        process.id,
        process.pid,
        status,
        process.exit_status,
        format_time(at.seconds * 1_000_000_000 + at.nanos),
    )


def api_tasks(client: Containerd) -> list[Task]:
    """Every task of the client's namespace, in containerd's order."""
    return [_from_process(process) for process in client.tasks()]


def api_task(client: Containerd, container_id: str) -> Task:
    """The task of one container; `NotFound` if it has none."""
    return _from_process(client.task(container_id))


# -- the offline rule


def state_tasks(roots: Roots, namespace: str) -> list[Task]:
    """Every task whose bundle is in the state dir, by id, with runc's status rule."""
    try:
        names = sorted(os.listdir(roots.bundles(namespace)))
    except FileNotFoundError:
        return []
    return [task for name in names if (task := state_task(roots, namespace, name)) is not None]


def state_task(roots: Roots, namespace: str, container_id: str) -> Task | None:
    """The task of one container from the runtime's files, or None if it has no bundle."""
    bundle = roots.bundles(namespace) / container_id
    try:
        pid = int((bundle / "init.pid").read_text().strip() or 0)
    except FileNotFoundError:
        if not bundle.is_dir():
            return None
        return Task(container_id, 0, "created")  # bundle made, init not yet started
    runc_dir = Path(_runc_root(roots, bundle), namespace, container_id)
    try:
        state = json.loads((runc_dir / "state.json").read_text())
    except FileNotFoundError:
        return Task(container_id, pid, "stopped")
    if _start_time(roots.proc, pid) != state.get("init_process_start"):
        return Task(container_id, pid, "stopped")
    if (runc_dir / "exec.fifo").exists():
        return Task(container_id, pid, "created")
    if _frozen(roots, state.get("cgroup_paths") or {}):
        return Task(container_id, pid, "paused")
    return Task(container_id, pid, "running")


def _runc_root(roots: Roots, bundle: Path) -> str:
    if roots.runc is not None:
        return roots.runc
    try:
        return json.loads((bundle / "options.json").read_text()).get("root") or DEFAULT_RUNC_ROOT
    except (FileNotFoundError, ValueError):
        return DEFAULT_RUNC_ROOT


def _start_time(proc: str, pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks after boot), or None without that process."""
    try:
        text = Path(proc, str(pid), "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name (field 2) is in parentheses and may hold spaces or ')'
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[22 - 3])


def _frozen(roots: Roots, cgroup_paths: dict[str, str]) -> bool:
    for controller, state_file, frozen in (
        ("freezer", "freezer.state", "FROZEN"),
        ("", "cgroup.freeze", "1"),
    ):
        path = cgroup_paths.get(controller)
        if not path:
            continue
        relative = os.path.relpath(path, CGROUP_MOUNT)
        try:
            return Path(roots.cgroup, relative, state_file).read_text().strip() == frozen
        except FileNotFoundError:
            continue
    return False


class LiveTasks:
    """The tasks of one namespace of a node, read when asked and never stored: one answer of
    containerd serves the questions of the next `fresh` seconds (a `ls -l` of a task asks
    for each of its files). When containerd does not answer, runc's rule over the runtime's
    files gives the statuses (and no exit status)."""

    def __init__(self, address: str, namespace: str, roots: Roots, fresh: float = 0.1) -> None:
        self.address = address
        self.namespace = namespace
        self.roots = roots
        self.fresh = fresh
        self._client: Containerd | None = None  # made when first used: after a daemon forks
        self._tasks: dict[str, Task] = {}
        self._when = -fresh

    def _connect(self) -> Containerd:
        if self._client is None:
            self._client = Containerd(self.address, self.namespace)
        return self._client

    def all(self) -> dict[str, Task]:
        now = time.monotonic()
        if now - self._when >= self.fresh:
            try:
                found = api_tasks(self._connect())
            except NotAnswering:
                found = state_tasks(self.roots, self.namespace)
            self._tasks = {task.id: task for task in sorted(found, key=lambda t: t.id)}
            self._when = time.monotonic()
        return self._tasks

    def forget(self) -> None:
        """A task was changed through us: ask containerd again at the next question."""
        self._when = -self.fresh

    def get(self, container_id: str) -> Task | None:
        return self.all().get(container_id)

    def pids(self, container_id: str) -> list[int]:
        """The pids of the task's processes (`ctr task ps`); init's alone if containerd does
        not answer and the task runs."""
        try:
            return [p.pid for p in self._connect().pids(container_id)]
        except NotAnswering:
            task = self.get(container_id)
            return [task.pid] if task is not None and task.status != "stopped" else []

    def bundle(self, container_id: str) -> str:
        return str(self.roots.bundles(self.namespace) / container_id)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
