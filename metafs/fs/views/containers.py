"""containers/: one directory per container.

```
containers/<id>/image spec snapshotkey       read-write
containers/<id>/runtime snapshotter          writable while empty, then fixed
containers/<id>/labels/<key>                 read-write
containers/<id>/createdat updatedat          read-only
```

`mkdir` makes a container with the mount's default runtime and spec.
"""

from __future__ import annotations

from collections.abc import Iterator

from ... import buckets as B
from ...containers import Container, Containers, Runtime, spec_from_json
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

    def store_field(self, tx: Txn, name: str, field: str, value: str) -> None:
        containers = Containers(tx, self.namespace)
        if field == "spec":
            containers.update(Container(name, spec=spec_from_json(value)), "spec")
        elif field == "image":
            containers.update(Container(name, image=value), "image")
        elif field == "snapshotkey":
            containers.update(Container(name, snapshot_key=value), "snapshotkey")
        elif field == "snapshotter":
            containers.update(Container(name, snapshotter=value), "snapshotter")
        else:
            containers.update(Container(name, runtime=Runtime(value)), "runtime")

    def store_label(self, tx: Txn, name: str, key: str, value: str) -> None:
        Containers(tx, self.namespace).set_label(name, key, value)

    def store_labels(self, tx: Txn, name: str, labels: dict[str, str]) -> None:
        Containers(tx, self.namespace).update(Container(name, labels=labels), "labels")

    def mkdir(self, path: Path) -> None:
        self.check_writable()
        if classify(path, self) != OBJECT:
            raise NotPermitted("directories are made only in images/ and containers/")
        if self.editor is not None:
            raise NotPermitted("on a live node a container is made by `ctr containers create`")
        container = Container(
            path[1],
            runtime=Runtime(self.context.default_runtime),
            spec=self.context.default_spec,
        )
        self.store.update(lambda tx: Containers(tx, self.namespace).create(container))
        self.entries_changed()

    def rmdir(self, path: Path) -> None:
        """Delete a whole container in one transaction."""
        self.check_writable()
        if classify(path, self) != OBJECT:
            raise NotPermitted(f"{'/'.join(path)} cannot be removed")
        if self.editor is not None:
            self.editor.delete(self.kind, path[1])
        else:
            self.store.update(lambda tx: Containers(tx, self.namespace).delete(path[1]))
        self.entries_changed()
