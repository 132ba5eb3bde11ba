"""images/: one directory per image (and per draft made by `mkdir`).

```
images/<name>/digest mediatype size          the target descriptor, read-write
images/<name>/labels/<key>                   one file per label, read-write
images/<name>/createdat updatedat            read-only
```

An image made by `mkdir` is a draft until digest, mediatype and size are all set; it is listed
and read like an image, with an unset field reading as empty. `mv` renames an image. On a live
node containerd keeps no image without a target: a draft is kept by the editor, in memory, and
created in containerd (with the labels given meanwhile) when its last target field is set.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from ... import buckets as B
from ...errors import AlreadyExists, NotFound
from ...images import Image, Images
from ...store import Txn
from ..fields import Field
from ..view import LABELS, OBJECT, NotPermitted, Path, classify
from .objects import TIMES, ObjectView

FIELDS = {
    "digest": Field("digest", "digest"),
    "mediatype": Field("mediatype", "line"),
    "size": Field("size", "size"),
}


class ImagesView(ObjectView[Image]):
    kind = "images"
    fields = FIELDS
    fixed = (LABELS, *TIMES, *FIELDS)

    def load(self, tx: Txn, name: str) -> Image | None:
        kept = self.editor.drafts()
        if kept and name in kept:
            return kept[name]
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
        kept = self.editor.drafts()
        if kept:
            after = B.enc(start) if start is not None else b""
            drafts += [name for name in kept if B.enc(name) >= after]
            drafts.sort(key=B.enc)
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

    def mkdir(self, path: Path) -> None:
        self.check_writable()
        if classify(path, self) != OBJECT:
            raise NotPermitted("directories are made only in images/ and containers/")
        if self._object(path[1]) is not None:
            raise AlreadyExists(f"image {path[1]!r}")
        self.editor.create_draft(path[1])
        self._names_changed()

    def rmdir(self, path: Path) -> None:
        """Delete a whole image or draft in one transaction."""
        self.check_writable()
        if classify(path, self) != OBJECT:
            raise NotPermitted(f"{'/'.join(path)} cannot be removed")
        self.editor.delete(self.kind, path[1])
        self._names_changed()

    def rename(self, old: Path, new: Path, *, replace: bool = True) -> None:
        """An image, or a label within one image."""
        if classify(old, self) == OBJECT and old[:-1] == new[:-1]:
            self.check_writable()
            if self._object(new[1]) is not None:
                raise AlreadyExists(f"image {new[1]!r}")
            self.editor.rename(self.kind, old[1], new[1])
            self._names_changed()
            return
        super().rename(old, new, replace=replace)

    def _names_changed(self) -> None:
        """Show a new, renamed or deleted name at once (a draft kept by the editor changes
        without a commit)."""
        self._listing = None
        self._objects.clear()
        self.entries_changed()
