"""snapshots/: the snapshot records of each snapshotter, read-only.

```
snapshots/<snapshotter>/<key>/name parent createdat updatedat   the record's fields
snapshots/<snapshotter>/<key>/children                          its children's keys, one a line
snapshots/<snapshotter>/<key>/labels/<key>
snapshots/<snapshotter>/<key>/why                               what keeps it from collection
```
"""

from __future__ import annotations

from collections.abc import Iterable

from ... import buckets as B
from ... import gc
from ...codec import now_ns
from ...snapshots import Snapshots
from ...store import Txn
from ..view import Path
from .records import Record, RecordView, times


class SnapshotsView(RecordView):
    kind = "snapshots"  # labels writable on a live node
    depth = 3

    def load(self, tx: Txn, path: Path) -> Record | None:
        snapshotter, key = path[1], path[2]
        snapshots = Snapshots(tx, self.namespace)
        if not snapshots.exists(snapshotter, key):
            return None
        s = snapshots.get(snapshotter, key)
        fields = {"name": s.name, "parent": s.parent, **times(s.created_at, s.updated_at)}
        ident = f"{snapshotter}/{key}"
        return Record(
            gc.SNAPSHOT, ident, s.updated_at, now_ns(), fields, {"children": s.children}, s.labels
        )

    def names(self, tx: Txn, path: Path, start: str | None) -> Iterable[str]:
        snapshots = Snapshots(tx, self.namespace)
        if len(path) == 1:
            ordered = sorted(snapshots.snapshotters(), key=B.enc)
            if start is None:
                return ordered
            return [name for name in ordered if B.enc(name) >= B.enc(start)]
        return snapshots.keys(path[1], start=start)

    def group_exists(self, path: Path) -> bool:
        with self.store.read() as tx:
            return path[1] in Snapshots(tx, self.namespace).snapshotters()
