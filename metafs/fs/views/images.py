"""images/: one directory per image (and per draft made by `mkdir`).

```
images/<name>/digest mediatype size          the target descriptor, read-write
images/<name>/labels/<key>                   one file per label, read-write
images/<name>/createdat updatedat            read-only
```

An image made by `mkdir` is a draft until digest, mediatype and size are all set; it is listed
and read like an image, with an unset field reading as empty. `mv` renames an image.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from ... import buckets as B
from ...errors import NotFound
from ...images import Image, Images
from ...store import Txn
from ..fields import Field, size_value
from ..view import LABELS, OBJECT, NotPermitted, Path, classify
from .objects import TIMES, ObjectView

FIELDS = {
    "digest": Field("digest", "digest"),
    "mediatype": Field("mediatype", "line"),
    "size": Field("size", "size"),
}


class ImagesView(ObjectView[Image]):
    fields = FIELDS
    fixed = (LABELS, *TIMES, *FIELDS)

    def load(self, tx: Txn, name: str) -> Image | None:
        images = Images(tx, self.namespace)
        try:
            return images.get(name)
        except NotFound:
            pass
        try:
            return images.draft(name)
        except NotFound:
            return None

    def names(self, tx: Txn, start: str | None) -> Iterator[str]:
        """Images and drafts merged."""
        images = Images(tx, self.namespace)
        merged = images.names(start=start)
        drafts = list(images.draft_names(start=start))  # rarely any
        if drafts:
            merged = heapq.merge(merged, drafts, key=B.enc)
        return merged

    def text(self, obj: Image, field: str) -> str | None:
        target = obj.target
        if field == "digest":
            return target.digest
        if field == "mediatype":
            return target.media_type
        if field == "size":
            return str(target.size) if target.size else ""
        return None

    def store_field(self, tx: Txn, name: str, field: str, value: str) -> None:
        typed: str | int = size_value(value) if field == "size" else value
        Images(tx, self.namespace).set_target_field(name, field, typed)

    def store_label(self, tx: Txn, name: str, key: str, value: str) -> None:
        Images(tx, self.namespace).set_label(name, key, value)

    def store_labels(self, tx: Txn, name: str, labels: dict[str, str]) -> None:
        Images(tx, self.namespace).set_labels(name, labels)

    def mkdir(self, path: Path) -> None:
        self.check_writable()
        if classify(path, self) != OBJECT:
            raise NotPermitted("directories are made only in images/ and containers/")
        with self.store.write() as tx:
            Images(tx, self.namespace).create_draft(path[1])
        self.entries_changed()

    def rmdir(self, path: Path) -> None:
        """Delete a whole image or draft in one transaction."""
        self.check_writable()
        if classify(path, self) != OBJECT:
            raise NotPermitted(f"{'/'.join(path)} cannot be removed")
        with self.store.write() as tx:
            images = Images(tx, self.namespace)
            if images.exists(path[1]):
                images.delete(path[1])
            else:
                images.delete_draft(path[1])
        self.entries_changed()

    def rename(self, old: Path, new: Path, *, replace: bool = True) -> None:
        """An image, or a label within one image."""
        if classify(old, self) == OBJECT and old[:-1] == new[:-1]:
            self.check_writable()
            with self.store.write() as tx:
                Images(tx, self.namespace).rename(old[1], new[1])
            self.entries_changed()
            return
        super().rename(old, new, replace=replace)
