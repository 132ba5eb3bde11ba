"""Verify a whole store: every key decodes, and every object of every namespace reads back and
passes the validation a write would apply (`metafs check`).

A store copied while it was written (a plain `cp` of a live LMDB file), damaged on disk, or
written by something else than containerd or metafs shows here, rather than as an object
that some command later fails to read or silently misses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from . import containers, images, validation
from .containers import Containers
from .content import Content
from .dump import dump_text
from .errors import CorruptStore, MetafsError, describe
from .images import Images
from .leases import Leases
from .namespaces import Namespaces
from .snapshots import Snapshots
from .store import Txn

T = TypeVar("T")


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # objects checked, by kind

    def summary(self) -> str:
        kinds = ("namespace", "image", "container", "snapshot", "blob", "ingest", "lease")
        parts = [f"{self.counts[k]} {k}{'' if self.counts[k] == 1 else 's'}" for k in kinds]
        return ", ".join(parts)


class _Null:
    def write(self, text: str) -> int:
        return len(text)


def check(tx: Txn) -> Report:
    """Every problem of the store as one line each (an empty list: none)."""
    report = Report()
    try:
        dump_text(tx.root(), _Null())  # type: ignore[arg-type]
    except MetafsError as exc:
        report.problems.append(f"the bucket tree does not decode: {exc}")
        return report
    try:
        namespaces = list(Namespaces(tx).list())
    except MetafsError as exc:
        report.problems.append(f"the namespaces do not read: {exc}")
        return report
    for ns in namespaces:
        report.counts["namespace"] += 1
        _check_namespace(tx, ns, report)
    return report


def _check_namespace(tx: Txn, ns: str, report: Report) -> None:
    where = describe("namespace", ns)

    def each(kind: str, names: Callable[[], Iterable[T]], verify: Callable[[T], object]) -> None:
        try:
            for name in names():
                report.counts[kind] += 1
                try:
                    verify(name)
                except MetafsError as exc:
                    report.problems.append(f"{where}: {describe(kind, str(name))}: {exc}")
        except MetafsError as exc:
            report.problems.append(f"{where}: the {kind}s do not read: {exc}")

    try:
        validation.identifier(ns, "namespace")
        validation.labels(Namespaces(tx).labels(ns))
    except MetafsError as exc:
        report.problems.append(f"{where}: {exc}")
    image_kind, container_kind = Images(tx, ns), Containers(tx, ns)
    each("image", image_kind.names, lambda name: images.validate(image_kind.get(name)))
    each(
        "container",
        container_kind.ids,
        lambda cid: containers.validate(container_kind.get(cid)),
    )
    snapshots = Snapshots(tx, ns)
    each(
        "snapshot",
        lambda: _snapshot_ids(snapshots),
        lambda ident: _check_snapshot(snapshots, ident),
    )
    content = Content(tx, ns)
    each("blob", content.digests, lambda digest: validation.labels(content.get(digest).labels))
    each("ingest", lambda: [i.ref for i in content.ingests()], content.ingest)
    leases = Leases(tx, ns)
    each("lease", leases.ids, lambda lease_id: _check_lease(leases, lease_id))


def _snapshot_ids(snapshots: Snapshots) -> Iterator[str]:
    for snapshotter in snapshots.snapshotters():
        for key in snapshots.keys(snapshotter):
            yield f"{snapshotter}/{key}"


def _check_snapshot(snapshots: Snapshots, ident: str) -> None:
    snapshotter, _slash, key = ident.partition("/")
    snapshot = snapshots.get(snapshotter, key)
    validation.labels(snapshot.labels)
    if snapshot.parent and not snapshots.exists(snapshotter, snapshot.parent):
        raise CorruptStore(f'its parent "{snapshot.parent}" does not exist')


def _check_lease(leases: Leases, lease_id: str) -> None:
    lease = leases.get(lease_id)
    validation.labels(lease.labels)
    for resource in lease.resources:
        resource.path()
