"""containerd's garbage collector (metadata/gc.go), for one namespace, inside a transaction.

Mark and sweep. The roots of a namespace:
- every image's target digest (content), and every container's `snapshotter`/`snapshotKey`;
- every lease that has not expired (label `containerd.io/gc.expire`, RFC 3339; one that does not
  parse never expires) and the content, snapshots and ingests it holds; with the label
  `containerd.io/gc.flat` it holds them *flat*: their label references are not followed (a
  snapshot's parents still are);
- content and snapshots labelled `containerd.io/gc.root`, and ingests whose `expireat` has not
  passed.
The edges: a snapshot's parent; an ingest's expected digest; and on images, containers, content
and snapshots the labels `containerd.io/gc.ref.content`, `containerd.io/gc.ref.content.<x>`,
`containerd.io/gc.ref.content/<x>` (value: a digest) and `containerd.io/gc.ref.snapshot.<sn>`,
`containerd.io/gc.ref.snapshot.<sn>/<x>` (value: a key of snapshotter `<sn>`).
Every snapshot, blob, ingest and lease not marked is removed — an expired lease too.

Two things containerd does not do: the target digest and label references of an image draft
(`metafs/drafts`, an image being written from a shell) are roots, so an image half-made keeps
what it will point at; and removing a snapshot also removes it from its parent's `children`
(containerd's collector leaves that entry behind).

References resolve inside the namespace: nothing in one namespace keeps or removes anything in
another.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from . import buckets as B
from . import snapshots as snapshot_records
from .codec import decode_time, format_time, now_ns
from .errors import InvalidArgument, NotFound, describe
from .gclabels import (
    LABEL_EXPIRE,
    LABEL_FLAT,
    LABEL_REF_CONTENT,
    LABEL_REF_PREFIX,
    LABEL_REF_SNAPSHOT,
    LABEL_ROOT,
    parse_expiry,
)
from .store import Bucket, Txn

LEASE = "lease"
SNAPSHOT = "snapshot"
INGEST = "ingest"
CONTENT = "content"
KINDS = (LEASE, SNAPSHOT, INGEST, CONTENT)  # the order of what a collection removes

_ROOT = LABEL_ROOT.encode()
_REF = LABEL_REF_PREFIX.encode()
_REF_CONTENT = LABEL_REF_CONTENT.encode()
_REF_SNAPSHOT = LABEL_REF_SNAPSHOT.encode()
_EXPIRE = LABEL_EXPIRE.encode()
_FLAT = LABEL_FLAT.encode()

# A node of the reference graph: (kind, snapshotter or b"", key). Images, containers and drafts
# appear only as the sources of root references, with kinds "image", "container", "draft".
Node = tuple[str, bytes, bytes]


@dataclass(frozen=True)
class Resource:
    """A collectable resource: a snapshot (of a snapshotter), a blob, an ingest or a lease."""

    kind: str
    key: str  # snapshot key, digest, ingest ref or lease id
    snapshotter: str = ""

    @property
    def id(self) -> str:
        """`<snapshotter>/<key>` for a snapshot (as containerd's collector names it), else key."""
        return f"{self.snapshotter}/{self.key}" if self.kind == SNAPSHOT else self.key

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


def collect(
    tx: Txn, namespace: str, *, dry_run: bool = False, now: int | None = None
) -> list[Resource]:
    """Remove every resource of `namespace` that no root reaches; return them, leases first,
    then snapshots, ingests and content, each in bolt order. `dry_run` removes nothing."""
    marker = _Marker(tx, namespace, now_ns() if now is None else now, trace=False)
    if not marker.has_resources():
        return []  # nothing to collect: no need to read every image and container
    marker.scan_roots()
    marker.mark()
    garbage = marker.garbage()
    if not dry_run:
        for node in garbage:
            _remove(tx, namespace, node)
    return [_resource(node) for node in garbage]


@dataclass
class Link:
    what: str  # "container web-1", "snapshot overlayfs/web-1", ...
    via: str  # how the link before refers to this one; for the first, why it is a root ("")


@dataclass
class Explanation:
    """Why a resource is kept: for each reference to it, a chain of references from a root
    (each chain leads there without passing through the resource); none when nothing keeps it.

    All of them must go before the resource is collected. They come in the order the collector
    finds them: roots (containers, images, drafts, leases, gc.root labels), then the edges
    followed from them.
    """

    resource: Resource
    namespace: str
    chains: list[list[Link]] = field(default_factory=list)

    @property
    def kept(self) -> bool:
        return bool(self.chains)

    @property
    def chain(self) -> list[Link]:
        """The first chain (the one the collector follows first), or none."""
        return self.chains[0] if self.chains else []

    def text(self) -> str:
        """A few lines of plain text, as a command prints it or a file shows it: one chain,
        or with several references, every chain, a blank line between two."""
        if not self.chains:
            return f"{self.resource} is unreferenced: would be collected\n"
        count = len(self.chains)
        lines = [f"{self.resource} is kept" + (f" by {count} references:" if count > 1 else ":")]
        for number, (first, *rest) in enumerate(self.chains):
            if number:
                lines.append("")
            root = f"root: {first.via}" if first.via else "root"
            lines.append(f"  {first.what}  ({root})")
            lines += [f"  -> {link.what}  ({link.via})" for link in rest]
        return "\n".join(lines) + "\n"


def explain(
    tx: Txn, namespace: str, kind: str, ident: str, *, now: int | None = None
) -> Explanation:
    """Answer "why is this not deleted?" for a resource of `kind` (snapshot, content, ingest,
    lease); a snapshot's `ident` is `<snapshotter>/<key>`."""
    resource = _parse(kind, ident)
    node: Node = (resource.kind, B.enc(resource.snapshotter), B.enc(resource.key))
    if not _exists(tx, namespace, node):
        raise NotFound(describe(resource.kind, resource.id, namespace))
    marker = _Marker(tx, namespace, now_ns() if now is None else now, trace=True, target=node)
    marker.scan_roots()
    marker.mark()
    chains = [marker.chain(node, origin, via) for origin, via in marker.incoming.get(node, {})]
    return Explanation(resource, namespace, chains)


class Explainer:
    """What `explain` says of any resource of a namespace, from one mark pass shared by all
    the questions (a mount's `why` files; `explain` marks the whole namespace each time).

    The pass follows everything, so a chain to a resource may pass through the resource
    itself; such an answer is handed to `explain`. Any other is the same: the references to a
    resource that the shared pass finds from nodes it reached without the resource are those
    `explain` finds, in the same order, along the same chains."""

    def __init__(self, tx: Txn, namespace: str, *, now: int | None = None) -> None:
        self.namespace = namespace
        self.now = now_ns() if now is None else now
        self._marker = _Marker(tx, namespace, self.now, trace=True)
        self._marker.scan_roots()
        self._marker.mark()

    def explain(self, tx: Txn, kind: str, ident: str) -> Explanation:
        """`explain(tx, namespace, kind, ident)` for the state this explainer marked."""
        resource = _parse(kind, ident)
        node: Node = (resource.kind, B.enc(resource.snapshotter), B.enc(resource.key))
        if not _exists(tx, self.namespace, node):
            raise NotFound(describe(resource.kind, resource.id, self.namespace))
        references = self._marker.incoming.get(node, {})
        if any(self._through(origin, node) for origin, _ in references):
            return explain(tx, self.namespace, kind, ident, now=self.now)
        chains = [self._marker.chain(node, origin, via) for origin, via in references]
        return Explanation(resource, self.namespace, chains)

    def _through(self, origin: Node | None, node: Node) -> bool:
        """Whether the chain that reached `origin` passes through `node`."""
        while origin is not None and origin[0] in KINDS:
            if origin == node:
                return True
            origin = self._marker._origin[origin][0]
        return False


def _parse(kind: str, ident: str) -> Resource:
    if kind not in KINDS:
        raise InvalidArgument(f'unknown resource kind "{kind}" (one of {", ".join(KINDS)})')
    if kind != SNAPSHOT:
        return Resource(kind, ident)
    snapshotter, sep, key = ident.partition("/")
    if not (sep and snapshotter and key):
        raise InvalidArgument(f'snapshot "{ident}" must be given as <snapshotter>/<key>')
    return Resource(kind, key, snapshotter)


def _resource(node: Node) -> Resource:
    kind, snapshotter, key = node
    return Resource(kind, B.dec(key), B.dec(snapshotter))


def _describe(node: Node) -> str:
    kind, _, key = node
    if kind in KINDS:
        return str(_resource(node))
    return f"{'image draft' if kind == 'draft' else kind} {B.dec(key)}"


def _path(namespace: str, node: Node) -> tuple[bytes, ...]:
    kind, snapshotter, key = node
    ns = (B.V1, B.enc(namespace))
    if kind == LEASE:
        return (*ns, B.LEASES, key)
    if kind == SNAPSHOT:
        return (*ns, B.SNAPSHOTS, snapshotter, key)
    if kind == INGEST:
        return (*ns, B.CONTENT, B.INGESTS, key)
    return (*ns, B.CONTENT, B.BLOB, key)


def _exists(tx: Txn, namespace: str, node: Node) -> bool:
    return bool(node[2]) and tx.bucket(*_path(namespace, node)) is not None


def _remove(tx: Txn, namespace: str, node: Node) -> None:
    *parent, key = _path(namespace, node)
    bucket = tx.bucket(*parent)
    if bucket is None:
        return
    if node[0] == SNAPSHOT:
        snapshot_records.remove_record(bucket, key)
    elif bucket.bucket(key) is not None:
        bucket.delete_bucket(key)


class _Marker:
    """One mark pass over a namespace. Buckets are addressed without checking that they exist:
    reading a missing bucket finds nothing, which is what a dead reference leads to."""

    def __init__(
        self, tx: Txn, namespace: str, now: int, *, trace: bool, target: Node | None = None
    ) -> None:
        self.tx = tx
        self._namespace = Bucket(tx, (B.V1, B.enc(namespace)))
        self.now = now
        self.trace = trace
        # explain: the resource asked about is never followed, so that every chain leading to
        # it avoids it
        self.target = target
        # traced: node -> every (origin, how) that reached it, in the order found
        self.incoming: dict[Node, dict[tuple[Node | None, str | bytes], None]] = {}
        self.marked: set[Node] = set()
        self._expanded: set[Node] = set()  # references followed in full
        self._flat: set[Node] = set()  # reached from a flat lease only, so far
        self._queue: deque[tuple[Node, bool]] = deque()
        # node -> (the node or source it was reached from, None for a root; how: a label key
        # as bytes, else words)
        self._origin: dict[Node, tuple[Node | None, str | bytes]] = {}
        # every collectable resource, in bolt order, listed while looking for roots
        self._all: dict[str, list[Node]] = {kind: [] for kind in KINDS}

    def _bucket(self, *path: bytes) -> Bucket:
        bucket = self._namespace
        for name in path:
            bucket = bucket.child(name)
        return bucket

    def _push(self, node: Node, flat: bool, origin: Node | None, via: str | bytes) -> None:
        if self.trace:
            self.incoming.setdefault(node, {}).setdefault((origin, via), None)
        if node == self.target:
            self._origin.setdefault(node, (origin, via))  # a lease target still holds
            return
        if node in self._expanded:
            return
        if flat:
            if node in self._flat:
                return
            self._flat.add(node)
        else:
            self._expanded.add(node)
        self.marked.add(node)
        if self.trace:
            self._origin[node] = (origin, via)
        self._queue.append((node, flat))

    def has_resources(self) -> bool:
        return any(
            not self._bucket(*path).is_empty()
            for path in ((B.SNAPSHOTS,), (B.CONTENT, B.BLOB), (B.CONTENT, B.INGESTS), (B.LEASES,))
        )

    # -- roots --

    def scan_roots(self) -> None:
        """Containers and images first, so that an explanation names them when it can."""
        self._containers()
        self._images(self._bucket(B.IMAGES), "image")
        self._images(Bucket(self.tx, (B.METAFS, B.DRAFTS, self._namespace.path[1])), "draft")
        self._leases()
        self._self_roots()

    def _containers(self) -> None:
        containers = self._bucket(B.CONTAINERS)
        for cid in _sub_buckets(containers):
            bucket = containers.child(cid)
            source: Node = ("container", b"", cid)
            snapshotter = bucket.get(B.SNAPSHOTTER)
            if snapshotter:
                key = bucket.get(B.SNAPSHOT_KEY) or b""
                self._push((SNAPSHOT, snapshotter, key), False, source, "snapshotter/snapshotKey")
            self._label_refs(source, bucket)

    def _images(self, images: Bucket, kind: str) -> None:
        for name in _sub_buckets(images):
            bucket = images.child(name)
            source: Node = (kind, b"", name)
            digest = bucket.child(B.TARGET).get(B.DIGEST)
            if digest:
                self._push((CONTENT, b"", digest), False, source, "target digest")
            self._label_refs(source, bucket)

    def _leases(self) -> None:
        leases = self._bucket(B.LEASES)
        for lease_id in _sub_buckets(leases):
            node: Node = (LEASE, b"", lease_id)
            self._all[LEASE].append(node)
            bucket = leases.child(lease_id)
            labels = bucket.child(B.LABELS)
            expire = labels.get(_EXPIRE)
            expires_at = parse_expiry(expire)
            if expires_at is not None and self.now > expires_at:
                continue
            flat = labels.get(_FLAT) is not None
            self._push(node, False, None, _lease_root(expire, expires_at, flat))
            held = "held by the flat lease" if flat else "held by the lease"
            for digest in _keys(bucket.child(B.CONTENT)):
                self._push((CONTENT, b"", digest), flat, node, held)
            snapshots = bucket.child(B.SNAPSHOTS)
            for snapshotter in _sub_buckets(snapshots):
                for key in _keys(snapshots.child(snapshotter)):
                    self._push((SNAPSHOT, snapshotter, key), flat, node, held)
            for ref in _keys(bucket.child(B.INGESTS)):
                self._push((INGEST, b"", ref), False, node, held)

    def _self_roots(self) -> None:
        """Snapshots and blobs labelled gc.root, unexpired ingests; and the lists to sweep."""
        snapshots = self._bucket(B.SNAPSHOTS)
        for snapshotter in _sub_buckets(snapshots):
            records = snapshots.child(snapshotter)
            for key in _sub_buckets(records):
                self._self_root((SNAPSHOT, snapshotter, key), records)
        ingests = self._bucket(B.CONTENT, B.INGESTS)
        for ref in _sub_buckets(ingests):
            node: Node = (INGEST, b"", ref)
            self._all[INGEST].append(node)
            raw = ingests.child(ref).get(B.EXPIREAT)
            expires_at = decode_time(raw) if raw is not None else None
            if expires_at is not None and self.now <= expires_at:
                self._push(node, False, None, f"ingest, expires {format_time(expires_at)}")
        blobs = self._bucket(B.CONTENT, B.BLOB)
        for digest in _sub_buckets(blobs):
            self._self_root((CONTENT, b"", digest), blobs)

    def _self_root(self, node: Node, parent: Bucket) -> None:
        self._all[node[0]].append(node)
        if parent.child(node[2]).child(B.LABELS).get(_ROOT) is not None:
            self._push(node, False, None, "label containerd.io/gc.root")

    # -- edges --

    def _label_refs(self, origin: Node, bucket: Bucket) -> None:
        for key, value in bucket.child(B.LABELS).items(start=_REF):
            if not key.startswith(_REF):
                break
            if value is None:
                continue
            if key.startswith(_REF_CONTENT):
                rest = key[len(_REF_CONTENT) :]
                if not rest or rest[:1] in (b".", b"/"):
                    self._push((CONTENT, b"", value), False, origin, key)
            elif key.startswith(_REF_SNAPSHOT):
                snapshotter = key[len(_REF_SNAPSHOT) :].split(b"/", 1)[0]
                self._push((SNAPSHOT, snapshotter, value), False, origin, key)

    def mark(self) -> None:
        """Follow references from everything queued."""
        while self._queue:
            node, flat = self._queue.popleft()
            kind, snapshotter, key = node
            if kind == SNAPSHOT:
                bucket = self._bucket(B.SNAPSHOTS, snapshotter, key)
                parent = bucket.get(B.PARENT)
                if parent:
                    self._push((SNAPSHOT, snapshotter, parent), flat, node, "parent")
                if not flat:
                    self._label_refs(node, bucket)
            elif kind == CONTENT:
                if not flat:
                    self._label_refs(node, self._bucket(B.CONTENT, B.BLOB, key))
            elif kind == INGEST:
                expected = self._bucket(B.CONTENT, B.INGESTS, key).get(B.EXPECTED)
                if expected:
                    self._push((CONTENT, b"", expected), False, node, "expected digest")

    # -- results --

    def garbage(self) -> list[Node]:
        return [node for kind in KINDS for node in self._all[kind] if node not in self.marked]

    def chain(self, node: Node, origin: Node | None, via: str | bytes) -> list[Link]:
        """The links from a root to `node`, reached from `origin` by `via`."""
        links = []
        current: Node | None = node
        while current is not None:
            if isinstance(via, bytes):
                via = f"label {B.dec(via)}"
            links.append(Link(_describe(current), via))
            if origin is not None and origin[0] not in KINDS:  # an image, container or draft
                links.append(Link(_describe(origin), ""))
                break
            current = origin
            if current is not None:
                origin, via = self._origin[current]
        links.reverse()
        return links


def _sub_buckets(bucket: Bucket) -> list[bytes]:
    return [name for name, value in bucket.items() if value is None]


def _keys(bucket: Bucket) -> list[bytes]:
    return [name for name, value in bucket.items() if value is not None]


def _lease_root(expire: bytes | None, expires_at: int | None, flat: bool) -> str:
    if expire is None:
        why = "lease without expiry"
    elif expires_at is None:
        why = f"lease; its {LABEL_EXPIRE} {B.dec(expire)!r} does not parse, so it never expires"
    else:
        why = f"lease until {B.dec(expire)}"
    return why + (", flat" if flat else "")
