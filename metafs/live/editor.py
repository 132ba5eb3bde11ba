"""Changes to a live node, made as containerd's API calls (`metafs.editor.Editor`).

Each change is one call, as ctr makes it: labels (of images, containers, snapshots and
content) and fields by `Update` with a field mask
(`labels.<key>`, an empty value removing the label; `target` for an image's digest,
mediatype or size; `spec`, `image` or `snapshotkey` for a container), deletions by `Delete`.
Renaming an image is two calls (Create under the new name, Delete of the old one): not one
transaction, as with `ctr images tag` then `ctr images rm`. A container that has a task is
not deleted (EBUSY), as ctr refuses it: containerd's own service would delete it under the
task.

containerd keeps no image without a target: an image made by `mkdir` is a draft kept here, in
memory, its fields and labels changed here, and created in containerd (with its labels) when
its last target field is set. A container is made by `ctr containers create`, not here (EPERM).

After a call that changed something, the engine is told to look at containerd's txid at the
next read (`LiveEngine.stale`), so that the change shows at once. When containerd does not
answer, the error (EIO) names the socket, and one log line says so.
"""

from __future__ import annotations

import logging
import signal as signals
from collections.abc import Mapping
from typing import TypeVar

from google.protobuf import empty_pb2, field_mask_pb2
from google.protobuf.message import Message

from .. import validation
from ..codec import SPEC_TYPE_URL, now_ns
from ..containers import Container, spec_from_json
from ..errors import AlreadyExists, InvalidArgument, NotFound, NotPermitted
from ..images import Image
from .api import Busy, Containerd, Unavailable
from .engine import LiveEngine
from .proto import metadata_pb2, task_pb2, tasks_pb2

log = logging.getLogger("metafs.live")

R = TypeVar("R", bound=Message)

IMAGE_TARGET = {"digest": "digest", "mediatype": "media_type", "size": "size"}
CONTAINER_FIELDS = {"spec": "spec", "image": "image", "snapshotkey": "snapshot_key"}


def signal_number(text: str) -> int:
    """A signal given as ctr takes it: a number, or a name with or without `SIG` (KILL,
    SIGTERM, sigterm)."""
    value = text.strip()
    if value.isdigit():
        number = int(value)
        if not 0 < number < signals.NSIG:
            raise InvalidArgument(f"signal {value} is out of range (1-{signals.NSIG - 1})")
        return number
    name = value.upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    try:
        return int(signals.Signals[name])
    except KeyError:
        raise InvalidArgument(
            f'"{value}" is not a signal (a name like KILL, or a number)'
        ) from None


class ContainerdEditor:
    """The changes of one namespace of a node, through its containerd's socket. The client is
    made at the first change (a mount's daemon forks after it is set up)."""

    def __init__(
        self,
        address: str,
        namespace: str,
        engine: LiveEngine | None = None,
        *,
        log_unavailable: bool = False,
    ) -> None:
        self.address = address
        self.namespace = namespace
        self.engine = engine
        self.log_unavailable = log_unavailable  # a mount logs it; a command says it once
        self._client: Containerd | None = None
        self._drafts: dict[str, Image] = {}  # images made by mkdir, until their target is set

    def client(self) -> Containerd:
        if self._client is None:
            self._client = Containerd(self.address, self.namespace)
        return self._client

    def _call(self, method: str, request: Message, answer: type[R]) -> R:
        try:
            done = self.client().call(method, request, answer)
        except Unavailable as exc:
            if self.log_unavailable:
                log.warning("%s", exc)  # it names the socket
            raise
        if self.engine is not None:
            self.engine.stale()
        return done

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> ContainerdEditor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the Editor seam ------------------------------------------------------------------

    def set_labels(self, kind: str, name: str, changes: dict[str, str]) -> None:
        validation.labels(changes)  # as the store checks them, before containerd is asked
        draft = self._drafts.get(name) if kind == "images" else None
        if draft is not None:
            for key, value in changes.items():
                if value:
                    draft.labels[key] = value
                else:
                    draft.labels.pop(key, None)
            self._draft_changed(draft)
            return
        mask = field_mask_pb2.FieldMask(paths=[f"labels.{key}" for key in changes])
        if kind == "images":
            image = metadata_pb2.Image(name=name, labels=changes)
            self._update_image(image, mask)
        elif kind == "containers":
            container = metadata_pb2.Container(id=name, labels=changes)
            self._update_container(container, mask)
        elif kind == "snapshots":  # name: <snapshotter>/<key>
            snapshotter, _, key = name.partition("/")
            info = metadata_pb2.SnapshotInfo(name=key, labels=changes)
            request: Message = metadata_pb2.UpdateSnapshotRequest(
                snapshotter=snapshotter, info=info, update_mask=mask
            )
            self._call(
                "snapshots.v1.Snapshots/Update", request, metadata_pb2.UpdateSnapshotResponse
            )
        elif kind == "content":
            blob = metadata_pb2.ContentInfo(digest=name, labels=changes)
            request = metadata_pb2.UpdateContentRequest(info=blob, update_mask=mask)
            self._call("content.v1.Content/Update", request, metadata_pb2.UpdateContentResponse)
        else:
            raise InvalidArgument(f"{kind} have no labels to set here")

    def remove_label(self, kind: str, name: str, key: str) -> None:
        self.set_labels(kind, name, {key: ""})

    def rename_label(
        self, kind: str, name: str, old: str, new: str, value: str, *, replace: bool
    ) -> None:
        if old != new:
            self.set_labels(kind, name, {old: "", new: value})

    def edits_labels(self, kind: str) -> bool:
        return kind in ("snapshots", "content")

    def set_field(self, kind: str, name: str, field: str, value: str) -> None:
        if field == "digest":
            validation.digest(value)
        elif field == "size":
            validation.size(value)
        elif field == "spec":
            spec_from_json(value)
        elif field in ("image", "snapshotkey", "mediatype"):
            validation.text(value, field)
        typed = int(value) if field == "size" else value
        draft = self._drafts.get(name) if kind == "images" else None
        if draft is not None and field in IMAGE_TARGET:
            setattr(draft.target, IMAGE_TARGET[field], typed)
            self._draft_changed(draft)
        elif kind == "images" and field in IMAGE_TARGET:
            image = self.image(name)
            setattr(image.target, IMAGE_TARGET[field], typed)
            self._update_image(image, field_mask_pb2.FieldMask(paths=["target"]))
        elif kind == "containers" and field in CONTAINER_FIELDS:
            container = metadata_pb2.Container(id=name)
            if field == "spec":
                container.spec.type_url = SPEC_TYPE_URL
                container.spec.value = value.encode("utf-8", "surrogateescape")
            else:
                setattr(container, CONTAINER_FIELDS[field], value)
            self._update_container(container, field_mask_pb2.FieldMask(paths=[field]))
        else:
            raise InvalidArgument(f"{kind}: {field} is fixed in containerd")

    def create_draft(self, name: str) -> None:
        validation.text(name, "image name")
        if name in self._drafts:
            raise AlreadyExists(f"image {name!r}")
        now = now_ns()
        self._drafts[name] = Image(name, created_at=now, updated_at=now)

    def drafts(self) -> Mapping[str, Image]:
        return self._drafts

    def create_container(self, container: Container) -> None:
        raise NotPermitted("on a live node a container is made by `ctr containers create`")

    def delete(self, kind: str, name: str) -> None:
        empty = empty_pb2.Empty
        if kind == "images" and self._drafts.pop(name, None) is not None:
            return
        if kind == "images":
            request: Message = metadata_pb2.DeleteImageRequest(name=name)
            self._call("images.v1.Images/Delete", request, empty)
        elif kind == "containers":
            try:
                task = self.client().task(name)
            except NotFound:
                pass
            else:
                status = task_pb2.Status.Name(task.status).lower()
                raise Busy(f"container {name} has a task ({status}): delete the task first")
            request = metadata_pb2.DeleteContainerRequest(id=name)
            self._call("containers.v1.Containers/Delete", request, empty)
        elif kind == "leases":
            request = metadata_pb2.DeleteLeaseRequest(id=name)
            self._call("leases.v1.Leases/Delete", request, empty)
        else:
            raise InvalidArgument(f"{kind} are not deleted here")

    def rename(self, kind: str, old: str, new: str) -> None:
        if kind != "images":
            raise InvalidArgument(f"{kind} are not renamed")
        if old == new:
            return
        draft = self._drafts.get(old)
        if draft is not None:
            if new in self._drafts:
                raise AlreadyExists(f"image {new!r}")
            draft.name = new
            self._drafts[new] = self._drafts.pop(old)
            self._draft_changed(draft)
            return
        self.copy_image(old, new)
        self.delete("images", old)

    def create_image(self, image: Image) -> None:
        validation.labels(image.labels)
        target = image.target
        made = metadata_pb2.Image(
            name=image.name,
            labels=image.labels,
            target=metadata_pb2.Descriptor(
                media_type=target.media_type, digest=target.digest, size=target.size
            ),
        )
        self._call(
            "images.v1.Images/Create",
            metadata_pb2.CreateImageRequest(image=made),
            metadata_pb2.CreateImageResponse,
        )

    def copy_image(self, source: str, target: str) -> None:
        """A new image `target` with the target and labels of `source` (`ctr images tag`);
        AlreadyExists if there is one."""
        image = self.image(source)
        image.name = target
        image.ClearField("created_at")
        image.ClearField("updated_at")
        self._call(
            "images.v1.Images/Create",
            metadata_pb2.CreateImageRequest(image=image),
            metadata_pb2.CreateImageResponse,
        )

    # ---- tasks ----------------------------------------------------------------------------

    def kill(self, container_id: str, signal: int) -> None:
        request = tasks_pb2.KillRequest(container_id=container_id, signal=signal)
        self._call("tasks.v1.Tasks/Kill", request, empty_pb2.Empty)

    def delete_task(self, container_id: str) -> None:
        """Delete a stopped task; EBUSY while it is not stopped, as ctr refuses it (containerd
        would answer with an error of no kind)."""
        status = self.client().task(container_id).status
        if status != task_pb2.STOPPED:
            name = task_pb2.Status.Name(status).lower()
            raise Busy(f"task {container_id} must be stopped before deletion: {name}")
        request = tasks_pb2.DeleteTaskRequest(container_id=container_id)
        self._call("tasks.v1.Tasks/Delete", request, tasks_pb2.DeleteResponse)

    # ---- helpers --------------------------------------------------------------------------

    def _draft_changed(self, draft: Image) -> None:
        """A draft whose target is now complete goes to containerd."""
        draft.updated_at = now_ns()
        if not draft.target.missing():
            self.create_image(draft)
            del self._drafts[draft.name]

    def image(self, name: str) -> metadata_pb2.Image:
        answer = self.client().call(
            "images.v1.Images/Get",
            metadata_pb2.GetImageRequest(name=name),
            metadata_pb2.GetImageResponse,
        )
        return answer.image

    def _update_image(self, image: metadata_pb2.Image, mask: field_mask_pb2.FieldMask) -> None:
        request = metadata_pb2.UpdateImageRequest(image=image, update_mask=mask)
        self._call("images.v1.Images/Update", request, metadata_pb2.UpdateImageResponse)

    def _update_container(
        self, container: metadata_pb2.Container, mask: field_mask_pb2.FieldMask
    ) -> None:
        request = metadata_pb2.UpdateContainerRequest(container=container, update_mask=mask)
        self._call("containers.v1.Containers/Update", request, metadata_pb2.UpdateContainerResponse)
