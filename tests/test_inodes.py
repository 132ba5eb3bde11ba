"""The inode table (`fs/inodes.py`), in process: numbering, lookup counts, forget, listed
entries, the sweep."""

from __future__ import annotations

import pytest

from metafs.errors import NotFound
from metafs.fs.inodes import ROOT, STRIDE, Inodes

FIXED = ("labels", "extensions", "createdat", "digest")


def table(max_nodes: int = 1000) -> Inodes:
    return Inodes({"images": FIXED}, listed=["images"], max_nodes=max_nodes)


def looked_up(inodes: Inodes, parent: int, *names: str) -> int:
    """The inode a walk of `names` from `parent` ends at, each step a kernel lookup."""
    ino = parent
    for name in names:
        ino = inodes.entry(ino, name)
    return ino


def test_fixed_entries_take_numbers_from_their_directory_and_no_node():
    inodes = table()
    image = looked_up(inodes, ROOT, "images", "a")
    nodes = len(inodes)
    digest, made = inodes.node_for(image, "digest")
    assert (digest, made) == (image + 1 + FIXED.index("digest"), False)
    assert len(inodes) == nodes
    assert inodes.path(digest) == ("images", "a", "digest")
    assert inodes.fixed_lookup(image, b"createdat") == (image + 3, ("images", "a", "createdat"))
    assert inodes.fixed_lookup(image, b"nope") is None
    assert inodes.fixed(image, "digest") == digest  # given to the kernel: to be invalidated
    assert inodes.fixed(image, "extensions") is None  # never given


def test_a_name_in_two_named_subdirectories_is_two_nodes():
    inodes = table()
    image = looked_up(inodes, ROOT, "images", "a")
    labels, extensions = image + 1, image + 2
    in_labels = inodes.entry(labels, "x")
    in_extensions = inodes.entry(extensions, "x")
    assert in_labels != in_extensions
    assert inodes.path(in_labels) == ("images", "a", "labels", "x")
    assert inodes.path(in_extensions) == ("images", "a", "extensions", "x")
    assert inodes.child(labels, "x") == in_labels
    assert inodes.child(extensions, "x") == in_extensions
    inodes.forget(in_labels, 1)
    assert inodes.child(labels, "x") is None
    assert inodes.child(extensions, "x") == in_extensions


def test_a_node_lives_while_the_kernel_holds_it_and_numbers_are_not_reused():
    inodes = table()
    top = looked_up(inodes, ROOT, "images")
    ino = inodes.entry(top, "a")
    inodes.hold(ino)
    inodes.forget(ino, 1)
    assert inodes.path(ino) == ("images", "a")
    inodes.forget(ino, 1)
    with pytest.raises(NotFound):
        inodes.path(ino)
    again = inodes.entry(top, "a")
    assert again != ino and again % STRIDE == 0


def test_listed_entries_cost_no_node_until_looked_up():
    inodes = table()
    top = looked_up(inodes, ROOT, "images")
    nodes = len(inodes)
    names = ["a", "b", "c"]
    given = list(inodes.listed_entries(top, names, 0))
    assert len(inodes) == nodes
    assert [inodes.path(ino) for ino in given] == [("images", n) for n in names]
    assert inodes.path(given[1] + 4) == ("images", "b", "digest")  # its fixed entries too
    # a lookup makes it a node with the same number and the listing's count
    assert inodes.entry(top, "b") == given[1]
    assert len(inodes) == nodes + 1
    # a later listing of the same names gives the same numbers
    again = list(inodes.listed_entries(top, list(names), 0))
    assert again == given
    inodes.forget(given[0], 2)  # once a listing
    with pytest.raises(NotFound):
        inodes.path(given[0])


def test_a_listed_entry_the_kernel_did_not_take_is_not_held():
    inodes = table()
    top = looked_up(inodes, ROOT, "images")
    entries = inodes.listed_entries(top, ["a", "b"], 0)
    first = next(entries)
    second = next(entries)  # asking for the next: the first was taken
    entries.close()  # the kernel's buffer was full: the second was not
    assert inodes.path(first) == ("images", "a")
    with pytest.raises(NotFound):
        inodes.path(second)


def test_a_renamed_node_moves_with_what_is_below_it():
    inodes = table()
    top = looked_up(inodes, ROOT, "images")
    image = inodes.entry(top, "a")
    label = inodes.entry(image + 1, "k")
    assert inodes.unlink(top, "a") == image
    inodes.move(image, top, "b")
    assert inodes.path(label) == ("images", "b", "labels", "k")
    assert inodes.child(top, "b") == image and inodes.child(top, "a") is None


def test_the_sweep_picks_the_least_recently_used_object_directories():
    inodes = table(max_nodes=10)
    top = looked_up(inodes, ROOT, "images")
    for i in range(12):
        inodes.entry(top, f"i{i}")
    inodes.entry(top, "i0")  # used again: the newest
    evicted = inodes.sweep()
    assert evicted == [(top, f"i{i}") for i in range(1, 6)]  # down to 9 (90%) of 14 nodes
    assert inodes.sweep() == []  # asked once: not counted again while the kernel forgets
