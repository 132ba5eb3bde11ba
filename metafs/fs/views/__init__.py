"""The collections of the mount, one view a top-level directory (see `view.View`).

A new collection is a module here with its `View` subclass, and one line in `STORE_VIEWS` (in
the order the root lists them). A view whose data is not in the store is made by a factory that
gives it its own source besides the `Context`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..view import Context, View
from .containers import ContainersView
from .content import ContentView
from .images import ImagesView
from .leases import LeasesView
from .snapshots import SnapshotsView

ViewFactory = Callable[[Context], View]

STORE_VIEWS: dict[str, ViewFactory] = {
    "images": ImagesView,
    "containers": ContainersView,
    "content": ContentView,
    "leases": LeasesView,
    "snapshots": SnapshotsView,
}
