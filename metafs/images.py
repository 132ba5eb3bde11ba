"""Images: a name mapped to a target descriptor plus labels (containerd's images.go).

Drafts: an image made from a shell (`mkdir images/NAME`) has no target yet, and containerd
rejects an image without a valid one. Such an image is kept as a *draft* under
`metafs/drafts/<namespace>/<name>` — outside containerd's `v1` tree, so nothing that reads the
database as containerd does ever sees an invalid image — and becomes a real image in the
transaction that completes its target (digest, media type and size all valid).
"""

from __future__ import annotations

from . import buckets as B
from . import validation
from .codec import decode_time, now_ns, put_varint, read_varint
from .errors import AlreadyExists, InvalidArgument, NotFound, describe
from .records import Record
from .store import Bucket, Txn

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

TARGET_FIELDS = ("digest", "mediatype", "size")
_INT64_MAX = (1 << 63) - 1


class Descriptor(Record):
    __slots__ = ("media_type", "digest", "size", "annotations")

    def __init__(
        self,
        media_type: str = "",
        digest: str = "",
        size: int = 0,
        annotations: dict[str, str] | None = None,
    ) -> None:
        self.media_type = media_type
        self.digest = digest
        self.size = size
        self.annotations: dict[str, str] = {} if annotations is None else annotations

    def missing(self) -> list[str]:
        """The target fields not yet set (for drafts)."""
        have = {"digest": self.digest, "mediatype": self.media_type, "size": self.size}
        return [name for name in TARGET_FIELDS if not have[name]]


class Image(Record):
    __slots__ = ("name", "target", "labels", "created_at", "updated_at")

    def __init__(
        self,
        name: str,
        target: Descriptor | None = None,
        labels: dict[str, str] | None = None,
        created_at: int = 0,  # Unix nanoseconds
        updated_at: int = 0,
    ) -> None:
        self.name = name
        self.target = Descriptor() if target is None else target
        self.labels: dict[str, str] = {} if labels is None else labels
        self.created_at = created_at
        self.updated_at = updated_at


def validate(image: Image) -> None:
    """containerd's validateImage. Annotations are not size-checked (containerd does not)."""
    if not image.name:
        raise InvalidArgument("image name must not be empty")
    validation.text(image.name, "image name")
    validation.labels(image.labels)
    for key, value in image.target.annotations.items():
        if not key:
            raise InvalidArgument("annotation key must not be empty")
        validation.text(key, "annotation key")
        validation.text(value, "annotation value")
    validate_target_field("digest", image.target.digest)
    validate_target_field("mediatype", image.target.media_type)
    validate_target_field("size", image.target.size)


def validate_target_field(name: str, value: str | int) -> None:
    if name == "digest":
        validation.digest(str(value))
    elif name == "mediatype":
        if not value:
            raise InvalidArgument("image target media type must not be empty")
        validation.text(str(value), "image target media type")
    elif name == "size":
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InvalidArgument(f"image target size must be greater than zero, not {value}")
        if value > _INT64_MAX:
            raise InvalidArgument(f"image target size {value} does not fit in 64 bits")
    else:
        raise InvalidArgument(f'unknown target field "{name}"')


class Images:
    """The images of one namespace, inside a transaction."""

    def __init__(self, tx: Txn, namespace: str) -> None:
        self.tx = tx
        self.namespace = namespace

    def _describe(self, name: str) -> str:
        return describe("image", name, self.namespace)

    def _validate(self, image: Image) -> None:
        with validation.naming(self._describe(image.name)):
            validate(image)

    def _images(self) -> Bucket | None:
        return self.tx.bucket(B.V1, B.enc(self.namespace), B.IMAGES)

    def _drafts(self) -> Bucket | None:
        return self.tx.bucket(B.METAFS, B.DRAFTS, B.enc(self.namespace))

    def _bucket(self, name: str) -> Bucket:
        # one lookup: an image's bucket exists only inside an existing images bucket
        bucket = self.tx.bucket(B.V1, B.enc(self.namespace), B.IMAGES, B.enc(name))
        if bucket is None:
            raise NotFound(self._describe(name))
        return bucket

    # -- reading --

    def get(self, name: str) -> Image:
        entries = self.tx.read_bucket(B.V1, B.enc(self.namespace), B.IMAGES, B.enc(name))
        if entries is None:
            raise NotFound(self._describe(name))
        return _decode(name, entries)

    def exists(self, name: str) -> bool:
        images = self._images()
        return bool(name) and images is not None and images.bucket(B.enc(name)) is not None

    def names(self, start: str | None = None) -> Iterator[str]:
        """Image names in bolt's order, from `start` (inclusive) on."""
        images = self._images()
        if images is not None:
            for key, value in images.items(B.enc(start) if start else None):
                if value is None:
                    yield B.dec(key)

    def list(self) -> Iterator[Image]:
        images = self._images()
        if images is None:
            return
        for key, entries in images.walk_buckets():
            yield _decode(B.dec(key), entries)

    # -- writing, with containerd's semantics --

    def create(self, image: Image) -> Image:
        self._validate(image)
        images = B.create_namespace(self.tx, self.namespace).create_bucket_if_not_exists(B.IMAGES)
        if images.bucket(B.enc(image.name)) is not None or self.is_draft(image.name):
            raise AlreadyExists(self._describe(image.name))
        now = now_ns()
        image = image.replace(created_at=now, updated_at=now)
        _write(images.create_bucket(B.enc(image.name)), image)
        return image

    def update(self, image: Image, *fieldpaths: str) -> Image:
        """Update the named fields (`labels`, `labels.<key>`, `annotations`,
        `annotations.<key>`, `target`), or, with no field paths, the whole image."""
        if not image.name:
            raise InvalidArgument("image name is required for update")
        bucket = self._bucket(image.name)
        current = _read(image.name, bucket)
        if fieldpaths:
            updated = current.replace(labels=dict(current.labels))
            updated.target = current.target.replace(annotations=dict(current.target.annotations))
            for path in fieldpaths:
                if path.startswith("labels."):
                    key = path[len("labels.") :]
                    updated.labels[key] = image.labels.get(key, "")
                elif path.startswith("annotations."):
                    key = path[len("annotations.") :]
                    updated.target.annotations[key] = image.target.annotations.get(key, "")
                elif path == "labels":
                    updated.labels = dict(image.labels)
                elif path == "annotations":
                    updated.target.annotations = dict(image.target.annotations)
                elif path == "target":  # the whole descriptor, annotations too, as containerd
                    updated.target = image.target.replace(
                        annotations=dict(image.target.annotations)
                    )
                else:
                    raise InvalidArgument(
                        f'cannot update "{path}" field on {self._describe(image.name)}'
                    )
        else:
            updated = image.replace()
        self._validate(updated)
        updated.created_at = current.created_at
        updated.updated_at = now_ns()
        keys = B.label_keys(fieldpaths)
        if keys is not None:  # write just those labels and the time
            B.write_some_labels(bucket, updated.labels, keys, updated.updated_at)
            return updated
        _write(bucket, updated)
        return _read(image.name, bucket)

    def put(self, name: str, target: Descriptor) -> Image:
        """Create the image, or replace the target (annotations included) of the existing one
        (an upsert); a draft of that name gets the target and becomes a real image."""
        if self.exists(name):
            return self.update(Image(name, target), "target")
        if self.is_draft(name):
            return self._promote(self.draft(name).replace(target=target))
        return self.create(Image(name, target))

    def set_label(self, name: str, key: str, value: str) -> Image:
        """Set one label of an image or draft; an empty value removes it."""
        if not key:
            raise InvalidArgument(f"{self._describe(name)}: label key must not be empty")
        if self.is_draft(name):
            draft = self.draft(name)
            draft.labels[key] = value
            return self._write_draft(draft.replace(updated_at=now_ns()))
        return self.update(Image(name, labels={key: value}), f"labels.{key}")

    def set_labels(self, name: str, labels: dict[str, str]) -> Image:
        """Replace all labels of an image or draft."""
        if self.is_draft(name):
            draft = self.draft(name)
            draft.labels = dict(labels)
            return self._write_draft(draft.replace(updated_at=now_ns()))
        return self.update(Image(name, labels=labels), "labels")

    def delete(self, name: str) -> None:
        """Delete the image; what only it kept is collected when the transaction commits."""
        images = self._images()
        if images is None or images.bucket(B.enc(name)) is None:
            raise NotFound(self._describe(name))
        images.delete_bucket(B.enc(name))
        self.tx.mark_dirty(self.namespace)

    def rename(self, old: str, new: str) -> Image:
        """Move an image (or draft) to a new name in one step; created time is kept."""
        with validation.naming(self._describe(old)):
            if not new:
                raise InvalidArgument("the new name must not be empty")
            validation.text(new, "the new name")
        if self.exists(new) or self.is_draft(new):
            raise AlreadyExists(self._describe(new))
        if self.is_draft(old):
            draft = self.draft(old).replace(name=new, updated_at=now_ns())
            self.delete_draft(old)
            return self._write_draft(draft)
        image = self.get(old).replace(name=new, updated_at=now_ns())
        self.delete(old)
        images = self._images()
        assert images is not None
        _write(images.create_bucket(B.enc(new)), image)
        return image

    # -- drafts --

    def is_draft(self, name: str) -> bool:
        drafts = self._drafts()
        return bool(name) and drafts is not None and drafts.bucket(B.enc(name)) is not None

    def draft(self, name: str) -> Image:
        drafts = self._drafts()
        bucket = drafts.bucket(B.enc(name)) if drafts else None
        if bucket is None:
            raise NotFound(describe("image draft", name, self.namespace))
        return _read(name, bucket)

    def draft_names(self, start: str | None = None) -> Iterator[str]:
        drafts = self._drafts()
        if drafts is not None:
            for key, value in drafts.items(B.enc(start) if start else None):
                if value is None:
                    yield B.dec(key)

    def create_draft(self, name: str) -> Image:
        """Start an image whose target is still to be written."""
        validation.identifier(self.namespace, "namespace")
        with validation.naming(self._describe(name)):
            if not name:
                raise InvalidArgument("image name must not be empty")
            validation.text(name, "image name")
        if self.exists(name) or self.is_draft(name):
            raise AlreadyExists(self._describe(name))
        now = now_ns()
        return self._write_draft(Image(name, created_at=now, updated_at=now))

    def delete_draft(self, name: str) -> None:
        drafts = self._drafts()
        if drafts is None or drafts.bucket(B.enc(name)) is None:
            raise NotFound(describe("image draft", name, self.namespace))
        drafts.delete_bucket(B.enc(name))
        if drafts.is_empty():
            namespaces = self.tx.bucket(B.METAFS, B.DRAFTS)
            assert namespaces is not None, "drafts exist outside the drafts bucket"
            namespaces.delete_bucket(B.enc(self.namespace))

    def set_target_field(self, name: str, field_name: str, value: str | int) -> Image:
        """Set one of digest, mediatype, size of an image or draft; a draft whose target is
        then complete becomes a real image in this same transaction."""
        with validation.naming(self._describe(name)):
            validate_target_field(field_name, value)
        is_draft = self.is_draft(name)
        image = self.draft(name) if is_draft else self.get(name)
        target = image.target.replace()
        if field_name == "digest":
            target.digest = str(value)
        elif field_name == "mediatype":
            target.media_type = str(value)
        else:
            target.size = int(value)
        if not is_draft:
            return self.update(Image(name, target), "target")
        image.target = target
        if target.missing():
            return self._write_draft(image.replace(updated_at=now_ns()))
        return self._promote(image)

    def _promote(self, draft: Image) -> Image:
        """Turn a draft with a complete target into a real image; its created time is kept."""
        self._validate(draft)
        images = B.create_namespace(self.tx, self.namespace).create_bucket_if_not_exists(B.IMAGES)
        self.delete_draft(draft.name)
        image = draft.replace(updated_at=now_ns())
        _write(images.create_bucket(B.enc(image.name)), image)
        return image

    def _write_draft(self, image: Image) -> Image:
        with validation.naming(describe("image draft", image.name, self.namespace)):
            validation.labels(image.labels)
        drafts = self.tx.create_buckets(B.METAFS, B.DRAFTS, B.enc(self.namespace))
        key = B.enc(image.name)
        if drafts.bucket(key) is not None:
            drafts.delete_bucket(key)
        bucket = drafts.create_bucket(key)
        _write(bucket, image, partial=True)
        return _read(image.name, bucket)


def _read(name: str, bucket: Bucket) -> Image:
    return _decode(name, bucket.walk())  # one pass over the whole image (the mount's hot path)


def _decode(name: str, entries: Iterable[tuple[tuple[bytes, ...], bytes]]) -> Image:
    """The image from what its bucket's `walk()` gives."""
    image = Image(name)
    target = image.target
    labels, annotations = image.labels, target.annotations
    for path, value in entries:
        if len(path) == 2:
            sub, key = path
            if sub == B.LABELS:
                labels[B.dec(key)] = B.dec(value)
            elif sub == B.TARGET:
                if key == B.DIGEST:
                    target.digest = B.dec(value)
                elif key == B.MEDIATYPE:
                    target.media_type = B.dec(value)
                elif key == B.SIZE:
                    target.size = read_varint(value)
            elif sub == B.ANNOTATIONS:
                annotations[B.dec(key)] = B.dec(value)
        elif len(path) == 1 and value:
            if path[0] == B.CREATEDAT:
                image.created_at = decode_time(value)
            elif path[0] == B.UPDATEDAT:
                image.updated_at = decode_time(value)
    return image


def _write(bucket: Bucket, image: Image, *, partial: bool = False) -> None:
    B.write_times(bucket, image.created_at, image.updated_at)
    B.write_labels(bucket, image.labels)
    B.write_labels(bucket, image.target.annotations, B.ANNOTATIONS)
    target = bucket.create_bucket_if_not_exists(B.TARGET)
    t = image.target
    for key, value, present in (
        (B.DIGEST, B.enc(t.digest), bool(t.digest)),
        (B.MEDIATYPE, B.enc(t.media_type), bool(t.media_type)),
        (B.SIZE, put_varint(t.size), bool(t.size)),
    ):
        if present or not partial:
            target.put(key, value)
