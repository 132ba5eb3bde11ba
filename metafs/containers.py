"""Containers: pure metadata objects (containerd's containers.go)."""

from __future__ import annotations

from . import buckets as B
from . import validation
from .codec import SPEC_TYPE_URL, AnyValue, decode_time, now_ns
from .errors import AlreadyExists, InvalidArgument, NotFound, describe
from .records import Record
from .store import Bucket, Txn

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

# ctr's default runtime, and that of containers made by `mkdir` in a mount
DEFAULT_RUNTIME = "io.containerd.runc.v2"


class Runtime(Record):
    __slots__ = ("name", "options")

    def __init__(self, name: str = "", options: AnyValue | None = None) -> None:
        self.name = name
        self.options = options


class Container(Record):
    __slots__ = (
        *("id", "labels", "image", "runtime", "spec", "snapshotter", "snapshot_key"),
        *("extensions", "created_at", "updated_at"),
    )

    def __init__(
        self,
        id: str,
        labels: dict[str, str] | None = None,
        image: str = "",
        runtime: Runtime | None = None,
        spec: AnyValue | None = None,
        snapshotter: str = "",
        snapshot_key: str = "",
        extensions: dict[str, AnyValue] | None = None,
        created_at: int = 0,  # Unix nanoseconds
        updated_at: int = 0,
    ) -> None:
        self.id = id
        self.labels: dict[str, str] = {} if labels is None else labels
        self.image = image
        self.runtime = Runtime() if runtime is None else runtime
        self.spec = spec
        self.snapshotter = snapshotter
        self.snapshot_key = snapshot_key
        self.extensions: dict[str, AnyValue] = {} if extensions is None else extensions
        self.created_at = created_at
        self.updated_at = updated_at


def spec_from_json(text: str | bytes) -> AnyValue:
    """An OCI runtime spec given as JSON, checked to be a JSON object, as containerd stores it."""
    import json  # here: only a command that sets a spec needs it

    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"spec is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise InvalidArgument("spec must be a JSON object")
    raw = text.encode() if isinstance(text, str) else bytes(text)
    return AnyValue(SPEC_TYPE_URL, raw.strip())


def validate(container: Container) -> None:
    """containerd's validateContainer."""
    validation.identifier(container.id, "container id")
    validation.labels(container.labels)
    for name in container.extensions:
        if not name:
            raise InvalidArgument("container.Extension keys must not be zero-length")
        validation.text(name, "container.Extension key")
    for what, value in (
        ("container.Image", container.image),
        ("container.Runtime.Name", container.runtime.name),
        ("container.Snapshotter", container.snapshotter),
        ("container.SnapshotKey", container.snapshot_key),
    ):
        validation.text(value, what)
    if not container.runtime.name:
        raise InvalidArgument("container.Runtime.Name must be set")
    if container.spec is None:
        raise InvalidArgument("container.Spec must be set")
    for what, any_value in (
        ("container.Spec", container.spec),
        ("runtime options", container.runtime.options),
        *container.extensions.items(),
    ):
        if any_value is not None:
            validation.blob(any_value.value, what)
    if container.snapshot_key and not container.snapshotter:
        raise InvalidArgument("container.Snapshotter must be set if container.SnapshotKey is set")


class Containers:
    """The containers of one namespace, inside a transaction."""

    def __init__(self, tx: Txn, namespace: str) -> None:
        self.tx = tx
        self.namespace = namespace

    def _describe(self, cid: str) -> str:
        return describe("container", cid, self.namespace)

    def _validate(self, container: Container) -> None:
        with validation.naming(self._describe(container.id)):
            validate(container)

    def _containers(self) -> Bucket | None:
        return self.tx.bucket(B.V1, B.enc(self.namespace), B.CONTAINERS)

    def _bucket(self, cid: str) -> Bucket:
        # one lookup: a container's bucket exists only inside an existing containers bucket
        bucket = self.tx.bucket(B.V1, B.enc(self.namespace), B.CONTAINERS, B.enc(cid))
        if bucket is None:
            raise NotFound(self._describe(cid))
        return bucket

    def get(self, cid: str) -> Container:
        entries = self.tx.read_bucket(B.V1, B.enc(self.namespace), B.CONTAINERS, B.enc(cid))
        if entries is None:
            raise NotFound(self._describe(cid))
        return _decode(cid, entries)

    def exists(self, cid: str) -> bool:
        containers = self._containers()
        return bool(cid) and containers is not None and containers.bucket(B.enc(cid)) is not None

    def ids(self, start: str | None = None) -> Iterator[str]:
        """Container ids in bolt's order, from `start` (inclusive) on."""
        containers = self._containers()
        if containers is not None:
            for key, value in containers.items(B.enc(start) if start else None):
                if value is None:
                    yield B.dec(key)

    def list(self) -> Iterator[Container]:
        containers = self._containers()
        if containers is None:
            return
        for key, entries in containers.walk_buckets():
            yield _decode(B.dec(key), entries)

    def create(self, container: Container) -> Container:
        self._validate(container)
        ns = B.create_namespace(self.tx, self.namespace)
        containers = ns.create_bucket_if_not_exists(B.CONTAINERS)
        if containers.bucket(B.enc(container.id)) is not None:
            raise AlreadyExists(self._describe(container.id))
        now = now_ns()
        container = container.replace(created_at=now, updated_at=now)
        _write(containers.create_bucket(B.enc(container.id)), container)
        return container

    def update(self, container: Container, *fieldpaths: str) -> Container:
        """Update the named fields (`labels`, `labels.<key>`, `extensions`,
        `extensions.<name>`, `spec`, `image`, `snapshotkey`; `snapshotter` and `runtime` only
        while they are empty), or with no field paths all of these; runtime (name and options)
        and snapshotter are immutable once set, and as in containerd a full update must repeat
        the runtime name and snapshotter unchanged."""
        if not container.id:
            raise InvalidArgument(f"{self._describe('')}: must specify a container id")
        bucket = self._bucket(container.id)
        current = _read(container.id, bucket)
        updated = current.replace(labels=dict(current.labels), extensions=dict(current.extensions))
        if not fieldpaths:
            fieldpaths = ("labels", "spec", "extensions", "image", "snapshotkey")
            for what, old, new in (
                ("Snapshotter", current.snapshotter, container.snapshotter),
                ("Runtime.Name", current.runtime.name, container.runtime.name),
            ):
                if old != new:
                    raise InvalidArgument(
                        f"{self._describe(container.id)}: container.{what} field is immutable"
                    )
        for path in fieldpaths:
            if path.startswith("labels."):
                key = path[len("labels.") :]
                updated.labels[key] = container.labels.get(key, "")
            elif path.startswith("extensions."):
                key = path[len("extensions.") :]
                if key in container.extensions:
                    updated.extensions[key] = container.extensions[key]
                else:
                    updated.extensions.pop(key, None)
            elif path == "labels":
                updated.labels = dict(container.labels)
            elif path == "extensions":
                updated.extensions = dict(container.extensions)
            elif path == "spec":
                updated.spec = container.spec
            elif path == "image":
                updated.image = container.image
            elif path == "snapshotkey":
                updated.snapshot_key = container.snapshot_key
            elif path == "snapshotter" and not current.snapshotter:
                updated.snapshotter = container.snapshotter
            elif path == "runtime" and not current.runtime.name:
                updated.runtime = container.runtime
            else:
                raise InvalidArgument(
                    f'cannot update "{path}" field on {self._describe(container.id)}'
                )
        self._validate(updated)
        updated.created_at = current.created_at
        updated.updated_at = now_ns()
        keys = B.label_keys(fieldpaths)
        if keys is not None:  # write just those labels and the time
            B.write_some_labels(bucket, updated.labels, keys, updated.updated_at)
            return updated
        _write(bucket, updated)
        return _read(container.id, bucket)

    def set_label(self, cid: str, key: str, value: str) -> Container:
        """Set one label; an empty value removes it."""
        if not key:
            raise InvalidArgument(f"{self._describe(cid)}: label key must not be empty")
        return self.update(Container(cid, labels={key: value}), f"labels.{key}")

    def set_labels(self, cid: str, labels: dict[str, str]) -> Container:
        """Replace all labels of the container."""
        return self.update(Container(cid, labels=labels), "labels")

    def delete(self, cid: str) -> None:
        """Delete the container; what only it kept (its snapshot, the parents no one else
        uses, ...) is collected when the transaction commits."""
        containers = self._containers()
        if containers is None or not cid or containers.bucket(B.enc(cid)) is None:
            raise NotFound(self._describe(cid))
        containers.delete_bucket(B.enc(cid))
        self.tx.mark_dirty(self.namespace)


def _read(cid: str, bucket: Bucket) -> Container:
    return _decode(cid, bucket.walk())  # one pass over the whole container


def _decode(cid: str, entries: Iterable[tuple[tuple[bytes, ...], bytes]]) -> Container:
    """The container from what its bucket's `walk()` gives."""
    container = Container(cid)
    runtime: dict[bytes, bytes] = {}
    fields = {B.IMAGE: "image", B.SNAPSHOTTER: "snapshotter", B.SNAPSHOT_KEY: "snapshot_key"}
    for path, value in entries:
        if len(path) == 1:
            key = path[0]
            if key in fields:
                setattr(container, fields[key], B.dec(value))
            elif key == B.SPEC:
                container.spec = AnyValue.decode(value)
            elif key == B.CREATEDAT and value:
                container.created_at = decode_time(value)
            elif key == B.UPDATEDAT and value:
                container.updated_at = decode_time(value)
        elif len(path) == 2:
            sub, key = path
            if sub == B.LABELS:
                container.labels[B.dec(key)] = B.dec(value)
            elif sub == B.RUNTIME:
                runtime[key] = value
            elif sub == B.EXTENSIONS:
                container.extensions[B.dec(key)] = AnyValue.decode(value)
    if runtime:
        options = runtime.get(B.OPTIONS)
        container.runtime = Runtime(
            B.dec(runtime.get(B.NAME, b"")),
            AnyValue.decode(options) if options is not None else None,
        )
    return container


def _write(bucket: Bucket, c: Container) -> None:
    B.write_times(bucket, c.created_at, c.updated_at)
    if c.spec is not None:
        bucket.put(B.SPEC, c.spec.encode())
    for key, value in (
        (B.IMAGE, c.image),
        (B.SNAPSHOTTER, c.snapshotter),
        (B.SNAPSHOT_KEY, c.snapshot_key),
    ):
        bucket.put(key, B.enc(value))
    if bucket.bucket(B.RUNTIME) is not None:
        bucket.delete_bucket(B.RUNTIME)
    runtime = bucket.create_bucket(B.RUNTIME)
    runtime.put(B.NAME, B.enc(c.runtime.name))
    if c.runtime.options is not None:
        runtime.put(B.OPTIONS, c.runtime.options.encode())
    if bucket.bucket(B.EXTENSIONS) is not None:
        bucket.delete_bucket(B.EXTENSIONS)
    if c.extensions:
        extensions = bucket.create_bucket(B.EXTENSIONS)
        for name, extension in c.extensions.items():
            extensions.put(B.enc(name), extension.encode())
    B.write_labels(bucket, c.labels)
