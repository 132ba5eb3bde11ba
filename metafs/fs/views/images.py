"""images/: one directory per image (and per draft made by `mkdir`).

```
images/<name>/digest mediatype size          the target descriptor, read-write
images/<name>/labels/<key>                   one file per label, read-write
images/<name>/createdat updatedat            read-only
```

An image made by `mkdir` is a draft until digest, mediatype and size are all set; it is listed
and read like an image, with an unset field reading as empty. `mv` renames an image. On a live
node containerd keeps no image without a target: a draft is kept by the mount, in memory, and
created in containerd (with the labels given meanwhile) when its last target field is set.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from ... import buckets as B
from ... import validation
from ...codec import now_ns
from ...errors import AlreadyExists, InvalidArgument, NotFound
from ...images import Image, Images
from ...store import Txn
from ..fields import Field, size_value
from ..view import ENTRY, LABELS, OBJECT, Context, NotPermitted, Path, classify
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

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self._drafts: dict[str, Image] = {}  # a live node's drafts, kept here

    def load(self, tx: Txn, name: str) -> Image | None:
        if self._drafts and name in self._drafts:
            return self._drafts[name]
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
        if self._drafts:
            after = B.enc(start) if start is not None else b""
            drafts += [name for name in self._drafts if B.enc(name) >= after]
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
        if self.editor is not None:
            name = path[1]
            validation.text(name, "image name")
            if self._object(name) is not None:
                raise AlreadyExists(f"image {name!r}")
            now = now_ns()
            self._drafts[name] = Image(name, created_at=now, updated_at=now)
            self._draft_changed(name)
            return
        self.store.update(lambda tx: Images(tx, self.namespace).create_draft(path[1]))
        self.entries_changed()

    def rmdir(self, path: Path) -> None:
        """Delete a whole image or draft in one transaction."""
        self.check_writable()
        if classify(path, self) != OBJECT:
            raise NotPermitted(f"{'/'.join(path)} cannot be removed")
        if self.editor is not None:
            if self._drafts.pop(path[1], None) is not None:
                self._draft_changed(path[1])
                return
            self.editor.delete(self.kind, path[1])
            self.entries_changed()
            return

        def remove(tx: Txn) -> None:
            images = Images(tx, self.namespace)
            if images.exists(path[1]):
                images.delete(path[1])
            else:
                images.delete_draft(path[1])

        self.store.update(remove)
        self.entries_changed()

    def rename(self, old: Path, new: Path, *, replace: bool = True) -> None:
        """An image, or a label within one image."""
        if classify(old, self) == OBJECT and old[:-1] == new[:-1]:
            self.check_writable()
            if self.editor is not None:
                if not replace and self._object(new[1]) is not None:
                    raise AlreadyExists(f"image {new[1]!r}")
                if old[1] in self._drafts:
                    if self._object(new[1]) is not None:
                        raise AlreadyExists(f"image {new[1]!r}")
                    draft = self._drafts.pop(old[1])
                    draft.name = new[1]
                    self._drafts[new[1]] = draft
                    self._draft_changed(old[1])
                    self._draft_changed(new[1])
                    return
                self.editor.rename(self.kind, old[1], new[1])
                self.entries_changed()
                return
            self.store.update(lambda tx: Images(tx, self.namespace).rename(old[1], new[1]))
            self.entries_changed()
            return
        super().rename(old, new, replace=replace)

    # ---- a live node's drafts -----------------------------------------------------------

    def commit(self, path: Path, value: str) -> None:
        draft = self._drafts.get(path[1]) if self._drafts else None
        if draft is None:
            super().commit(path, value)
            return
        self.check_writable()
        if classify(path, self) == ENTRY:
            self._draft_label(draft, path[3], value)
            return
        if path[2] == "size":
            draft.target.size = size_value(value)
        elif path[2] == "digest":
            draft.target.digest = value
        else:
            draft.target.media_type = value
        self._draft_changed(draft.name)

    def set_label(self, path: Path, key: str, value: str) -> None:
        draft = self._drafts.get(path[1]) if self._drafts else None
        if draft is None:
            super().set_label(path, key, value)
            return
        self.check_writable()
        self._draft_label(draft, key, value)

    def remove_label(self, path: Path, key: str) -> None:
        draft = self._drafts.get(path[1]) if self._drafts else None
        if draft is None:
            super().remove_label(path, key)
            return
        self.check_writable()
        if key not in draft.labels:
            raise NotFound(f"label {key!r}")
        self._draft_label(draft, key, "")

    def _draft_label(self, draft: Image, key: str, value: str) -> None:
        if not key:
            raise InvalidArgument("label key must not be empty")
        validation.label(key, value)
        if value:
            draft.labels[key] = value
        else:
            draft.labels.pop(key, None)
        self._draft_changed(draft.name)

    def _draft_changed(self, name: str) -> None:
        """Show the change at once; a draft whose target is complete goes to containerd."""
        draft = self._drafts.get(name)
        if draft is not None:
            draft.updated_at = now_ns()
            if not draft.target.missing():
                assert self.editor is not None
                self.editor.create_image(draft)
                del self._drafts[name]
        self._objects.pop(name, None)
        self._listing = None
        self.entries_changed()
