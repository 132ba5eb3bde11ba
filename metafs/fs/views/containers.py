"""containers/: one directory per container.

```
containers/<id>/image spec snapshotkey       read-write
containers/<id>/runtime snapshotter          writable while empty, then fixed
containers/<id>/labels/<key>                 read-write
containers/<id>/createdat updatedat          read-only
```

`mkdir` makes a container with the mount's default runtime and spec (in a store; on a live
node `ctr containers create` makes them).
"""

from __future__ import annotations

from collections.abc import Iterator

from ... import buckets as B
from ...containers import Container, Containers, Runtime
from ...errors import NotFound
from ...store import Txn
from ..fields import Field
from ..view import LABELS, OBJECT, NotPermitted, Path, classify
from .objects import TIMES, ObjectView

FIELDS = {
    "image": Field("image", "line", required=False),
    "spec": Field("spec", "spec"),
    "snapshotkey": Field("snapshotkey", "line", required=False),
    "runtime": Field("runtime", "line"),
    "snapshotter": Field("snapshotter", "line"),
}


class ContainersView(ObjectView[Container]):
    kind = "containers"
    fields = FIELDS
    fixed_once_set = ("runtime", "snapshotter")
    fixed = (LABELS, *TIMES, *FIELDS)

    def load(self, tx: Txn, name: str) -> Container | None:
        try:
            return Containers(tx, self.namespace).get(name)
        except NotFound:
            return None

    def names(self, tx: Txn, start: str | None) -> Iterator[str]:
        return Containers(tx, self.namespace).ids(start=start)

    def text(self, obj: Container, field: str) -> str | None:
        if field == "image":
            return obj.image
        if field == "spec":
            return B.dec(obj.spec.value) if obj.spec is not None else ""
        if field == "snapshotkey":
            return obj.snapshot_key
        if field == "runtime":
            return obj.runtime.name
        if field == "snapshotter":
            return obj.snapshotter
        return None

    def mkdir(self, path: Path) -> None:
        self.check_writable()
        if classify(path, self) != OBJECT:
            raise NotPermitted("directories are made only in images/ and containers/")
        container = Container(
            path[1],
            runtime=Runtime(self.context.default_runtime),
            spec=self.context.default_spec,
        )
        self.editor.create_container(container)
        self.entries_changed()

    def rmdir(self, path: Path) -> None:
        """Delete a whole container in one transaction."""
        self.check_writable()
        if classify(path, self) != OBJECT:
            raise NotPermitted(f"{'/'.join(path)} cannot be removed")
        self.editor.delete(self.kind, path[1])
        self.entries_changed()
