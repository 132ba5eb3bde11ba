"""tasks/: a live node's tasks beside its containers, read from containerd when asked.

```
tasks/<container-id>/pid status pids runtime bundle    always
tasks/<container-id>/exitstatus exitedat               once the task has stopped
tasks/<container-id>/signal                            write-only: `echo KILL > signal`
```

`status` is created, running, paused, pausing or stopped (what `ctr task ls` prints, lower
case); `pids` lists the task's processes, one a line (`ctr task ps`); `runtime` is the
container's runtime, `bundle` the task's bundle directory. A container without a task has no
entry, and a deleted task disappears. Nothing here is stored: every answer comes from
containerd (`metafs.live.tasks.LiveTasks`). Two changes are taken, through containerd's API
on a writable live mount: a signal (a name like KILL or TERM, or a number) written to `signal`
is sent to the task, and `rmdir tasks/ID` deletes a stopped task (EBUSY while it runs). Every
other change is refused (EPERM; EROFS on a read-only mount).

The files are not kept in the kernel's page cache (`page_cache`): their contents change
without a commit, and `running` and `stopped` have the same length.
"""

from __future__ import annotations

from collections.abc import Iterator

from ...containers import Containers
from ...errors import NotFound
from ...live.editor import ContainerdEditor, signal_number
from ...live.tasks import LiveTasks, Task
from ..fields import Field
from ..view import FILE, OBJECT, TOP, Context, Path, Stat, View, after_in, classify

SIGNAL = "signal"
ALWAYS = ("bundle", "pid", "pids", "runtime", SIGNAL, "status")
STOPPED = ("bundle", "exitedat", "exitstatus", "pid", "pids", "runtime", SIGNAL, "status")


class TasksView(View):
    subdirs = ()
    fixed = STOPPED
    page_cache = False

    def __init__(self, context: Context, tasks: LiveTasks) -> None:
        super().__init__(context)
        self.store = context.store
        self.namespace = context.namespace
        self.tasks = tasks
        self.editor = context.editor

    def _files(self, task: Task) -> tuple[str, ...]:
        return STOPPED if task.exit_status is not None else ALWAYS

    def stat(self, path: Path) -> Stat | None:
        kind = classify(path, self)
        if kind == TOP:
            return Stat(True, mtime=self.started)
        task = self.tasks.get(path[1])
        if task is None:
            return None
        if kind == OBJECT:
            return Stat(True, mtime=self.started)
        if kind != FILE or path[2] not in self._files(task):
            return None
        writable = path[2] == SIGNAL and not self.readonly
        return Stat(False, len(self._text(task, path[2])), mtime=self.started, writable=writable)

    def entries(self, path: Path, after: str | None = None) -> Iterator[tuple[str, Stat | None]]:
        kind = classify(path, self)
        if kind == TOP:
            names = list(self.tasks.all())
        elif kind == OBJECT and (task := self.tasks.get(path[1])) is not None:
            names = list(self._files(task))
        else:
            raise NotFound("/".join(path))
        for name in after_in(names, after):
            yield name, self.stat((*path, name))

    def read(self, path: Path) -> bytes:
        task = self.tasks.get(path[1]) if classify(path, self) == FILE else None
        if task is None or path[2] not in self._files(task):
            raise NotFound("/".join(path))
        return self._text(task, path[2])

    # ---- the two changes ------------------------------------------------------------------

    def writable_field(self, path: Path) -> Field:
        if classify(path, self) != FILE or path[2] != SIGNAL:
            raise self.refuse(path)
        self._containerd(path)
        if self.tasks.get(path[1]) is None:
            raise NotFound(f"task {path[1]}")
        return Field(SIGNAL, "line")

    def commit(self, path: Path, value: str) -> None:
        self.writable_field(path)
        number = signal_number(value)  # checked before containerd is asked
        self._containerd(path).kill(path[1], number)
        self.tasks.forget()

    def rmdir(self, path: Path) -> None:
        if classify(path, self) != OBJECT:
            raise self.refuse(path)
        self._containerd(path).delete_task(path[1])
        self.tasks.forget()

    def _containerd(self, path: Path) -> ContainerdEditor:
        """The editor of the writable mount of a live node (a read-only one has none)."""
        self.check_writable()
        if not isinstance(self.editor, ContainerdEditor):
            raise self.refuse(path)
        return self.editor

    def _text(self, task: Task, name: str) -> bytes:
        if name == SIGNAL:
            return b""
        if name == "pid":
            text = str(task.pid)
        elif name == "status":
            text = task.status
        elif name == "exitstatus":
            text = str(task.exit_status)
        elif name == "exitedat":
            text = task.exited_at or ""
        elif name == "pids":
            return "".join(f"{pid}\n" for pid in self.tasks.pids(task.id)).encode()
        elif name == "runtime":
            text = self._runtime(task.id)
        else:
            text = self.tasks.bundle(task.id)
        return text.encode() + b"\n"

    def _runtime(self, container_id: str) -> str:
        with self.store.read() as tx:
            try:
                return Containers(tx, self.namespace).get(container_id).runtime.name
            except NotFound:
                return ""
