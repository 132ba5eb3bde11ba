"""The writer seam: the changes the mount and the command line make to a named object.

On a store, the views and the commands change objects in their own transactions (the object
kinds in `images.py`, `containers.py`, `leases.py`). On a live node the only writer of
`meta.db` is containerd, so there the same changes go to an `Editor` instead: one call of
containerd's API each (`metafs.live.editor.ContainerdEditor`). The views and the commands
validate the value first, exactly as on a store, then hand it over; after the call they read
containerd's committed state.

`kind` is the collection's name: "images", "containers", "leases".
"""

from __future__ import annotations

from typing import Protocol

from .images import Image


class Editor(Protocol):
    """Changes to one namespace's objects, each complete or not made at all."""

    def set_labels(self, kind: str, name: str, changes: dict[str, str]) -> None:
        """Set labels of an object; an empty value removes that label."""

    def set_field(self, kind: str, name: str, field: str, value: str) -> None:
        """Set one field (an image's digest, mediatype or size; a container's spec, image or
        snapshotkey), already validated."""

    def create_image(self, image: Image) -> None:
        """Create a complete image (its target set), with its labels."""

    def delete(self, kind: str, name: str) -> None:
        """Delete an object (EBUSY for a container that has a task)."""

    def rename(self, kind: str, old: str, new: str) -> None:
        """Rename an image (on a live node: create the new name, delete the old one)."""
