"""What snapshots/, content/ and leases/ share: read-only directories of resource records.

```
<collection>/.../<record>/<field>        a field's value and one newline (unset: the newline)
<collection>/.../<record>/<list>         one name per line, nothing when empty
<collection>/.../<record>/labels/<key>
<collection>/.../<record>/why            what `metafs gc explain` prints
```

Directories whose entries are stored names (snapshotters, keys, digests, lease ids, label
keys) escape them as `names.py` does, like images/. Every change here is refused (EPERM,
EROFS on a read-only mount).

Records are read once per store generation, and one mark pass of the namespace
(`gc.Explainer`) answers every `why` of that generation, in all three collections (they
share one `Records`). `why` also depends on the clock (a lease or an ingest that expires
releases what it held), so everything read is also dropped when the next expiry in the
namespace passes. The files whose text follows other records (`why`, `children`, a lease's
lists) have as mtime the moment the mount read them, so that the kernel drops a cached page
whose text changed but not its length.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ... import buckets as B
from ... import gc
from ...codec import format_time, now_ns
from ...content import Content
from ...editor import Editor
from ...errors import InvalidArgument, NotFound
from ...leases import Leases
from ...store import Txn
from ..fields import Field
from ..names import LongName
from ..view import LABELS, Context, NotPermitted, Path, Stat, View

WHY = "why"
CACHED_RECORDS = 256
_NEVER = 1 << 63


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


Loader = Callable[[Txn, Path], "Record | None"]


class Records:
    """The records of the namespace read at the store's current generation (one per mount,
    `Context.shared`), and the explainer of their `why`."""

    def __init__(self, context: Context) -> None:
        self.store = context.store
        self.namespace = context.namespace
        self._records: OrderedDict[Path, Record | None] = OrderedDict()
        self._generation = -1
        self.read_at = 0  # Unix ns: when the store was found at this generation
        self._valid_until = 0  # Unix ns: the next lease or ingest expiry after that
        self._explainer: gc.Explainer | None = None  # for every why, made at the first

    def record(self, path: Path, load: Loader) -> Record | None:
        """The record at a record directory's path, as the store holds it now (cached)."""
        self._refresh()
        if path in self._records:
            self._records.move_to_end(path)
            return self._records[path]
        generation = self._generation
        with self.store.read() as tx:
            record = load(tx, path)
        if self._generation == generation:  # not if a newer one came meanwhile (objects.py)
            self._records[path] = record
            if len(self._records) > CACHED_RECORDS:
                self._records.popitem(last=False)
        return record

    def why(self, record: Record) -> bytes:
        if record.why is None:
            with self.store.read() as tx:
                if self._explainer is None:
                    self._explainer = gc.Explainer(tx, self.namespace, now=self.read_at)
                explanation = self._explainer.explain(tx, record.kind, record.ident)
            record.why = explanation.text().encode()
        return record.why

    def _refresh(self) -> None:
        """Forget what was read if the store changed or an expiry has passed since."""
        generation, now = self.store.generation(), now_ns()
        if generation == self._generation and now < self._valid_until:
            return
        with self.store.read() as tx:  # first: other requests may be answered meanwhile
            valid_until = self._next_expiry(tx, now)
        self._records.clear()
        self._explainer = None
        self._generation, self.read_at, self._valid_until = generation, now, valid_until

    def _next_expiry(self, tx: Txn, now: int) -> int:
        """The first moment after `now` at which a lease or an ingest of the namespace expires
        (gc: expired once the clock is past the expiry)."""
        expiries = [lease.expires_at for lease in Leases(tx, self.namespace).list()]
        expiries += [ingest.expires_at for ingest in Content(tx, self.namespace).ingests()]
        return min((t + 1 for t in expiries if t is not None and t >= now), default=_NEVER)


class RecordView(View):
    """A read-only collection of records, each read by `load` and listed by `names`. The
    labels of a collection with a `kind` are written through an editor that `edits_labels`
    of it (a live node's)."""

    kind = ""  # as the editor names the collection; "": labels read-only everywhere

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.store = context.store
        self.namespace = context.namespace
        self.editor = context.editor
        self.records = context.shared(Records)

    # ---- what a kind of record is -----------------------------------------------------

    def load(self, tx: Txn, path: Path) -> Record | None:
        """The record whose directory is at `path` (of length `depth`), None if none."""
        raise NotImplementedError

    def names(self, tx: Txn, path: Path, start: str | None) -> Iterable[str]:
        """The stored names listed in directory `path` (shorter than `depth`), bytewise
        ordered, from `start` on."""
        raise NotImplementedError

    def group_exists(self, path: Path) -> bool:
        """Whether a directory between the top and the records (`GROUP`) exists."""
        return False

    # ---- labels, where the editor writes them (a live node's) ------------------------------

    def _label_editor(self, path: Path) -> Editor:
        """The editor, if the labels of `path`'s record may be written; else the refusal."""
        if not self.kind or len(path) < self.depth or not self.editor.edits_labels(self.kind):
            raise self.refuse(path)
        self.check_writable()
        return self.editor

    def _ident(self, path: Path) -> str:
        return "/".join(path[1 : self.depth])  # <snapshotter>/<key>, a digest

    def _is_label(self, path: Path) -> bool:
        return len(path) == self.depth + 2 and path[self.depth] == LABELS

    def writable_field(self, path: Path) -> Field:
        self._label_editor(path)
        if not self._is_label(path):
            raise NotPermitted(f"{'/'.join(path)} is read-only")
        return Field("label", "label", label_key=path[-1])

    def commit(self, path: Path, value: str) -> None:
        self.writable_field(path)
        self._label_editor(path).set_labels(self.kind, self._ident(path), {path[-1]: value})

    def creatable(self, path: Path) -> bool:
        self.check_writable()
        editable = bool(self.kind) and self.editor.edits_labels(self.kind)
        return editable and len(path) == self.depth + 1 and path[-1] == LABELS

    def set_label(self, path: Path, key: str, value: str) -> None:
        editor = self._label_editor(path)
        if not key:
            raise InvalidArgument("label key must not be empty")
        editor.set_labels(self.kind, self._ident(path), {key: value})

    def remove_label(self, path: Path, key: str) -> None:
        editor = self._label_editor(path)
        record = self.records.record(path[: self.depth], self.load)
        if record is None or key not in record.labels:
            raise NotFound(f"label {key!r}")
        editor.remove_label(self.kind, self._ident(path), key)

    def unlink(self, path: Path) -> None:
        if not self._is_label(path):
            raise self.refuse(path)
        self.remove_label(path[: self.depth], path[-1])

    # ---- reading ------------------------------------------------------------------------

    def stat(self, path: Path) -> Stat | None:
        depth = self.depth
        if len(path) < depth:  # not counted: a collection may hold 100k records
            if len(path) > 1 and not self.group_exists(path):
                return None
            return Stat(True, mtime=self.started, nlink=1)
        record = self.records.record(path[:depth], self.load)
        if record is None:
            return None
        sub = path[depth:]
        if not sub or sub == (LABELS,):
            return Stat(True, mtime=record.mtime, ctime=record.mtime, nlink=2 if sub else 3)
        text = self._text(record, sub)
        if text is None:
            return None
        mtime = record.mtime if sub[0] in record.fields or sub[0] == LABELS else record.read_at
        return Stat(False, len(text), mtime=mtime, ctime=mtime)

    def entries(self, path: Path, after: str | None = None) -> Iterator[tuple[str, Stat | None]]:
        depth = self.depth
        if len(path) < depth:
            with self.store.read() as tx:
                for name in self.names(tx, path, after):
                    if name != after:
                        yield name, None
            return
        record = self.records.record(path[:depth], self.load)
        if record is None:
            raise NotFound("/".join(path))
        if len(path) == depth:
            names = record.names()
            names = names[names.index(after) + 1 :] if after in names else names
        else:
            names = bytewise_after(record.labels, after)
        for name in names:
            yield name, self.stat((*path, name))

    def read(self, path: Path) -> bytes:
        depth = self.depth
        record = self.records.record(path[:depth], self.load) if len(path) > depth else None
        text = self._text(record, path[depth:]) if record is not None else None
        if text is None:
            raise NotFound("/".join(path))
        return text

    def resolve(self, path: Path, long: LongName) -> str | None:
        depth = self.depth
        if len(path) < depth:
            with self.store.read() as tx:
                for name in self.names(tx, path, B.dec(long.prefix)):
                    raw = B.enc(name)
                    if long.matches(raw):
                        return name
                    if not raw.startswith(long.prefix):
                        return None
            return None
        record = self.records.record(path[:depth], self.load)
        labels = record.labels if record is not None else {}
        return next((key for key in labels if long.matches(B.enc(key))), None)

    def _text(self, record: Record, sub: Path) -> bytes | None:
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
            return self.records.why(record)
        return None


def times(created: int, updated: int) -> dict[str, str]:
    return {"createdat": format_time(created), "updatedat": format_time(updated)}


def bytewise_after(names: Iterable[str], after: str | None) -> list[str]:
    """`names` in bolt's (bytewise) order, those after `after`."""
    ordered = sorted(names, key=B.enc)
    if after is None:
        return ordered
    return [name for name in ordered if B.enc(name) > B.enc(after)]
