"""Reading a running containerd's meta.db: consistent copies while containerd commits, and
never in containerd's way."""

from __future__ import annotations

import threading
import time

import pytest
from live_node import IMAGE, LiveNode, start_node

from metafs.bolt import BoltFile
from metafs.layout import BUCKET, KEY, component
from metafs.live.meta import snapshot


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> LiveNode:
    yield from start_node(tmp_path_factory)


def label_key(node: LiveNode, container: str, key: str) -> bytes:
    path = (b"v1", node.namespace.encode(), b"containers", container.encode(), b"labels")
    return b"".join(component(name, BUCKET) for name in path) + component(key.encode(), KEY)


def test_a_copy_holds_what_ctr_made(node: LiveNode) -> None:
    node.ctr("containers", "create", "--label", "n=0", IMAGE, "meta-1")
    _txid, entries = snapshot(str(node.meta_db))
    assert dict(entries)[label_key(node, "meta-1", "n")] == b"0"
    assert [k for k, _ in entries] == sorted(k for k, _ in entries)


def test_copies_taken_while_containerd_commits_are_whole(node: LiveNode) -> None:
    """ctr sets a label 1..N while copies are taken: each copy shows one committed value,
    never going back, and a later txid never shows an older value."""
    node.ctr("containers", "create", "--label", "n=0", IMAGE, "churn-1")
    key = label_key(node, "churn-1", "n")
    done = threading.Event()

    def writer() -> None:
        try:
            for i in range(1, 31):
                node.ctr("containers", "label", "churn-1", f"n={i}")
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[tuple[int, int]] = []
    try:
        while not done.is_set():
            txid, entries = snapshot(str(node.meta_db))
            seen.append((txid, int(dict(entries)[key])))
    finally:
        thread.join()
    txid, entries = snapshot(str(node.meta_db))
    seen.append((txid, int(dict(entries)[key])))
    assert seen[-1][1] == 30
    assert seen == sorted(seen), "a copy went back in time"
    assert len({value for _, value in seen}) > 2, "no copy was taken between two commits"


def test_an_open_reader_does_not_block_containerd(node: LiveNode) -> None:
    node.ctr("containers", "create", IMAGE, "block-1")
    with BoltFile(node.meta_db) as db:
        db.root().items()
        start = time.monotonic()
        node.ctr("containers", "label", "block-1", "x=1")
        assert time.monotonic() - start < 2
