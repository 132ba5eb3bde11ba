"""leases/: the leases and what they hold, read-only.

```
leases/<id>/createdat expires  labels/<key>  why
leases/<id>/content snapshots ingests        what it holds, one a line
```

The expiry of a lease that never expires reads as just the newline.
"""

from __future__ import annotations

from collections.abc import Iterable

from ... import gc
from ...codec import format_time, now_ns
from ...leases import Leases
from ...store import Txn
from ..view import OBJECT, Path, classify
from .records import Record, RecordView


class LeasesView(RecordView):
    def rmdir(self, path: Path) -> None:
        """On a live node, a lease is deleted through containerd (which then collects what it
        held); a store's editor refuses it (its leases are read-only here)."""
        if classify(path, self) != OBJECT:
            raise self.refuse(path)
        self.check_writable()
        self.editor.delete("leases", path[1])

    def load(self, tx: Txn, path: Path) -> Record | None:
        leases = Leases(tx, self.namespace)
        if not leases.exists(path[1]):
            return None
        lease = leases.get(path[1])
        held: dict[str, list[str]] = {"content": [], "ingests": [], "snapshots": []}
        for resource in lease.resources:
            kind, _, snapshotter = resource.type.partition("/")
            held[kind].append(f"{snapshotter}/{resource.id}" if snapshotter else resource.id)
        expires = lease.expires_at
        fields = {
            "createdat": format_time(lease.created_at),
            "expires": format_time(expires) if expires is not None else "",
        }
        return Record(gc.LEASE, lease.id, lease.created_at, now_ns(), fields, held, lease.labels)

    def names(self, tx: Txn, path: Path, start: str | None) -> Iterable[str]:
        return Leases(tx, self.namespace).ids(start=start)
