"""Listed entries: numbers from positions, names found again, the kernel's counts."""

from __future__ import annotations

import pytest

from metafs.fs.listing import Listing

# In listing order: the order of the stored (UTF-8, surrogate-escaped) bytes, in which an
# escaped byte 0x80 comes before "é" (0xC3 0xA9) though its code point is higher.
NAMES = ["a:1", "b:1", "c\udc80:1", "c\u00e9:1", "d:1"]


def listing() -> Listing:
    shown = Listing(parent=16, stride=16, names=NAMES)
    assert shown.number(160) == 240  # the first number after the listing's
    return shown


def test_numbers_follow_positions():
    unnumbered = Listing(parent=16, stride=16, names=NAMES)
    assert unnumbered.position(16) is None and unnumbered.position(0) is None
    shown = listing()
    assert [shown.ino(i) for i in range(5)] == [160, 176, 192, 208, 224]
    shown.hold(2)
    assert shown.position(192) == 2
    assert shown.position(176) is None  # not held
    assert shown.position(193) is None and shown.position(240) is None
    assert shown.position(144) is None


@pytest.mark.parametrize("near", [0, 2, 3, 4, 99, -5])
def test_a_held_name_is_found_whatever_the_hint(near):
    shown = listing()
    for i in range(5):
        shown.hold(i)
    for i, name in enumerate(NAMES):
        assert shown.find(name, near) == i
    assert shown.find("c:1", near) is None
    assert shown.find("zz", near) is None


def test_a_name_not_held_is_not_found():
    shown = listing()
    shown.hold(1)
    assert shown.find("a:1") is None
    assert shown.find("b:1") == 1


def test_counts_and_live_entries():
    shown = listing()
    shown.hold(0)
    shown.hold(0)
    shown.hold(3)
    assert shown.live == 2
    shown.release(0, 1)
    assert shown.live == 2 and shown.position(160) == 0
    shown.release(0, 5)  # more than held: none left, never negative
    assert shown.live == 1 and shown.position(160) is None
    shown.release(0, 1)
    assert shown.live == 1
    assert shown.take(3) == 1
    assert shown.live == 0 and shown.position(208) is None
    assert shown.take(3) == 0 and shown.live == 0
