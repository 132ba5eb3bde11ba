"""The mount's changes to a store (`metafs.editor.Editor`), each one transaction.

Each change runs in `Store.update`, which runs it again when another process committed in
between (etcd): the function given does nothing but read and change the transaction, and the
checks that depend on the object (a label that must be there, a name that must be free) are
made in it, on what the transaction reads.

What a store's mount does not change: the labels of snapshots and content, and leases (its
records are read-only; `metafs leases rm` deletes a lease).
"""

from __future__ import annotations

from collections.abc import Mapping

from . import validation
from .containers import Container, Containers, Runtime, spec_from_json
from .errors import AlreadyExists, InvalidArgument, NotFound, NotPermitted
from .images import Image, Images
from .store import Store, Txn

NO_DRAFTS: Mapping[str, Image] = {}


class StoreEditor:
    """The changes of one namespace of a store."""

    def __init__(self, store: Store, namespace: str) -> None:
        self.store = store
        self.namespace = namespace

    def set_labels(self, kind: str, name: str, changes: dict[str, str]) -> None:
        def change(tx: Txn) -> None:
            objects = self._objects(tx, kind)
            for key, value in changes.items():
                objects.set_label(name, key, value)

        self.store.update(change)

    def remove_label(self, kind: str, name: str, key: str) -> None:
        def remove(tx: Txn) -> None:
            if key not in self._labels(tx, kind, name):
                raise NotFound(f"label {key!r}")
            self._objects(tx, kind).set_label(name, key, "")

        self.store.update(remove)

    def rename_label(
        self, kind: str, name: str, old: str, new: str, value: str, *, replace: bool
    ) -> None:
        def move(tx: Txn) -> None:
            labels = self._labels(tx, kind, name)
            if old not in labels:
                raise NotFound(f"label {old!r}")
            if new in labels and not replace:
                raise AlreadyExists(f"label {new!r}")
            if old != new:
                moved = {k: v for k, v in labels.items() if k != old}
                moved[new] = labels[old]
                self._objects(tx, kind).set_labels(name, moved)

        self.store.update(move)

    def edits_labels(self, kind: str) -> bool:
        return False

    def set_field(self, kind: str, name: str, field: str, value: str) -> None:
        if kind == "images":
            typed: str | int = validation.size(value) if field == "size" else value
            self.store.update(
                lambda tx: Images(tx, self.namespace).set_target_field(name, field, typed)
            )
            return
        if field == "spec":
            change = Container(name, spec=spec_from_json(value))
        elif field == "image":
            change = Container(name, image=value)
        elif field == "snapshotkey":
            change = Container(name, snapshot_key=value)
        elif field == "snapshotter":
            change = Container(name, snapshotter=value)
        else:
            change = Container(name, runtime=Runtime(value))
        self.store.update(lambda tx: Containers(tx, self.namespace).update(change, field))

    def create_draft(self, name: str) -> None:
        self.store.update(lambda tx: Images(tx, self.namespace).create_draft(name))

    def drafts(self) -> Mapping[str, Image]:
        return NO_DRAFTS

    def create_container(self, container: Container) -> None:
        self.store.update(lambda tx: Containers(tx, self.namespace).create(container))

    def delete(self, kind: str, name: str) -> None:
        def remove(tx: Txn) -> None:
            if kind == "containers":
                Containers(tx, self.namespace).delete(name)
                return
            images = Images(tx, self.namespace)
            if images.exists(name):
                images.delete(name)
            else:
                images.delete_draft(name)

        if kind == "leases":
            raise NotPermitted(f"lease {name}: a store's leases are read-only here")
        self.store.update(remove)

    def rename(self, kind: str, old: str, new: str) -> None:
        if kind != "images":
            raise InvalidArgument(f"{kind} are not renamed")
        self.store.update(lambda tx: Images(tx, self.namespace).rename(old, new))

    def _objects(self, tx: Txn, kind: str) -> Images | Containers:
        if kind == "images":
            return Images(tx, self.namespace)
        if kind == "containers":
            return Containers(tx, self.namespace)
        raise NotPermitted(f"the labels of {kind} are read-only in a store's mount")

    def _labels(self, tx: Txn, kind: str, name: str) -> dict[str, str]:
        """The labels of an image, draft or container; empty if there is none."""
        if kind == "images":
            images = Images(tx, self.namespace)
            if images.exists(name):
                return images.get(name).labels
            return images.draft(name).labels if images.is_draft(name) else {}
        containers = Containers(tx, self.namespace)
        return containers.get(name).labels if containers.exists(name) else {}
