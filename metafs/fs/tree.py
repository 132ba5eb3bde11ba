"""The whole mount as directories and files: the root, and a view per collection (no FUSE here).

The tree holds the views in a table keyed by top-level name (`views.STORE_VIEWS` by default),
lists them at the root in the table's order, and hands every path to the view of its first
name. What a path is inside a view is `view.classify`'s to say.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..codec import AnyValue, now_ns
from ..containers import DEFAULT_RUNTIME
from ..editor import Editor
from ..errors import NotFound
from ..store import Store
from .fields import Field
from .names import LongName
from .view import (
    DIRECTORIES,
    EMPTY_SPEC,
    ESCAPED,
    NONE,
    TOP,
    Context,
    NotPermitted,
    Path,
    ReadOnlyMount,
    Stat,
    View,
    after_in,
    classify,
)
from .views import STORE_VIEWS, ViewFactory


class Tree:
    """One namespace of a store (and whatever else the views show), as directories and files."""

    def __init__(
        self,
        store: Store,
        namespace: str,
        editor: Editor,
        *,
        readonly: bool = False,
        default_runtime: str = DEFAULT_RUNTIME,
        default_spec: AnyValue = EMPTY_SPEC,
        views: Mapping[str, ViewFactory] = STORE_VIEWS,
    ) -> None:
        self.readonly = readonly
        self.started = now_ns()  # the time of the fixed directories
        self.context = Context(
            store, namespace, editor, readonly, default_runtime, default_spec, self.started
        )
        self.views: dict[str, View] = {name: make(self.context) for name, make in views.items()}
        self._top = list(self.views)

    def view(self, path: Path) -> View:
        """The view of a path below the root; ENOENT for a name that has none."""
        view = self.views.get(path[0])
        if view is None:
            raise NotFound("/".join(path))
        return view

    def kind(self, path: Path) -> int:
        """What `path` is (`view.classify`)."""
        return classify(path, self.views.get(path[0]) if path else None)

    def is_dir(self, path: Path) -> bool:
        return classify(path, self.views.get(path[0]) if path else None) in DIRECTORIES

    def escaped(self, parent: Path) -> bool:
        """Whether the entries of directory `parent` are stored names (escaped) or fixed."""
        return self.kind(parent) in ESCAPED

    # ---- reading ------------------------------------------------------------------------

    def stat(self, path: Path) -> Stat | None:
        """What `path` is, or None if it does not exist."""
        if not path:
            return Stat(True, mtime=self.started, nlink=2 + len(self._top))
        view = self.views.get(path[0])
        return None if view is None else view.stat(path)

    def entries(self, path: Path, after: str | None = None) -> Iterator[tuple[str, Stat | None]]:
        """(name, stat) of the entries of a directory in a stable order, those after `after`; a
        stat None for a directory whose attributes are read when asked for."""
        if path:
            return self.view(path).entries(path, after)
        return ((name, self.views[name].stat((name,))) for name in after_in(self._top, after))

    def listing(self, top: str) -> list[str]:
        """Every name of a `listed` view's directory (see `View.listing`)."""
        return self.views[top].listing()

    def drop_idle_listings(self, idle: float) -> None:
        for view in self.views.values():
            view.drop_idle(idle)

    def read(self, path: Path) -> bytes:
        """The contents of a file: its value and one newline."""
        if not path:
            raise NotFound("/")
        return self.view(path).read(path)

    def resolve(self, path: Path, long: LongName) -> str | None:
        """The stored name in directory `path` that a long file name stands for."""
        return self.view(path).resolve(path, long) if path else None

    def labels(self, path: Path) -> dict[str, str]:
        """The labels of the object at `path`, shown as extended attributes."""
        return self.view(path).labels(path)

    # ---- writing ------------------------------------------------------------------------

    def check_writable(self) -> None:
        if self.readonly:
            raise ReadOnlyMount("the mount is read-only")

    def _writer(self, path: Path) -> View:
        if not path:
            self.check_writable()
            raise NotPermitted("/ is read-only")
        return self.view(path)

    def writable_field(self, path: Path) -> Field:
        """How the file at `path` takes a value; NotPermitted for a read-only file."""
        return self._writer(path).writable_field(path)

    def commit(self, path: Path, value: str) -> None:
        """Store a complete, parsed value written to the file at `path`."""
        self._writer(path).commit(path, value)

    def creatable(self, parent: Path) -> bool:
        """Whether a new file may be made in directory `parent`."""
        return self._writer(parent).creatable(parent)

    def set_label(self, path: Path, key: str, value: str) -> None:
        """Set (or, with an empty value, remove) one label of the object at `path`."""
        self._writer(path).set_label(path, key, value)

    def remove_label(self, path: Path, key: str) -> None:
        self._writer(path).remove_label(path, key)

    def mkdir(self, path: Path) -> None:
        if self.kind(path) in (TOP, NONE):
            self.check_writable()
            raise NotPermitted("directories are made only in images/ and containers/")
        self._writer(path).mkdir(path)

    def rmdir(self, path: Path) -> None:
        if self.kind(path) in (TOP, NONE):
            self.check_writable()
            raise NotPermitted(f"{'/'.join(path)} cannot be removed")
        self._writer(path).rmdir(path)

    def unlink(self, path: Path) -> None:
        self._writer(path).unlink(path)

    def rename(self, old: Path, new: Path, *, replace: bool = True) -> None:
        """Within one view only (an image, a label within one object)."""
        view = self._writer(old)
        if self.kind(old) == TOP or len(new) <= 1 or new[0] != old[0]:
            self.check_writable()
            raise NotPermitted("only renames within one directory")
        view.rename(old, new, replace=replace)
