"""What every collection of the mount is made of: the place of a path, and the view interface.

A path is a tuple of stored names (str, surrogate-escaped bytes): `("images", name, "labels",
key)`. Its first name picks the view of a collection (the tree's table, `views/__init__.py`);
`classify` tells what the rest is, from two facts the view declares: the `depth` of an object's
directory (images/<name> is 2, snapshots/<snapshotter>/<key> is 3) and its named `subdirs`
(`labels/`), whose entries are stored names like the objects' own.

A view owns everything below its top-level directory: which entries exist, their stat and
contents, what may be written and how a complete value is stored, and which files of an
object a change through the mount makes stale. A view whose data is not in the store takes
its own source object in its constructor, like the store views take the `Context`.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from ..codec import SPEC_TYPE_URL, AnyValue
from ..containers import DEFAULT_RUNTIME
from ..editor import Editor
from ..errors import MetafsError, NotFound, NotPermitted  # NotPermitted: for the views
from ..store import Store
from .fields import Field
from .names import LongName

Path = tuple[str, ...]
LABELS = "labels"
EMPTY_SPEC = AnyValue(SPEC_TYPE_URL, b"{}")
_T = TypeVar("_T")


class ReadOnlyMount(MetafsError):
    errno = errno.EROFS
    kind = "read-only file system"


@dataclass(slots=True)
class Stat:
    is_dir: bool
    size: int = 0
    mtime: int = 0  # Unix nanoseconds
    ctime: int = 0
    writable: bool = False  # a directory: takes new entries (or files as scratch files)
    nlink: int = 0  # a directory's: 2 + its subdirectories, 1 when not counted; 0: 2


# What a path is (`classify`); plain ints, compared on every request.
NONE = 0  # no such place: a name outside every view, or too deep
ROOT = 1  # the mount's root
TOP = 2  # a collection's directory: images/
GROUP = 3  # a directory of stored names between the two: snapshots/<snapshotter>
OBJECT = 4  # an object's directory: images/<name>, snapshots/<snapshotter>/<key>
FILE = 5  # a file of an object: images/<name>/digest
SUBDIR = 6  # a named subdirectory of an object: images/<name>/labels
ENTRY = 7  # an entry of one: images/<name>/labels/<key>
DIRECTORIES = frozenset((ROOT, TOP, GROUP, OBJECT, SUBDIR))
ESCAPED = frozenset((TOP, GROUP, SUBDIR))  # whose entries are stored names (names.py)


def classify(path: Path, view: View | None) -> int:
    """What `path` is, `view` being the view of its first name (None for the root, or for a
    name that has none)."""
    n = len(path)
    if not n:
        return ROOT
    if view is None:
        return NONE
    depth = view.depth
    if n <= depth:
        return TOP if n == 1 else OBJECT if n == depth else GROUP
    if n == depth + 1:
        return SUBDIR if path[depth] in view.subdirs else FILE
    return ENTRY if n == depth + 2 and path[depth] in view.subdirs else NONE


@dataclass
class Context:
    """What the store views share: the store, the namespace, the mount's options, and objects
    kept once per mount for several views (`shared`). The views validate a change, then hand
    it to the `editor`: the store's, or a live node's containerd."""

    store: Store
    namespace: str
    editor: Editor
    readonly: bool = False
    default_runtime: str = DEFAULT_RUNTIME
    default_spec: AnyValue = EMPTY_SPEC
    started: int = 0  # Unix ns: the time of the fixed directories
    _shared: dict[type, object] = field(default_factory=dict)

    def shared(self, kind: type[_T]) -> _T:
        """The one `kind(self)` of this mount (say, a cache several views read through)."""
        found = self._shared.get(kind)
        if found is None:
            found = self._shared[kind] = kind(self)  # type: ignore[call-arg]
        return found  # type: ignore[return-value]


class View:
    """One collection: a directory at the root (named by the tree's table) and all below it.

    The defaults make a read-only view: every change is refused (EROFS on a read-only mount,
    EPERM otherwise). A view fills in `stat`, `entries` and `read`; one whose directories
    hold stored names also `resolve` (for long names). A view is made from the `Context` (by
    the table's factory); one whose data is not in the store takes its source object too.
    """

    depth = 2  # the length of an object directory's path
    subdirs: tuple[str, ...] = (LABELS,)  # named subdirectories of an object directory
    # Entries of an object directory that get inode numbers derived from their directory's
    # (no node, fs/inodes.py); only for views of depth 2, at most 15.
    fixed: tuple[str, ...] = ()
    # Whether the top directory is listed from `listing()`: its entries then cost no node until
    # they are looked up (listing.py). For collections that may hold 100k objects.
    listed = False
    # Fixed entries of an object whose attributes a change of one of its files makes stale.
    invalidates: tuple[str, ...] = ()
    # Whether the kernel may keep a read file's pages while its size and mtime stay the same;
    # False for data that changes without a commit (read from the view at every open).
    page_cache = True

    def __init__(self, context: Context) -> None:
        self.readonly = context.readonly
        self.started = context.started  # the mtime of directories without one of their own

    # ---- reading ------------------------------------------------------------------------

    def stat(self, path: Path) -> Stat | None:
        """What `path` (below the top directory) is, None if nothing."""
        raise NotImplementedError

    def entries(self, path: Path, after: str | None = None) -> Iterator[tuple[str, Stat | None]]:
        """(name, stat) of the entries of directory `path` in a stable order, those after
        `after`; a stat None for a directory whose attributes are read when asked for."""
        raise NotImplementedError

    def listing(self) -> list[str]:
        """Every name of the top directory, in listing order, the same list while nothing
        changes (for `listed` views)."""
        raise NotImplementedError

    def drop_idle(self, idle: float) -> None:
        """Forget what was kept for listings not asked for in `idle` seconds."""

    def read(self, path: Path) -> bytes:
        """The contents of the file at `path`."""
        raise NotFound("/".join(path))

    def resolve(self, path: Path, long: LongName) -> str | None:
        """The stored name in directory `path` that a long file name stands for."""
        return None

    def labels(self, path: Path) -> dict[str, str]:
        """The labels of an object directory, shown as its extended attributes."""
        return {}

    # ---- writing: refused unless a view says otherwise --------------------------------

    def check_writable(self) -> None:
        if self.readonly:
            raise ReadOnlyMount("the mount is read-only")

    def refuse(self, path: Path) -> NotPermitted:
        self.check_writable()
        return NotPermitted(f"{'/'.join(path)} is read-only")

    def writable_field(self, path: Path) -> Field:
        """How the file at `path` takes a value; NotPermitted for a read-only file."""
        raise self.refuse(path)

    def commit(self, path: Path, value: str) -> None:
        """Store a complete, parsed value written to the file at `path`."""
        raise self.refuse(path)

    def creatable(self, path: Path) -> bool:
        """Whether a new file may be made in directory `path` (a label in labels/)."""
        self.check_writable()
        return False

    def set_label(self, path: Path, key: str, value: str) -> None:
        raise self.refuse(path)

    def remove_label(self, path: Path, key: str) -> None:
        raise self.refuse(path)

    def mkdir(self, path: Path) -> None:
        raise self.refuse(path)

    def rmdir(self, path: Path) -> None:
        raise self.refuse(path)

    def unlink(self, path: Path) -> None:
        raise self.refuse(path)

    def rename(self, old: Path, new: Path, *, replace: bool = True) -> None:
        raise self.refuse(old)


def after_in(names: list[str], after: str | None) -> list[str]:
    """The names that follow `after` in a listing of fixed order."""
    if after is None:
        return names
    return names[names.index(after) + 1 :] if after in names else []
