"""What each path of the mount shows, mapped onto the store's object APIs (no FUSE here).

```
images/<name>/digest mediatype size          the target descriptor, read-write
images/<name>/labels/<key>                   one file per label, read-write
images/<name>/createdat updatedat            read-only
containers/<id>/image spec snapshotkey       read-write
containers/<id>/runtime snapshotter          writable while empty, then fixed
containers/<id>/labels/<key>                 read-write
containers/<id>/createdat updatedat          read-only
```

A path is a tuple of stored names (str, surrogate-escaped bytes): `("images", name, "labels",
key)`. Every method runs in one store transaction; every accepted change is exactly one write
transaction. Images made by `mkdir` are drafts until digest, mediatype and size are all set;
they are listed and read like images, with an unset field reading as empty.
"""

from __future__ import annotations

import errno
import heapq
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from .. import buckets as B
from ..codec import SPEC_TYPE_URL, AnyValue, format_time, now_ns
from ..containers import DEFAULT_RUNTIME, Container, Containers, Runtime, spec_from_json
from ..errors import AlreadyExists, InvalidArgument, MetafsError, NotFound
from ..images import Image, Images
from ..store import Store, Txn
from .fields import Field, size_value
from .names import LongName

IMAGES = "images"
CONTAINERS = "containers"
LABELS = "labels"
TOP = (IMAGES, CONTAINERS)

IMAGE_FIELDS = {
    "digest": Field("digest", "digest"),
    "mediatype": Field("mediatype", "line"),
    "size": Field("size", "size"),
}
CONTAINER_FIELDS = {
    "image": Field("image", "line", required=False),
    "spec": Field("spec", "spec"),
    "snapshotkey": Field("snapshotkey", "line", required=False),
    "runtime": Field("runtime", "line"),
    "snapshotter": Field("snapshotter", "line"),
}
FIXED_ONCE_SET = ("runtime", "snapshotter")
TIMES = ("createdat", "updatedat")
# every name an image or container directory holds besides labels/<key>
FIXED_ENTRIES = tuple(dict.fromkeys((LABELS, *TIMES, *IMAGE_FIELDS, *CONTAINER_FIELDS)))

EMPTY_SPEC = AnyValue(SPEC_TYPE_URL, b"{}")

Path = tuple[str, ...]
Object = Image | Container
CACHED_OBJECTS = 256


class NotPermitted(MetafsError):
    """The path never takes this operation (a read-only field, a file where none may be)."""

    errno = errno.EPERM
    kind = "operation not permitted"


class ReadOnlyMount(MetafsError):
    errno = errno.EROFS
    kind = "read-only file system"


@dataclass(slots=True)
class Stat:
    is_dir: bool
    size: int = 0
    mtime: int = 0  # Unix nanoseconds
    ctime: int = 0
    writable: bool = False


class Tree:
    """One namespace of a store, as directories and files."""

    def __init__(
        self,
        store: Store,
        namespace: str,
        *,
        readonly: bool = False,
        default_runtime: str = DEFAULT_RUNTIME,
        default_spec: AnyValue = EMPTY_SPEC,
    ) -> None:
        self.store = store
        self.namespace = namespace
        self.readonly = readonly
        self.default_runtime = default_runtime
        self.default_spec = default_spec
        self.started = now_ns()  # the time of the fixed directories
        # What was read at the store's current generation; any commit, by any process, empties
        # it. One `cat` asks for the same object three times (lookup, open, read), `grep -r`
        # for each of its files.
        self._objects: OrderedDict[tuple[str, str], Shown | None] = OrderedDict()
        self._listings: dict[str, list[str]] = {}
        self._listed_at: dict[str, float] = {}  # when each listing was last asked for
        self._generation = -1

    # ---- reading ------------------------------------------------------------------------

    def stat(self, path: Path) -> Stat | None:
        """What `path` is, or None if it does not exist."""
        if len(path) <= 1:
            return Stat(True, mtime=self.started) if not path or path[0] in TOP else None
        shown = self._shown(path[0], path[1])
        file = shown.file(path[2:]) if shown is not None else None
        return None if file is None else file[0]

    @staticmethod
    def is_dir(path: Path) -> bool:
        return len(path) <= 2 or (len(path) == 3 and path[2] == LABELS)

    def list(self, path: Path, after: str | None = None) -> Iterator[tuple[str, Stat]]:
        """(name, stat) of the entries of a directory in a stable order, those after `after`;
        for images/ and containers/, see `listing`."""
        if not path:
            for name in _after(list(TOP), after):
                yield name, Stat(True, mtime=self.started)
            return
        shown = self._shown(path[0], path[1])
        if shown is None:
            raise NotFound("/".join(path))
        if len(path) == 2:
            names = _after([*_fields(path[0]), LABELS, *TIMES], after)
        else:
            names = sorted(shown.obj.labels, key=B.enc)
            if after is not None:
                names = [n for n in names if B.enc(n) > B.enc(after)]
        for name in names:
            file = shown.file((*path[2:], name))
            if file is not None:
                yield name, file[0]

    def listing(self, collection: str) -> list[str]:
        """Every name in images/ or containers/, in listing order: the same list while no
        commit happens, so that `ls` (which asks in ~200-entry pieces) reads the store once."""
        self._current()
        self._listed_at[collection] = time.monotonic()
        names = self._listings.get(collection)
        if names is None:
            with self.store.read() as tx:
                names = self._listings[collection] = list(self._names(tx, collection, None))
        return names

    def drop_idle_listings(self, idle: float) -> None:
        """Forget listings not asked for in `idle` seconds: one of 100k names is ~10 MB."""
        now = time.monotonic()
        for collection in list(self._listings):
            if now - self._listed_at.get(collection, 0.0) > idle:
                del self._listings[collection]

    def read(self, path: Path) -> bytes:
        """The contents of a file: its value and one newline."""
        shown = self._shown(path[0], path[1]) if len(path) >= 3 else None
        file = shown.file(path[2:]) if shown is not None else None
        if file is None or file[1] is None:
            raise NotFound("/".join(path))
        return file[1]

    def resolve(self, path: Path, long: LongName) -> str | None:
        """The stored name in directory `path` that a long file name stands for."""
        start = B.dec(long.prefix)
        with self.store.read() as tx:
            if len(path) == 1:
                candidates: Iterator[str] = self._names(tx, path[0], None, start=start)
            else:
                obj = self._object(path[0], path[1])
                candidates = iter(obj.labels if obj is not None else ())
            for name in candidates:
                raw = B.enc(name)
                if long.matches(raw):
                    return name
                if len(path) == 1 and not raw.startswith(long.prefix):
                    return None
        return None

    def labels(self, path: Path) -> dict[str, str]:
        """The labels of the object at `path` (`(collection, name)`)."""
        obj = self._object(path[0], path[1])
        if obj is None:
            raise NotFound("/".join(path))
        return obj.labels

    # ---- writing ------------------------------------------------------------------------

    def writable_field(self, path: Path) -> Field:
        """How the file at `path` takes a value; NotPermitted for a read-only file."""
        self.check_writable()
        if len(path) == 4 and path[2] == LABELS:
            return Field("label", "label", label_key=path[3])
        if len(path) == 3:
            field = _fields(path[0]).get(path[2])
            if field is not None:
                if path[2] in FIXED_ONCE_SET:
                    obj = self._object(path[0], path[1])
                    if obj is not None and _text(obj, path[2]):
                        raise NotPermitted(f"{path[2]} is fixed once set")
                return field
        raise NotPermitted(f"{'/'.join(path)} is read-only")

    def commit(self, path: Path, value: str) -> None:
        """Store a complete, parsed value written to the file at `path`."""
        self.check_writable()
        collection, name, sub = path[0], path[1], path[2:]
        with self.store.write() as tx:
            if sub[0] == LABELS:
                self._set_label(tx, collection, name, sub[1], value)
            elif collection == IMAGES:
                typed: str | int = size_value(value) if sub[0] == "size" else value
                Images(tx, self.namespace).set_target_field(name, sub[0], typed)
            else:
                self._set_container_field(tx, name, sub[0], value)

    def set_label(self, path: Path, key: str, value: str) -> None:
        """Set (or, with an empty value, remove) one label of the object at `path`."""
        self.check_writable()
        if not key:
            raise InvalidArgument("label key must not be empty")
        with self.store.write() as tx:
            self._set_label(tx, path[0], path[1], key, value)

    def remove_label(self, path: Path, key: str) -> None:
        self.check_writable()
        with self.store.write() as tx:
            obj = self._load(tx, path[0], path[1])
            if obj is None or key not in obj.labels:
                raise NotFound(f"label {key!r}")
            self._set_label(tx, path[0], path[1], key, "")

    def mkdir(self, path: Path) -> None:
        self.check_writable()
        if len(path) != 2 or path[0] not in TOP:
            raise NotPermitted("directories are made only in images/ and containers/")
        with self.store.write() as tx:
            if path[0] == IMAGES:
                Images(tx, self.namespace).create_draft(path[1])
            else:
                container = Container(
                    path[1], runtime=Runtime(self.default_runtime), spec=self.default_spec
                )
                Containers(tx, self.namespace).create(container)

    def rmdir(self, path: Path) -> None:
        """Delete a whole image, draft or container in one transaction."""
        self.check_writable()
        if len(path) != 2 or path[0] not in TOP:
            raise NotPermitted(f"{'/'.join(path)} cannot be removed")
        with self.store.write() as tx:
            if path[0] == CONTAINERS:
                Containers(tx, self.namespace).delete(path[1])
                return
            images = Images(tx, self.namespace)
            if images.exists(path[1]):
                images.delete(path[1])
            else:
                images.delete_draft(path[1])

    def unlink(self, path: Path) -> None:
        if len(path) == 4 and path[2] == LABELS:
            self.remove_label(path[:2], path[3])
            return
        self.check_writable()
        raise NotPermitted(f"{'/'.join(path)} cannot be absent")

    def rename(self, old: Path, new: Path, *, replace: bool = True) -> None:
        """Rename an image, or a label within one object; anything else is refused."""
        self.check_writable()
        if old[:-1] != new[:-1]:
            raise NotPermitted("only renames within one directory")
        if len(old) == 2 and old[0] == IMAGES:
            with self.store.write() as tx:
                Images(tx, self.namespace).rename(old[1], new[1])
            return
        if len(old) == 4 and old[2] == LABELS:
            self._rename_label(old[:2], old[3], new[3], replace)
            return
        raise NotPermitted(f"{'/'.join(old)} cannot be renamed")

    # ---- helpers ------------------------------------------------------------------------

    def check_writable(self) -> None:
        if self.readonly:
            raise ReadOnlyMount("the mount is read-only")

    def _current(self) -> None:
        """Forget what was read before the store's last commit."""
        generation = self.store.generation()
        if generation != self._generation:
            self._objects.clear()
            self._listings.clear()
            self._generation = generation

    def _object(self, collection: str, name: str) -> Object | None:
        """The object as the store holds it now (cached while no commit happens)."""
        shown = self._shown(collection, name)
        return None if shown is None else shown.obj

    def _shown(self, collection: str, name: str) -> Shown | None:
        """The object and its files as the store holds them now (cached while no commit
        happens)."""
        self._current()
        key = (collection, name)
        if key in self._objects:
            self._objects.move_to_end(key)
            return self._objects[key]
        with self.store.read() as tx:
            obj = self._load(tx, collection, name)
        shown = None if obj is None else Shown(obj, self.readonly)
        self._objects[key] = shown
        if len(self._objects) > CACHED_OBJECTS:
            self._objects.popitem(last=False)
        return shown

    def _load(self, tx: Txn, collection: str, name: str) -> Object | None:
        try:
            if collection == IMAGES:
                images = Images(tx, self.namespace)
                try:
                    return images.get(name)
                except NotFound:
                    return images.draft(name)
            if collection == CONTAINERS:
                return Containers(tx, self.namespace).get(name)
        except NotFound:
            pass
        return None

    def _names(
        self, tx: Txn, collection: str, after: str | None, start: str | None = None
    ) -> Iterator[str]:
        """Names of a collection in bolt's (bytewise) order; images and drafts merged."""
        begin = after if after is not None else start
        if collection == IMAGES:
            images = Images(tx, self.namespace)
            merged = images.names(start=begin)
            drafts = list(images.draft_names(start=begin))  # rarely any
            if drafts:
                merged = heapq.merge(merged, drafts, key=B.enc)
        else:
            merged = Containers(tx, self.namespace).ids(start=begin)
        previous = after
        for name in merged:
            if name != previous:  # an image and a draft of the same name show once
                yield name
            previous = name

    def _set_label(self, tx: Txn, collection: str, name: str, key: str, value: str) -> None:
        if collection == IMAGES:
            Images(tx, self.namespace).set_label(name, key, value)
        else:
            Containers(tx, self.namespace).set_label(name, key, value)

    def _rename_label(self, obj_path: Path, old: str, new: str, replace: bool) -> None:
        collection, name = obj_path
        with self.store.write() as tx:
            obj = self._load(tx, collection, name)
            if obj is None or old not in obj.labels:
                raise NotFound(f"label {old!r}")
            if new in obj.labels and not replace:
                raise AlreadyExists(f"label {new!r}")
            if old == new:
                return
            labels = {k: v for k, v in obj.labels.items() if k != old}
            labels[new] = obj.labels[old]
            if collection == IMAGES:
                Images(tx, self.namespace).set_labels(name, labels)
            else:
                Containers(tx, self.namespace).update(Container(name, labels=labels), "labels")

    def _set_container_field(self, tx: Txn, cid: str, field: str, value: str) -> None:
        containers = Containers(tx, self.namespace)
        if field == "spec":
            containers.update(Container(cid, spec=spec_from_json(value)), "spec")
        elif field == "image":
            containers.update(Container(cid, image=value), "image")
        elif field == "snapshotkey":
            containers.update(Container(cid, snapshot_key=value), "snapshotkey")
        elif field == "snapshotter":
            containers.update(Container(cid, snapshotter=value), "snapshotter")
        else:
            containers.update(Container(cid, runtime=Runtime(value)), "runtime")


class Shown:
    """An object, and its directories and files as the mount shows them, each made when
    first asked for."""

    __slots__ = ("obj", "readonly", "_files")

    def __init__(self, obj: Object, readonly: bool) -> None:
        self.obj = obj
        self.readonly = readonly
        when = obj.updated_at
        directory = (Stat(True, mtime=when, ctime=when), None)
        self._files: dict[Path, tuple[Stat, bytes | None]] = {
            (): directory,
            (LABELS,): directory,
        }

    def file(self, sub: Path) -> tuple[Stat, bytes | None] | None:
        """The stat of the directory or file at `sub` (below the object's directory), and a
        file's contents; None if there is none."""
        file = self._files.get(sub)  # not try/except: most files are asked for a first time
        if file is not None:
            return file
        text = None
        if len(sub) == 1:
            text = _text(self.obj, sub[0])
        elif len(sub) == 2 and sub[0] == LABELS:
            text = self.obj.labels.get(sub[1])
        if text is None:
            return None
        data = B.enc(text) + b"\n"
        fixed = sub[0] in TIMES or (sub[0] in FIXED_ONCE_SET and bool(text))
        when = self.obj.updated_at
        file = self._files[sub] = (
            Stat(False, len(data), when, when, not (self.readonly or fixed)),
            data,
        )
        return file


def _after(names: list[str], after: str | None) -> list[str]:
    """The names that follow `after` in a listing of fixed order."""
    if after is None:
        return names
    return names[names.index(after) + 1 :] if after in names else []


def _fields(collection: str) -> dict[str, Field]:
    return IMAGE_FIELDS if collection == IMAGES else CONTAINER_FIELDS


def _text(obj: Object, field: str) -> str | None:
    """The text of a field file of an object, None if the object has no such field."""
    if field == "createdat":
        return format_time(obj.created_at)
    if field == "updatedat":
        return format_time(obj.updated_at)
    if isinstance(obj, Image):
        target = obj.target
        if field == "digest":
            return target.digest
        if field == "mediatype":
            return target.media_type
        if field == "size":
            return str(target.size) if target.size else ""
        return None
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
