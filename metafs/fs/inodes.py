"""The inode table: which number the kernel holds for which place, and for how long.

- Inodes name a place, not an object: each node is (parent inode, stored name) and its path is
  found by walking up. Numbers are never reused within a mount. A node lives while the kernel
  holds a lookup reference to it (every `lookup`, `mkdir`, `create` and listed entry adds one,
  `forget` drops them) and is then deleted, so memory follows what the kernel caches.
- The fixed entries of an object directory of a view that declares them (`View.fixed`: an
  image's `digest`, `labels`, `createdat`, ...) have no node: node numbers are multiples of
  `STRIDE`, and entry k of the view's `fixed` in directory d is inode d + k. Most of what a
  walk shows is such an entry (six of the ten inodes of an image), so the node table holds
  about 2.5 times as many objects. The children of a node are keyed by their name, those of
  its fixed entry k (labels/<key>) by (k, name): two named subdirectories of one object never
  mix their names, and the node's own are found without making a tuple (a readdir asks for
  each of its entries).
- Nor has an entry of a `listed` view's directory (images/, containers/) that only a listing
  gave the kernel: its number follows from its place in the listing (listing.py). It becomes
  a node, keeping its number, when it is looked up or a name below it is. A name the kernel
  holds keeps its number in later listings, after commits too, so the kernel never has to
  replace an entry.
- Memory: the kernel keeps what was walked cached, and so holds references to every node.
  Past `max_nodes`, the least recently looked-up object directories are to be invalidated
  (`sweep`); the kernel then forgets their subtrees and the nodes are freed. A node costs
  about 200 bytes. The default, 50k, holds a walk of 10k images (43k nodes), so that a
  repeated `grep -r` over them finds every entry cached; a listing costs no nodes, whatever
  its length.
- Pending: labels created by open files and not yet given a value exist only here.

Nothing here knows FUSE or the store: the handlers (operations.py) ask and tell.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping

from ..errors import NotFound
from .listing import Listing
from .view import Path

ROOT = 1  # pyfuse3.ROOT_INODE
STRIDE = 16  # node numbers are its multiples; see `Fixed`
MAX_NODES = 50_000

Key = str | tuple[int, str]  # of a child: its name, or (fixed entry k of the node, its name)


class Fixed:
    """The fixed entries of a view's object directories: entry k (from 1) is `names[k - 1]`."""

    __slots__ = ("names", "index", "filenames", "all")

    def __init__(self, names: tuple[str, ...]) -> None:
        assert len(names) < STRIDE, names
        self.names = names
        self.index = {name: k for k, name in enumerate(names, start=1)}
        self.filenames = {name.encode(): k for name, k in self.index.items()}
        self.all = sum(1 << k for k in self.index.values())


class Node:
    """A name the kernel holds an inode for. Its node children (`kids`) include those of its
    fixed entries (see the module's docstring). `path` is kept with it: every request starts
    by finding its inode's path, and only a rename changes one."""

    __slots__ = ("parent", "name", "path", "lookups", "kids", "fixed")

    def __init__(self, parent: int, name: str, path: Path) -> None:
        self.parent = parent
        self.name = name
        self.path = path
        self.lookups = 0
        self.kids: dict[Key, int] | None = None
        self.fixed = 0  # bit k: the kernel was given fixed entry k of this directory


def owner(ino: int) -> int:
    """The node of `ino`: itself, or the directory of a fixed entry."""
    return ino - ino % STRIDE if ino > STRIDE else ino


def key(parent: int, name: str) -> Key:
    """The key of `name` in directory `parent` among the kids of the parent's node."""
    k = parent - owner(parent)
    return (k, name) if k else name


Held = tuple[Listing, int]  # a listed entry: its listing and its position there


class Inodes:
    """Every inode the kernel holds, for a tree whose views are known by top-level name."""

    def __init__(
        self,
        fixed: Mapping[str, tuple[str, ...]],
        listed: Collection[str] = (),
        max_nodes: int = MAX_NODES,
    ) -> None:
        self.max_nodes = max_nodes
        self._fixed_names = {top: Fixed(names) for top, names in fixed.items() if names}
        self._listed_names = frozenset(listed)
        # Every node, in the order of last use for the directories of top-level directories
        # (see touch), which the sweep evicts first-come.
        self._nodes: dict[int, Node] = {ROOT: Node(0, "", ())}
        self._nodes[ROOT].lookups = 1
        self._tops: set[int] = set()  # the nodes of the top-level directories
        self._fixed: dict[int, Fixed] = {}  # of them, those whose objects have fixed entries
        self._listing_tops: set[int] = set()  # and those listed with listings
        self._next_ino = STRIDE
        self.pending: set[int] = set()  # labels created by open files, not yet given a value
        # Directories the kernel was asked to forget and has not yet, with their node counts:
        # it takes seconds to forget 100k after a big listing, and they must not count twice.
        self._evicted: dict[int, int] = {}
        self._evicting = 0  # their sum
        # Listed entries of `listed` views that are not nodes (see listing.py): one listing per
        # list of names read from the store, kept while the kernel holds entries.
        self._listed: list[Listing] = []

    def __len__(self) -> int:
        return len(self._nodes)

    # ---- places ---------------------------------------------------------------------------

    def path(self, ino: int) -> Path:
        node = self._nodes.get(ino)
        if node is not None:
            return node.path
        k = ino % STRIDE
        if k and ino > STRIDE:  # a fixed entry
            directory = self.path(ino - k)
            return (*directory, self._fixed_names[directory[0]].names[k - 1])
        parent, name = self.place(ino)  # a listed entry
        return (*self.path(parent), name)

    def place(self, ino: int) -> tuple[int, str]:
        """The directory and name of a node or a listed entry."""
        node = self._nodes.get(ino)
        if node is not None:
            return node.parent, node.name
        held = self._held(ino)
        if held is None:
            raise NotFound(f"inode {ino}")
        listing, i = held
        return listing.parent, listing.names[i]

    def parent(self, ino: int) -> int:
        found = owner(ino)
        return found if found != ino else self.place(ino)[0]

    def node(self, ino: int) -> Node | None:
        return self._nodes.get(ino)

    def child(self, parent: int, name: str) -> int | None:
        """The node of `name` in `parent`, if there is one."""
        found = self._nodes.get(owner(parent))
        return found.kids.get(key(parent, name)) if found is not None and found.kids else None

    def fixed_lookup(self, parent: int, filename: bytes) -> tuple[int, Path] | None:
        """The inode and path of a fixed entry `filename` of an object directory that is a node,
        marked as given to the kernel; None for anything else. The lookup asked for most: a
        field of an image or a container."""
        directory = self._nodes.get(parent)
        if directory is None:
            return None
        fixed = self._fixed.get(directory.parent)
        if fixed is None:
            return None
        k = fixed.filenames.get(filename)
        if k is None:
            return None
        directory.fixed |= 1 << k
        return parent + k, (*directory.path, fixed.names[k - 1])

    def fixed(self, directory: int, name: str) -> int | None:
        """The inode of a fixed entry of an object directory, if the kernel was given it."""
        node = self._nodes.get(directory)
        if node is None:  # a listed entry: the kernel may hold any of its fixed entries
            held = self._held(directory) if self._listed else None
            fixed = self._fixed.get(held[0].parent) if held is not None else None
            k = fixed.index.get(name) if fixed is not None else None
            return None if k is None else directory + k
        fixed = self._fixed.get(node.parent)
        k = fixed.index.get(name) if fixed is not None else None
        return directory + k if k is not None and node.fixed >> k & 1 else None

    # ---- making and holding -------------------------------------------------------------

    def node_for(self, parent: int, name: str) -> tuple[int, bool]:
        """The inode of `name` in `parent`, made if new; and whether it was made."""
        if parent % STRIDE == 0:
            directory = self._nodes.get(parent)
            if directory is not None:
                fixed = self._fixed.get(directory.parent)
                k = fixed.index.get(name) if fixed is not None else None
                if k is not None:
                    directory.fixed |= 1 << k
                    return parent + k, False
            elif self._listed:
                held = self._held(parent)
                fixed = self._fixed.get(held[0].parent) if held is not None else None
                k = fixed.index.get(name) if fixed is not None else None
                if k is not None:
                    return parent + k, False
        ino = self.child(parent, name)
        if ino is not None:
            return ino, False
        if self._listed and parent in self._listing_tops:
            ino = self._adopt_named(parent, name)
            if ino is not None:
                return ino, False
        ino = self._next_ino
        self._next_ino += STRIDE
        self._nodes[ino] = Node(parent, name, (*self.path(parent), name))
        self._link(parent, name, ino)
        if parent == ROOT:
            self._tops.add(ino)
            if name in self._fixed_names:
                self._fixed[ino] = self._fixed_names[name]
            if name in self._listed_names:
                self._listing_tops.add(ino)
        return ino, True

    def entry(self, parent: int, name: str) -> int:
        """The inode of `name` in `parent` given to the kernel by a lookup: made if new, held,
        and noted as used."""
        ino, _ = self.node_for(parent, name)
        self.hold(ino)
        self.touch(parent, ino)
        return ino

    def hold(self, ino: int) -> None:
        """Count one more lookup reference the kernel holds (fixed entries are not counted)."""
        node = self._nodes.get(ino)
        if node is not None:
            node.lookups += 1
        elif self._listed and (held := self._held(ino)) is not None:
            held[0].hold(held[1])

    def touch(self, parent: int, ino: int) -> None:
        """Note the use of a directory of a top-level one (an image, a container, a content
        record...): the sweep evicts those least recently used."""
        if parent in self._tops:
            self._nodes[ino] = self._nodes.pop(ino)
            if self._evicted:  # looked up again before the kernel forgot it
                self._evicting -= self._evicted.pop(ino, 0)

    def forget(self, ino: int, count: int) -> None:
        """The kernel dropped `count` references to `ino`."""
        node = self._nodes.get(ino)
        if node is None:
            held = self._held(ino) if self._listed else None
            if held is not None:
                held[0].release(held[1], count)
                self._release_if_dead(held[0])
            return
        if ino == ROOT:
            return
        node.lookups -= count
        if node.lookups <= 0:
            self.drop(ino)

    def drop(self, ino: int) -> None:
        """Delete the node of `ino` (the kernel holds it no more)."""
        node = self._nodes.pop(ino, None)
        if node is None:
            return
        if self._evicted:
            self._evicting -= self._evicted.pop(ino, 0)
        directory = self._nodes.get(owner(node.parent))
        name = key(node.parent, node.name)
        if directory is not None and directory.kids and directory.kids.get(name) == ino:
            del directory.kids[name]
        if node.parent == ROOT:
            self._tops.discard(ino)
            self._fixed.pop(ino, None)
            self._listing_tops.discard(ino)

    def unlink(self, parent: int, name: str) -> int | None:
        """Forget the name of a removed entry; the node lives on until the kernel forgets it."""
        if self._listed and parent in self._listing_tops:
            self._adopt_named(parent, name)  # a listed entry: it is a node from here on
        directory = self._nodes.get(owner(parent))
        if directory is None or not directory.kids:
            return None
        return directory.kids.pop(key(parent, name), None)

    def move(self, ino: int, parent: int, name: str) -> None:
        """Give node `ino` (unlinked from its old place) the name `name` in `parent`."""
        node = self._nodes[ino]
        node.parent, node.name = parent, name
        self._repath(node, (*self.path(parent), name))
        self._link(parent, name, ino)

    def _repath(self, node: Node, path: Path) -> None:
        """Give a renamed node, and the nodes below it, their new paths."""
        old, node.path = node.path, path
        for kid in (node.kids or {}).values():
            below = self._nodes.get(kid)
            if below is not None:
                self._repath(below, (*path, *below.path[len(old) :]))

    def _link(self, parent: int, name: str, ino: int) -> None:
        """Make `ino` the node of `name` in `parent`."""
        directory = self._node(owner(parent))
        if directory is None:
            raise NotFound(f"inode {parent}")
        if directory.kids is None:
            directory.kids = {}
        directory.kids[key(parent, name)] = ino

    # ---- listed entries -----------------------------------------------------------------

    def listed_entries(self, parent: int, names: list[str], start: int) -> Iterator[int]:
        """The inodes of `names` from position `start` on, the listing of directory `parent`:
        an entry that is not a node is a listed entry, and a name the kernel holds keeps its
        number from one listing to the next.

        An entry counts as held by the kernel once the next is asked for (or the iteration
        ends): stop iterating when the kernel did not take the last one. Not moved up for the
        sweep: a listing is no use of the entries."""
        listing = self._listing(parent, names)
        earlier = any(other.parent == parent and other is not listing for other in self._listed)
        nodes = self._nodes
        kids = nodes[parent].kids or {}
        for i in range(start, len(names)):
            name = names[i]
            ino = kids.get(name)
            if ino is not None:  # a node
                yield ino
                nodes[ino].lookups += 1
                continue
            owner, j = listing, i
            if earlier and not listing.counts[i]:  # an older listing may hold the name
                owner, j = self._held_named(parent, name, i) or (listing, i)
            if not owner.base:
                self._next_ino = owner.number(self._next_ino)
            yield owner.base + j * STRIDE
            owner.hold(j)

    def _listing(self, parent: int, names: list[str]) -> Listing:
        """The listing of these names, made if new."""
        for listing in self._listed:
            if listing.names is names and listing.parent == parent:
                return listing
        listing = Listing(parent, STRIDE, names)
        self._listed.append(listing)
        return listing

    def _held(self, ino: int) -> Held | None:
        """The listing and position of a listed entry the kernel holds."""
        if ino % STRIDE:  # a fixed entry, or the root
            return None
        for listing in self._listed:
            i = listing.position(ino)
            if i is not None:
                return listing, i
        return None

    def _held_named(self, parent: int, name: str, near: int = 0) -> Held | None:
        """The listing and position of `name` in a listed directory if it is a listed entry
        the kernel holds (looked for first at position `near`)."""
        for listing in self._listed:
            if listing.parent == parent:
                i = listing.find(name, near)
                if i is not None:
                    return listing, i
        return None

    def _node(self, ino: int) -> Node | None:
        """The node of `ino`, made from its listed entry if it is one."""
        node = self._nodes.get(ino)
        if node is None and self._listed:
            held = self._held(ino)
            if held is not None:
                node = self._adopt(*held)
        return node

    def _adopt(self, listing: Listing, i: int) -> Node:
        """Make listed entry i a node with the same number and the kernel's count."""
        name = listing.names[i]
        node = Node(listing.parent, name, (*self.path(listing.parent), name))
        node.lookups = listing.take(i)
        fixed = self._fixed.get(listing.parent)
        node.fixed = fixed.all if fixed is not None else 0  # which the kernel took is unknown
        ino = listing.ino(i)
        self._nodes[ino] = node
        self._link(listing.parent, node.name, ino)
        self._release_if_dead(listing)
        return node

    def _adopt_named(self, parent: int, name: str) -> int | None:
        """The inode of `name` in a listed directory if it is a listed entry the kernel holds,
        made a node."""
        held = self._held_named(parent, name)
        if held is None:
            return None
        self._adopt(*held)
        return held[0].ino(held[1])

    def _release_if_dead(self, listing: Listing) -> None:
        """Drop a listing once the kernel holds none of its entries: its numbers are not
        given again, a later listing of the same names takes new ones."""
        if not listing.live:
            self._listed.remove(listing)

    # ---- keeping memory bounded -----------------------------------------------------------

    def sweep(self) -> list[tuple[int, str]]:
        """Past `max_nodes`, the least recently used object directories (their directory and
        name) the kernel is to be asked to forget, enough of them to bring the nodes down to
        90% of it: evictions come in batches, not one per new entry. Also drops the listings
        that gave the kernel none of their entries."""
        self._listed = [listing for listing in self._listed if listing.live]
        kept = len(self._nodes) - self._evicting
        if kept <= self.max_nodes:
            return []
        excess = kept - self.max_nodes * 9 // 10
        evicted = []
        for ino, node in self._nodes.items():
            if node.parent in self._tops and ino not in self._evicted:
                evicted.append(ino)
                size = self._evicted[ino] = 1 + (len(node.kids) if node.kids else 0)
                self._evicting += size
                excess -= size
                if excess <= 0:
                    break
        places = []
        for ino in evicted:
            node = self._nodes[ino] = self._nodes.pop(ino)  # last: not scanned again soon
            places.append((node.parent, node.name))
        return places
