"""Import a containerd bolt file (`meta.db`) into the store, unchanged, in one transaction.

What is replaced: importing a whole file replaces, in the store, every top-level bucket the
file has (containerd's files have just `v1`); top-level buckets the file lacks (such as
metafs's own drafts) are kept. Importing one namespace replaces only `v1/<namespace>`, and
copies the file's `v1/version` only if the store has none. Replacing rather than merging is what
someone debugging a captured `meta.db` expects: afterwards the store holds exactly what
containerd had, with no leftovers of an earlier import or edit.

Nothing changes unless everything succeeds: the part of the file to import is walked and
checked in full first (so a truncated or corrupt file is refused before the store is touched),
and the copy runs in a single write transaction, which aborts if anything still goes wrong.
On etcd that transaction is one etcd transaction too (docs/etcd.md: the limits it needs); if
another writer committed while it ran, nothing is applied and the copy runs again, whole, on the
store as it then is (`Store.update`): it replaces what it copies, and keeps nothing it read.
After `ATTEMPTS` runs that all met another writer's commit it raises `Conflict`.
To import the file of a running containerd, see the note in `metafs.bolt` on reading live files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .bolt import BoltFile, BoltFormatError
from .bolt import Bucket as BoltBucket
from .errors import NotFound
from .store import Bucket, Store, Txn

__all__ = ["ImportPlan", "ImportProgress", "checked_import", "import_bolt"]

REPORT_EVERY = 512  # entries between two progress reports
# runs of the copy before its Conflict reaches the caller (`Store.update` makes 64 for small
# changes): a run of a big import takes seconds on etcd (5k images, 45k keys: ~2 s) and any
# commit under the prefix meanwhile refuses it, so a store written more often than that never
# lets it through (64 runs against a writer every 100 ms: 99 s, then the error); 4 pass a
# store written now and then, and tell within seconds (8 s there) that one is too busy
ATTEMPTS = 4


@dataclass(frozen=True)
class ImportProgress:
    """Where an import is. `phase` is "checking" (reading the file, totals still growing),
    then "copying" (totals known), then "done"."""

    phase: str
    entries: int  # buckets and keys so far
    bytes: int  # key and value bytes so far (bucket names count as keys)
    total_entries: int
    total_bytes: int


ProgressCallback = Callable[[ImportProgress], None]


def _walk(
    source: BoltBucket, where: tuple[bytes, ...]
) -> Iterator[tuple[tuple[bytes, ...], bytes, bytes | None]]:
    """(path of the bucket holding it, key, value or None for a bucket) of everything under
    `source`, parents before children, without recursion."""
    stack = [(source, where)]
    while stack:
        bucket, path = stack.pop()
        children = []
        for key, value in bucket.items():
            yield path, key, value
            if value is None:
                child = bucket.bucket(key)
                if child is None:  # items() and bucket() disagree: the reader rules this out
                    raise BoltFormatError(
                        f"bolt file {source.file.path}: bucket {key!r} listed but not found"
                    )
                children.append((child, (*path, key)))
        stack.extend(reversed(children))


class _Counter:
    def __init__(self, report: ProgressCallback, phase: str, entries: int = 0, size: int = 0):
        self.report = report
        self.phase = phase
        self.total_entries = entries
        self.total_bytes = size
        self.entries = 0
        self.bytes = 0

    def add(self, key: bytes, value: bytes | None) -> None:
        self.entries += 1
        self.bytes += len(key) + (len(value) if value is not None else 0)
        if self.entries % REPORT_EVERY == 0:
            self.report(self.state())

    def state(self, phase: str | None = None) -> ImportProgress:
        if self.phase == "checking":  # the totals are what has been seen so far
            self.total_entries, self.total_bytes = self.entries, self.bytes
        return ImportProgress(
            phase or self.phase, self.entries, self.bytes, self.total_entries, self.total_bytes
        )


def import_bolt(
    store: Store,
    path: str | os.PathLike[str],
    namespace: str | None = None,
    progress: ProgressCallback | None = None,
) -> ImportProgress:
    """Copy the bolt file at `path` (or only its namespace `namespace`) into `store`.

    Raises `BoltFormatError` for a file that is not bolt, truncated or corrupt, `NotFound` when
    `namespace` is not in the file; the store is then unchanged. Returns the final progress.
    """
    with checked_import(path, namespace, progress) as plan:
        return plan.copy_into(store)


@contextmanager
def checked_import(
    path: str | os.PathLike[str],
    namespace: str | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[ImportPlan]:
    """The first half of `import_bolt`, before any store is opened: the file read and checked
    in full (the same errors), with the file kept open for the copy. The command line opens,
    and on first use creates, the store only after this: a missing or broken file must not
    leave an empty store behind."""
    report = progress or (lambda _state: None)
    with BoltFile(path) as db:
        root = db.root()
        # (path in the store of the bucket to replace, the bolt bucket holding its contents)
        sources: list[tuple[tuple[bytes, ...], BoltBucket]] = []
        version: bytes | None = None  # v1/version, to copy when importing one namespace
        if namespace is None:
            for key, value in root.items():
                if value is not None:
                    raise BoltFormatError(f"bolt file {db.path}: plain key {key!r} at the root")
                child = root.bucket(key)
                assert child is not None
                sources.append(((key,), child))
        else:
            name = namespace.encode()
            v1 = root.bucket(b"v1")
            found = v1.bucket(name) if v1 is not None else None
            if v1 is None or found is None:
                raise NotFound(f'namespace "{namespace}" in bolt file {db.path}')
            sources.append(((b"v1", name), found))
            version = v1.get(b"version")

        counter = _Counter(report, "checking")
        for where, source in sources:
            counter.add(where[-1], None)
            for holder, key, value in _walk(source, where):
                if not key:
                    raise BoltFormatError(
                        f"bolt file {db.path}: empty key in {b'/'.join(holder)!r}"
                    )
                counter.add(key, value)
        yield ImportPlan(sources, version, counter.state(), report)


class ImportPlan:
    """What a checked file will copy: the buckets to replace and their totals."""

    def __init__(
        self,
        sources: list[tuple[tuple[bytes, ...], BoltBucket]],
        version: bytes | None,
        totals: ImportProgress,
        report: ProgressCallback,
    ) -> None:
        self.sources = sources
        self.version = version
        self.totals = totals
        self.report = report

    def copy_into(self, store: Store) -> ImportProgress:
        """The copy, in one transaction: any error aborts it and leaves the store as it was.
        It keeps nothing it read but whether buckets exist, so a commit that met another
        writer's (etcd) is run again whole on the store as it is then (`Store.update`)."""
        counter = store.update(self._copy, attempts=ATTEMPTS)
        final = counter.state("done")
        self.report(final)
        return final

    def _copy(self, tx: Txn) -> _Counter:
        counter = _Counter(self.report, "copying", self.totals.entries, self.totals.bytes)
        self.report(counter.state())
        for where, source in self.sources:
            parent = tx.create_buckets(*where[:-1])
            if parent.bucket(where[-1]) is not None:
                parent.delete_bucket(where[-1])
            if self.version is not None and parent.get(b"version") is None:
                parent.put(b"version", self.version)
            targets: dict[tuple[bytes, ...], Bucket] = {where: parent.create_bucket(where[-1])}
            counter.add(where[-1], None)
            for holder, key, value in _walk(source, where):
                if value is None:
                    targets[(*holder, key)] = targets[holder].create_bucket(key)
                else:
                    targets[holder].put(key, value)
                counter.add(key, value)
        return counter
