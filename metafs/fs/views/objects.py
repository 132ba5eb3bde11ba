"""What images/ and containers/ share: writable objects with fields, labels and times.

```
<collection>/<name>/<field>...             one file per field (the view's `fields`)
<collection>/<name>/labels/<key>           one file per label, read-write
<collection>/<name>/createdat updatedat    read-only
```

Every read runs in one store transaction; every accepted change is one call of the editor
(`metafs.editor`: on a store one write transaction), after the value was validated and checked
against the object as read here. What was read is kept until the store's next commit, by any
process, or a change through the mount (a draft kept by the editor changes without one): one
`cat` asks for the same object three times (lookup, open, read), `grep -r` for each of its
files.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Generic, TypeVar

from ... import buckets as B
from ...codec import format_time, now_ns
from ...containers import Container
from ...errors import AlreadyExists, InvalidArgument, NotFound
from ...images import Image
from ...store import Txn
from ..fields import Field
from ..names import LongName
from ..view import (
    ENTRY,
    FILE,
    LABELS,
    SUBDIR,
    Context,
    NotPermitted,
    Path,
    Stat,
    View,
    after_in,
    classify,
)

TIMES = ("createdat", "updatedat")
CACHED_OBJECTS = 256
KEPT_MTIMES = 4096  # objects whose files' mtimes are remembered (about 1 KB each at most)

Obj = TypeVar("Obj", Image, Container)


class ObjectView(View, Generic[Obj]):
    """A collection of store objects whose directories hold field files, labels/ and times."""

    kind = ""  # the collection, as the editor names it
    fields: dict[str, Field] = {}  # the writable fields, in listing order
    fixed_once_set: tuple[str, ...] = ()  # writable while empty, then fixed
    listed = True
    invalidates = ("updatedat", LABELS)

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.context = context
        self.store = context.store
        self.namespace = context.namespace
        self.editor = context.editor
        self._objects: OrderedDict[str, Shown | None] = OrderedDict()
        self._listing: list[str] | None = None
        self._listed_at = 0.0  # when the listing was last asked for
        self._listed_hash = 0  # of the last listing read: tells whether names came or went
        self._changed = context.started  # the mtime of the top directory
        self._generation = -1
        # name -> (its createdat, {file: (hash of the contents, the mtime shown)}): a file's
        # mtime moves only when its own contents change (see `mtime`)
        self._mtimes: OrderedDict[str, tuple[int, dict[Path, tuple[int, int]]]] = OrderedDict()

    # ---- what a kind of object is: for images.py and containers.py ------------------------

    def load(self, tx: Txn, name: str) -> Obj | None:
        """The object called `name`, None if there is none."""
        raise NotImplementedError

    def names(self, tx: Txn, start: str | None) -> Iterator[str]:
        """The names of the collection in bolt's (bytewise) order, from `start` on."""
        raise NotImplementedError

    def text(self, obj: Obj, field: str) -> str | None:
        """The text of a field file besides the times, None if the object has no such field."""
        raise NotImplementedError

    # ---- reading ------------------------------------------------------------------------

    # The reads below are the hot paths (a lookup, a getattr, a read): they test the length of
    # a path where `classify` would say the same, a call less.

    def stat(self, path: Path) -> Stat | None:
        if len(path) == 1:  # entries not counted: a collection may hold 100k objects
            changed = self._changed
            return Stat(True, mtime=changed, ctime=changed, writable=not self.readonly, nlink=1)
        shown = self._shown(path[1])
        file = shown.file(path[2:]) if shown is not None else None
        return None if file is None else file[0]

    def entries(self, path: Path, after: str | None = None) -> Iterator[tuple[str, Stat | None]]:
        shown = self._shown(path[1])
        if shown is None:
            raise NotFound("/".join(path))
        if len(path) == 2:
            names = after_in([*self.fields, LABELS, *TIMES], after)
        else:
            names = sorted(shown.obj.labels, key=B.enc)
            if after is not None:
                names = [n for n in names if B.enc(n) > B.enc(after)]
        for name in names:
            file = shown.file((*path[2:], name))
            if file is not None:
                yield name, file[0]

    def listing(self) -> list[str]:
        """So that `ls` (which asks in ~200-entry pieces) reads the store once."""
        self._current()
        self._listed_at = time.monotonic()
        names = self._listing
        if names is None:
            generation = self._generation
            with self.store.read() as tx:
                names = list(self._names(tx, None))
            if self._generation == generation:  # see `_shown`
                self._listing = names
            listed = hash(tuple(names))
            if listed != self._listed_hash:  # a change by another process, say
                if self._listed_hash:
                    self._changed = max(self._changed, now_ns())
                self._listed_hash = listed
        return names

    def entries_changed(self) -> None:
        """An object came, went or was renamed through the mount: the top directory's mtime."""
        self._changed = now_ns()

    def drop_idle(self, idle: float) -> None:
        """One listing of 100k names is ~10 MB."""
        if time.monotonic() - self._listed_at > idle:
            self._listing = None

    def read(self, path: Path) -> bytes:
        shown = self._shown(path[1]) if len(path) >= 3 else None
        file = shown.file(path[2:]) if shown is not None else None
        if file is None or file[1] is None:
            raise NotFound("/".join(path))
        return file[1]

    def resolve(self, path: Path, long: LongName) -> str | None:
        with self.store.read() as tx:
            if len(path) == 1:
                candidates: Iterator[str] = self._names(tx, None, start=B.dec(long.prefix))
            else:
                obj = self._object(path[1])
                candidates = iter(obj.labels if obj is not None else ())
            for name in candidates:
                raw = B.enc(name)
                if long.matches(raw):
                    return name
                if len(path) == 1 and not raw.startswith(long.prefix):
                    return None
        return None

    def labels(self, path: Path) -> dict[str, str]:
        obj = self._object(path[1])
        if obj is None:
            raise NotFound("/".join(path))
        return obj.labels

    # ---- writing ------------------------------------------------------------------------

    def writable_field(self, path: Path) -> Field:
        self.check_writable()
        kind = classify(path, self)
        if kind == ENTRY:  # labels/<key>
            return Field("label", "label", label_key=path[3])
        if kind == FILE:
            field = self.fields.get(path[2])
            if field is not None:
                if path[2] in self.fixed_once_set:
                    obj = self._object(path[1])
                    if obj is not None and self.text(obj, path[2]):
                        raise NotPermitted(f"{path[2]} is fixed once set")
                return field
        raise NotPermitted(f"{'/'.join(path)} is read-only")

    def commit(self, path: Path, value: str) -> None:
        self.check_writable()
        if classify(path, self) == ENTRY:
            self.editor.set_labels(self.kind, path[1], {path[3]: value})
        else:
            self.editor.set_field(self.kind, path[1], path[2], value)
        self._objects.pop(path[1], None)  # a draft kept by the editor: no commit says it

    def creatable(self, path: Path) -> bool:
        self.check_writable()
        return classify(path, self) == SUBDIR

    def set_label(self, path: Path, key: str, value: str) -> None:
        self.check_writable()
        if not key:
            raise InvalidArgument("label key must not be empty")
        self.editor.set_labels(self.kind, path[1], {key: value})
        self._objects.pop(path[1], None)

    def remove_label(self, path: Path, key: str) -> None:
        self.check_writable()
        obj = self._object(path[1])
        if obj is None or key not in obj.labels:
            raise NotFound(f"label {key!r}")
        self.editor.remove_label(self.kind, path[1], key)
        self._objects.pop(path[1], None)

    def unlink(self, path: Path) -> None:
        if classify(path, self) == ENTRY:
            self.remove_label(path[:2], path[3])
            return
        self.check_writable()
        raise NotPermitted(f"{'/'.join(path)} cannot be absent")

    def rename(self, old: Path, new: Path, *, replace: bool = True) -> None:
        """A label within one object; anything else is refused."""
        self.check_writable()
        if old[:-1] != new[:-1]:
            raise NotPermitted("only renames within one directory")
        if classify(old, self) == ENTRY:
            self._rename_label(old[1], old[3], new[3], replace)
            return
        raise NotPermitted(f"{'/'.join(old)} cannot be renamed")

    # ---- helpers ------------------------------------------------------------------------

    def _current(self) -> None:
        """Forget what was read before the store's last commit."""
        generation = self.store.generation()
        if generation != self._generation:
            self._objects.clear()
            self._listing = None
            self._generation = generation

    def _object(self, name: str) -> Obj | None:
        shown = self._shown(name)
        return None if shown is None else shown.obj  # type: ignore[return-value]

    def _shown(self, name: str) -> Shown | None:
        """The object and its files as the store holds them now (cached while no commit
        happens)."""
        self._current()
        if name in self._objects:
            self._objects.move_to_end(name)
            return self._objects[name]
        generation = self._generation
        with self.store.read() as tx:
            obj = self.load(tx, name)
        shown = None if obj is None else Shown(self, name, obj)
        # A mount on etcd answers other requests while this one waits for the store
        # (offload.py): one of them may have found a newer generation meanwhile, which what
        # was read here may predate. It is the answer to this request, but not kept.
        if self._generation == generation:
            self._objects[name] = shown
            if len(self._objects) > CACHED_OBJECTS:
                self._objects.popitem(last=False)
        return shown

    def _names(self, tx: Txn, after: str | None, start: str | None = None) -> Iterator[str]:
        previous = after
        for name in self.names(tx, after if after is not None else start):
            if name != previous:  # an image and a draft of the same name show once
                yield name
            previous = name

    def _rename_label(self, name: str, old: str, new: str, replace: bool) -> None:
        obj = self._object(name)
        if obj is None or old not in obj.labels:
            raise NotFound(f"label {old!r}")
        if new in obj.labels and not replace:
            raise AlreadyExists(f"label {new!r}")
        value = obj.labels[old]
        self.editor.rename_label(self.kind, name, old, new, value, replace=replace)
        self._objects.pop(name, None)

    def mtime(self, name: str, obj: Image | Container, sub: Path, data: bytes) -> int:
        """The mtime of file `sub` of object `name`: the object's `updatedat` when the mount
        first saw the file or saw its contents change, not a later one. An object's `updatedat`
        moves with every label and field, and an editor (nano) that finds the mtime of the file
        it opened grew asks whether to overwrite someone else's change. Remembered for the
        last `KEPT_MTIMES` objects asked for; after that, or in a new mount, `updatedat`."""
        kept = self._mtimes.get(name)
        if kept is None or kept[0] != obj.created_at:  # new, or removed and made again
            kept = self._mtimes[name] = (obj.created_at, {})
            if len(self._mtimes) > KEPT_MTIMES:
                self._mtimes.popitem(last=False)
        else:
            self._mtimes.move_to_end(name)
        files = kept[1]
        digest = hash(data)
        seen = files.get(sub)
        if seen is not None and seen[0] == digest:
            return seen[1]
        files[sub] = (digest, obj.updated_at)
        return obj.updated_at

    def field_text(self, obj: Obj, field: str) -> str | None:
        if field == "createdat":
            return format_time(obj.created_at)
        if field == "updatedat":
            return format_time(obj.updated_at)
        return self.text(obj, field)


class Shown:
    """An object, and its directories and files as the mount shows them, each made when
    first asked for."""

    __slots__ = ("name", "obj", "view", "_files")

    def __init__(self, view: ObjectView, name: str, obj: Image | Container) -> None:
        self.name = name
        self.obj = obj
        self.view = view
        when, writable = obj.updated_at, not view.readonly  # writable: for scratch files
        self._files: dict[Path, tuple[Stat, bytes | None]] = {
            (): (Stat(True, mtime=when, ctime=when, writable=writable, nlink=3), None),
            (LABELS,): (Stat(True, mtime=when, ctime=when, writable=writable), None),
        }

    def file(self, sub: Path) -> tuple[Stat, bytes | None] | None:
        """The stat of the directory or file at `sub` (below the object's directory), and a
        file's contents; None if there is none."""
        file = self._files.get(sub)  # not try/except: most files are asked for a first time
        if file is not None:
            return file
        text = None
        if len(sub) == 1:
            text = self.view.field_text(self.obj, sub[0])
        elif len(sub) == 2 and sub[0] == LABELS:
            text = self.obj.labels.get(sub[1])
        if text is None:
            return None
        data = B.enc(text) + b"\n"
        fixed = sub[0] in TIMES or (sub[0] in self.view.fixed_once_set and bool(text))
        when = self.view.mtime(self.name, self.obj, sub, data)
        file = self._files[sub] = (
            Stat(False, len(data), when, when, not (self.view.readonly or fixed)),
            data,
        )
        return file
