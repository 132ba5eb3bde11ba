"""The writer seam: the changes the mount (and a live node's commands) make to a named object.

The mount's views validate a value, check it against the object as they read it, then hand
the change to an `Editor`: on a store, `metafs.store_editor.StoreEditor` (one transaction
each); on a live node, whose only writer of `meta.db` is containerd,
`metafs.live.editor.ContainerdEditor` (one call of containerd's API each). After the change
the views read the committed state. What one side cannot do, its editor refuses (EPERM, with
the reason), so the views do not ask which one they have.

`kind` is the collection's name: "images", "containers", "leases", "snapshots", "content".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .containers import Container
from .images import Image


class Editor(Protocol):
    """Changes to one namespace's objects, each complete or not made at all."""

    def set_labels(self, kind: str, name: str, changes: dict[str, str]) -> None:
        """Set labels of an object; an empty value removes that label."""

    def remove_label(self, kind: str, name: str, key: str) -> None:
        """Remove a label the caller saw (a store checks again: NotFound if it is gone)."""

    def rename_label(
        self, kind: str, name: str, old: str, new: str, value: str, *, replace: bool
    ) -> None:
        """Move label `old`, seen with `value`, to key `new`. A store reads both again in its
        transaction (NotFound without `old`, AlreadyExists for an existing `new` unless
        `replace`); containerd, which cannot be asked both in one call, is given `value`."""

    def edits_labels(self, kind: str) -> bool:
        """Whether the labels of `kind`'s records (snapshots, content) are changed here."""

    def set_field(self, kind: str, name: str, field: str, value: str) -> None:
        """Set one field (an image's digest, mediatype or size; a container's spec, image,
        snapshotkey, or runtime and snapshotter while empty), already validated."""

    def create_draft(self, name: str) -> None:
        """Start an image whose target is still to be written (AlreadyExists if the name is
        taken); it becomes an image when its digest, mediatype and size are all set."""

    def drafts(self) -> Mapping[str, Image]:
        """The drafts kept outside the store, by name: a live node's (containerd keeps no
        image without a target), in memory until complete. A store's are stored objects."""

    def create_container(self, container: Container) -> None:
        """Create a container (EPERM on a live node: `ctr containers create` makes them)."""

    def delete(self, kind: str, name: str) -> None:
        """Delete an image, draft, container (EBUSY with a task on a live node) or lease
        (EPERM in a store: its leases are read-only)."""

    def rename(self, kind: str, old: str, new: str) -> None:
        """Rename an image or draft (on a live node: create the new name, delete the old)."""
