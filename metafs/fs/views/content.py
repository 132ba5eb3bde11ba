"""content/: the content blobs' records, read-only.

```
content/<digest>/size createdat updatedat  labels/<key>  why
```
"""

from __future__ import annotations

from collections.abc import Iterable

from ... import gc
from ...codec import now_ns
from ...content import Content, is_digest
from ...store import Txn
from ..view import Path
from .records import Record, RecordView, times


class ContentView(RecordView):
    kind = "content"  # labels writable on a live node

    def load(self, tx: Txn, path: Path) -> Record | None:
        content = Content(tx, self.namespace)
        if not (is_digest(path[1]) and content.exists(path[1])):
            return None
        b = content.get(path[1])
        fields = {"size": str(b.size), **times(b.created_at, b.updated_at)}
        return Record(gc.CONTENT, b.digest, b.updated_at, now_ns(), fields, {}, b.labels)

    def names(self, tx: Txn, path: Path, start: str | None) -> Iterable[str]:
        return Content(tx, self.namespace).digests(start=start)
