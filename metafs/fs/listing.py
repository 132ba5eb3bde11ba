"""The entries of images/ or containers/ that a listing gave the kernel and nothing has looked
up since.

pyfuse3 answers every readdir with readdirplus, so each listed entry makes the kernel take an
inode, which the daemon must answer for until the kernel forgets it. A node per entry costs
about 300 bytes with its places in the node table and its directory's children. Here an
entry costs its place in the listing's list of names (the tree's cached listing, shared) and
an 8-byte lookup count: entry i has inode number `base + i * stride`. A listing takes its
numbers only when the first of its entries needs one: a listing made after a commit mostly
gives the names of an earlier one, with their numbers. Something that needs more than its
name (a label below it, a rename, a lookup) makes it a node with the same number, taking its
count (`take`).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left


def _key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")  # the order names are listed in


class Listing:
    __slots__ = ("parent", "base", "stride", "names", "counts", "live", "_shift")

    def __init__(self, parent: int, stride: int, names: list[str]) -> None:
        self.parent = parent
        self.base = 0  # no numbers yet (see `number`)
        self.stride = stride
        self.names = names
        self.counts = array("Q", bytes(8 * len(names)))  # the kernel's lookups of each entry
        self.live = 0  # entries with a count
        self._shift = 0  # where the last name found was, against where it was looked for

    def number(self, base: int) -> int:
        """Give the entries their numbers, from `base` on; the first number after them."""
        self.base = base
        return base + len(self.names) * self.stride

    def ino(self, i: int) -> int:
        return self.base + i * self.stride

    def position(self, ino: int) -> int | None:
        """The position of the entry with number `ino`, if the kernel holds it."""
        offset = ino - self.base
        if not self.base or offset < 0 or offset % self.stride:
            return None
        i = offset // self.stride
        return i if i < len(self.names) and self.counts[i] else None

    def find(self, name: str, near: int = 0) -> int | None:
        """The position of `name`, if the kernel holds it. Looked for first at `near` moved by
        the last find's shift: two listings of the same directory are mostly alike."""
        names = self.names
        i = near + self._shift
        if not (0 <= i < len(names) and names[i] == name):
            i = bisect_left(names, _key(name), key=_key)
            if i == len(names) or names[i] != name:
                return None
            self._shift = i - near
        return i if self.counts[i] else None

    def hold(self, i: int) -> None:
        """Count one more lookup of entry i."""
        if not self.counts[i]:
            self.live += 1
        self.counts[i] += 1

    def release(self, i: int, count: int) -> None:
        """The kernel forgot `count` lookups of entry i."""
        left = self.counts[i] - count
        if left <= 0 and self.counts[i]:
            self.live -= 1
        self.counts[i] = max(left, 0)

    def take(self, i: int) -> int:
        """Entry i's count, which it no longer holds (it becomes a node)."""
        count = self.counts[i]
        if count:
            self.counts[i] = 0
            self.live -= 1
        return count
