"""The resource records of the namespace as read-only directories beside images/ and containers/.

```
snapshots/<snapshotter>/<key>/name parent createdat updatedat   the record's fields
snapshots/<snapshotter>/<key>/children                          its children's keys, one a line
snapshots/<snapshotter>/<key>/labels/<key>
snapshots/<snapshotter>/<key>/why                               what keeps it from collection
content/<digest>/size createdat updatedat  labels/<key>  why
leases/<id>/createdat expires  labels/<key>  why
leases/<id>/content snapshots ingests                           what it holds, one a line
```

A field file holds its value and one newline (an unset one, like the parent of a base layer or
the expiry of a lease that never expires, just the newline); a list file holds one name per
line, nothing when empty; `why` holds what `metafs gc explain` prints. Directories whose
entries are stored names (snapshotters, keys, digests, lease ids, label keys) escape them as
`names.py` does, like images/. Every change here is refused (EPERM, EROFS on a read-only mount).

Records are read once per store generation, and one mark pass of the namespace
(`gc.Explainer`) answers every `why` of that generation. `why` also depends on the clock (a
lease or an ingest that expires releases what it held), so everything read is also dropped
when the next expiry in the namespace passes. The files whose text follows other records
(`why`, `children`, a lease's lists) have as mtime the moment the mount read them, so that the
kernel drops a cached page whose text changed but not its length.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import buckets as B
from .. import gc
from ..codec import format_time, now_ns
from ..content import Content, is_digest
from ..errors import NotFound
from ..leases import Leases
from ..snapshots import Snapshots
from ..store import Store, Txn
from .fields import Field
from .names import LongName
from .tree import LABELS, NotPermitted, Path, Stat, Tree

SNAPSHOTS = "snapshots"
CONTENT = "content"
LEASES = "leases"
TOP = (CONTENT, LEASES, SNAPSHOTS)
WHY = "why"
CACHED_RECORDS = 256
_NEVER = 1 << 63


def owns(path: Path) -> bool:
    """Whether `path` is shown by this module."""
    return bool(path) and path[0] in TOP


def _depth(top: str) -> int:
    """The length of the path of a record's directory: snapshots/<sn>/<key>, content/<d>."""
    return 3 if top == SNAPSHOTS else 2


def escaped(parent: Path) -> bool:
    """Whether the entries of directory `parent` are stored names (escaped) or fixed names."""
    depth = _depth(parent[0])
    return len(parent) < depth or (len(parent) == depth + 1 and parent[depth] == LABELS)


def is_dir(path: Path) -> bool:
    depth = _depth(path[0])
    return len(path) <= depth or (len(path) == depth + 1 and path[depth] == LABELS)


@dataclass
class Record:
    """What one record's directory shows."""

    kind: str  # gc's resource kind
    ident: str  # gc's name for it: <snapshotter>/<key>, a digest, a lease id
    mtime: int  # of the directory, its labels and its field files
    read_at: int  # the mtime of the files that follow other records
    fields: dict[str, str]
    lists: dict[str, list[str]]
    labels: dict[str, str]
    why: bytes | None = field(default=None)  # read when first asked for

    def names(self) -> list[str]:
        return sorted([*self.fields, *self.lists, LABELS, WHY])


class Resources:
    """snapshots/, content/ and leases/ of one namespace: what exists and what files hold."""

    def __init__(self, store: Store, namespace: str, started: int) -> None:
        self.store = store
        self.namespace = namespace
        self.started = started  # the time of the fixed directories
        self._records: OrderedDict[Path, Record | None] = OrderedDict()
        self._generation = -1
        self._read_at = 0  # Unix ns: when the store was found at this generation
        self._valid_until = 0  # Unix ns: the next lease or ingest expiry after that
        self._explainer: gc.Explainer | None = None  # for every why, made at the first

    # ---- reading ------------------------------------------------------------------------

    def stat(self, path: Path) -> Stat | None:
        depth = _depth(path[0])
        if len(path) == 1:
            return Stat(True, mtime=self.started)
        if len(path) < depth:  # snapshots/<snapshotter>
            with self.store.read() as tx:
                found = path[1] in Snapshots(tx, self.namespace).snapshotters()
            return Stat(True, mtime=self.started) if found else None
        record = self._record(path[:depth])
        if record is None:
            return None
        sub = path[depth:]
        if not sub or sub == (LABELS,):
            return Stat(True, mtime=record.mtime, ctime=record.mtime)
        text = self._text(path[:depth], record, sub)
        if text is None:
            return None
        mtime = record.mtime if sub[0] in record.fields or sub[0] == LABELS else record.read_at
        return Stat(False, len(text), mtime=mtime, ctime=mtime)

    def list(self, path: Path, after: str | None = None) -> Iterator[tuple[str, Stat | None]]:
        """(name, stat) of a directory's entries in a stable order, those after `after`; the
        stat of a listed directory of stored names is None, as in `Tree.list`."""
        depth = _depth(path[0])
        if len(path) < depth:
            with self.store.read() as tx:
                for name in self._names(tx, path, after):
                    yield name, None
            return
        record = self._record(path[:depth])
        if record is None:
            raise NotFound("/".join(path))
        if len(path) == depth:
            names = record.names()
            names = names[names.index(after) + 1 :] if after in names else names
        else:
            names = _bytewise_after(record.labels, after)
        for name in names:
            yield name, self.stat((*path, name))

    def read(self, path: Path) -> bytes:
        depth = _depth(path[0])
        record = self._record(path[:depth]) if len(path) > depth else None
        text = self._text(path[:depth], record, path[depth:]) if record is not None else None
        if text is None:
            raise NotFound("/".join(path))
        return text

    def resolve(self, path: Path, long: LongName) -> str | None:
        """The stored name in directory `path` that a long file name stands for."""
        depth = _depth(path[0])
        if len(path) < depth:
            with self.store.read() as tx:
                for name in self._names(tx, path, None, start=B.dec(long.prefix)):
                    raw = B.enc(name)
                    if long.matches(raw):
                        return name
                    if not raw.startswith(long.prefix):
                        return None
            return None
        record = self._record(path[:depth])
        labels = record.labels if record is not None else {}
        return next((key for key in labels if long.matches(B.enc(key))), None)

    # ---- helpers ------------------------------------------------------------------------

    def _names(
        self, tx: Txn, path: Path, after: str | None, start: str | None = None
    ) -> Iterator[str]:
        """The stored names listed in snapshots/, snapshots/<sn>/, content/ or leases/."""
        begin = after if after is not None else start
        if path[0] == SNAPSHOTS and len(path) == 1:
            names: Iterable[str] = _bytewise_after(
                Snapshots(tx, self.namespace).snapshotters(), after
            )
        elif path[0] == SNAPSHOTS:
            names = Snapshots(tx, self.namespace).keys(path[1], start=begin)
        elif path[0] == CONTENT:
            names = Content(tx, self.namespace).digests(start=begin)
        else:
            names = Leases(tx, self.namespace).ids(start=begin)
        for name in names:
            if name != after:
                yield name

    def _text(self, record_path: Path, record: Record, sub: Path) -> bytes | None:
        """The contents of the file `sub` of a record's directory, None if there is none."""
        if len(sub) == 2 and sub[0] == LABELS:
            value = record.labels.get(sub[1])
            return None if value is None else B.enc(value) + b"\n"
        if len(sub) != 1:
            return None
        name = sub[0]
        if name in record.fields:
            return B.enc(record.fields[name]) + b"\n"
        if name in record.lists:
            return b"".join(B.enc(item) + b"\n" for item in record.lists[name])
        if name == WHY:
            if record.why is None:
                with self.store.read() as tx:
                    if self._explainer is None:
                        self._explainer = gc.Explainer(tx, self.namespace, now=self._read_at)
                    explanation = self._explainer.explain(tx, record.kind, record.ident)
                record.why = explanation.text().encode()
            return record.why
        return None

    def _record(self, path: Path) -> Record | None:
        """The record at a record directory's path, as the store holds it now (cached)."""
        self._refresh()
        if path in self._records:
            self._records.move_to_end(path)
            return self._records[path]
        with self.store.read() as tx:
            record = self._load(tx, path)
        self._records[path] = record
        if len(self._records) > CACHED_RECORDS:
            self._records.popitem(last=False)
        return record

    def _refresh(self) -> None:
        """Forget what was read if the store changed or an expiry has passed since."""
        generation, now = self.store.generation(), now_ns()
        if generation == self._generation and now < self._valid_until:
            return
        self._records.clear()
        self._explainer = None
        self._generation, self._read_at = generation, now
        with self.store.read() as tx:
            self._valid_until = self._next_expiry(tx, now)

    def _next_expiry(self, tx: Txn, now: int) -> int:
        """The first moment after `now` at which a lease or an ingest of the namespace expires
        (gc: expired once the clock is past the expiry)."""
        expiries = [lease.expires_at for lease in Leases(tx, self.namespace).list()]
        expiries += [ingest.expires_at for ingest in Content(tx, self.namespace).ingests()]
        return min((t + 1 for t in expiries if t is not None and t >= now), default=_NEVER)

    def _load(self, tx: Txn, path: Path) -> Record | None:
        now = now_ns()
        if path[0] == SNAPSHOTS:
            snapshotter, key = path[1], path[2]
            snapshots = Snapshots(tx, self.namespace)
            if not snapshots.exists(snapshotter, key):
                return None
            s = snapshots.get(snapshotter, key)
            fields = {"name": s.name, "parent": s.parent, **_times(s.created_at, s.updated_at)}
            ident = f"{snapshotter}/{key}"
            return Record(
                gc.SNAPSHOT, ident, s.updated_at, now, fields, {"children": s.children}, s.labels
            )
        if path[0] == CONTENT:
            content = Content(tx, self.namespace)
            if not (is_digest(path[1]) and content.exists(path[1])):
                return None
            b = content.get(path[1])
            fields = {"size": str(b.size), **_times(b.created_at, b.updated_at)}
            return Record(gc.CONTENT, b.digest, b.updated_at, now, fields, {}, b.labels)
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
        return Record(gc.LEASE, lease.id, lease.created_at, now, fields, held, lease.labels)


def _times(created: int, updated: int) -> dict[str, str]:
    return {"createdat": format_time(created), "updatedat": format_time(updated)}


def _bytewise_after(names: Iterable[str], after: str | None) -> list[str]:
    """`names` in bolt's (bytewise) order, those after `after`."""
    ordered = sorted(names, key=B.enc)
    if after is None:
        return ordered
    return [name for name in ordered if B.enc(name) > B.enc(after)]


class ResourceTree(Tree):
    """The whole mount: `Tree`'s images/ and containers/, and the resource views beside them.

    Each method hands paths under snapshots/, content/ and leases/ to `Resources` and refuses
    every change there; everything else is `Tree`'s.
    """

    def __init__(self, store: Store, namespace: str, **options: Any) -> None:
        super().__init__(store, namespace, **options)
        self.resources = Resources(store, namespace, self.started)

    # ---- reading ------------------------------------------------------------------------

    def stat(self, path: Path) -> Stat | None:
        return self.resources.stat(path) if owns(path) else super().stat(path)

    @staticmethod
    def is_dir(path: Path) -> bool:
        return is_dir(path) if owns(path) else Tree.is_dir(path)

    def list(self, path: Path, after: str | None = None) -> Iterator[tuple[str, Stat | None]]:
        if owns(path):
            return self.resources.list(path, after)
        if not path:
            return self._root(after)
        return super().list(path, after)

    def _root(self, after: str | None) -> Iterator[tuple[str, Stat | None]]:
        if after not in TOP:
            yield from super().list((), after)
            after = None
        for name in TOP[TOP.index(after) + 1 :] if after is not None else TOP:
            yield name, Stat(True, mtime=self.started)

    def read(self, path: Path) -> bytes:
        return self.resources.read(path) if owns(path) else super().read(path)

    def resolve(self, path: Path, long: LongName) -> str | None:
        return self.resources.resolve(path, long) if owns(path) else super().resolve(path, long)

    def labels(self, path: Path) -> dict[str, str]:
        """Labels as extended attributes are images' and containers' only."""
        return {} if owns(path) else super().labels(path)

    # ---- writing: refused under the resource views ------------------------------------------

    def _refuse(self, *paths: Path) -> None:
        for path in paths:
            if owns(path):
                self.check_writable()
                raise NotPermitted(f"{'/'.join(path)} is read-only")

    def writable_field(self, path: Path) -> Field:
        self._refuse(path)
        return super().writable_field(path)

    def commit(self, path: Path, value: str) -> None:
        self._refuse(path)
        super().commit(path, value)

    def set_label(self, path: Path, key: str, value: str) -> None:
        self._refuse(path)
        super().set_label(path, key, value)

    def remove_label(self, path: Path, key: str) -> None:
        self._refuse(path)
        super().remove_label(path, key)

    def mkdir(self, path: Path) -> None:
        self._refuse(path)
        super().mkdir(path)

    def rmdir(self, path: Path) -> None:
        self._refuse(path)
        super().rmdir(path)

    def unlink(self, path: Path) -> None:
        self._refuse(path)
        super().unlink(path)

    def rename(self, old: Path, new: Path, *, replace: bool = True) -> None:
        self._refuse(old, new)
        super().rename(old, new, replace=replace)
