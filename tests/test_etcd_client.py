"""metafs's etcd client against a real private etcd member: ranges in pages, transactions and
their limits, compaction, the watch, and an unreachable cluster."""

from __future__ import annotations

import threading
import time

import pytest
from etcd_cluster import MAX_REQUEST_BYTES, MAX_TXN_OPS, EtcdCluster, free_ports

from metafs.etcd.client import (
    Compacted,
    EtcdClient,
    RequestTooLarge,
    Unavailable,
    range_end,
)
from metafs.etcd.proto import etcd_pb2 as pb


def put(key: bytes, value: bytes) -> pb.RequestOp:
    return pb.RequestOp(request_put=pb.PutRequest(key=key, value=value))


@pytest.fixture
def client(etcd_server: EtcdCluster):
    with EtcdClient(etcd_server.endpoints) as client:
        yield client


def test_range_end():
    assert range_end(b"a/") == b"a0"
    assert range_end(b"a\xff") == b"b"
    assert range_end(b"\xff\xff") == b"\0"


def test_scan_reads_every_key_in_order_across_pages(client: EtcdClient, etcd_prefix: str):
    prefix = etcd_prefix.encode() + b"/"
    keys = [prefix + b"%04d" % i for i in range(250)]
    client.txn([], [put(key, key[::-1]) for key in reversed(keys)])
    _, revision = client.get(prefix)
    client.txn([], [put(prefix + b"0100", b"later")])  # not seen at the earlier revision
    for page in (1, 7, 100, 1000):
        got = [(kv.key, kv.value) for kv in client.scan(prefix, range_end(prefix), revision, page)]
        assert got == [(key, key[::-1]) for key in keys]


def test_compare_guards_a_transaction(client: EtcdClient, etcd_prefix: str):
    key = etcd_prefix.encode() + b"/commit"
    client.txn([], [put(key, b"1")])
    _, seen = client.get(key)
    guard = pb.Compare(
        key=key, target=pb.Compare.MOD, result=pb.Compare.LESS, mod_revision=seen + 1
    )
    assert client.txn([guard], [put(key, b"2")]).succeeded
    assert not client.txn([guard], [put(key, b"3")]).succeeded  # it changed since `seen`
    assert client.get(key)[0] == b"2"


def test_a_transaction_over_the_operation_limit_is_refused_whole(
    client: EtcdClient, etcd_prefix: str
):
    prefix = etcd_prefix.encode() + b"/"
    with pytest.raises(RequestTooLarge, match="max-txn-ops"):
        client.txn([], [put(prefix + b"%06d" % i, b"") for i in range(MAX_TXN_OPS + 1)])
    assert client.range(prefix, range_end(prefix), count_only=True).count == 0


def test_a_read_at_a_compacted_revision_fails_clearly(client: EtcdClient, etcd_prefix: str):
    key = etcd_prefix.encode() + b"/k"
    client.txn([], [put(key, b"old")])
    _, old = client.get(key)
    client.txn([], [put(key, b"new")])
    client.compact(old + 1)
    with pytest.raises(Compacted):
        client.get(key, revision=old)
    assert client.get(key)[0] == b"new"


def test_watch_reports_changes_in_its_range(client: EtcdClient, etcd_prefix: str):
    prefix = etcd_prefix.encode() + b"/"
    seen: list[tuple[int, bytes]] = []
    arrived = threading.Event()

    def on_events(revision, events):
        seen.extend((event.type, event.kv.key) for event in events)
        arrived.set()

    _, revision = client.get(prefix)
    watch = client.watch(prefix, range_end(prefix), revision + 1, on_events)
    try:
        client.txn([], [put(b"elsewhere", b"x")])
        client.txn([], [put(prefix + b"a", b"1")])
        delete = pb.DeleteRangeRequest(key=prefix + b"a")
        client.txn([], [pb.RequestOp(request_delete_range=delete)])
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            arrived.wait(0.1)
        assert seen == [(pb.Event.PUT, prefix + b"a"), (pb.Event.DELETE, prefix + b"a")]
    finally:
        watch.close()


def test_an_unreachable_cluster_fails_with_eio_in_time():
    (port,) = free_ports(1)
    with EtcdClient([f"127.0.0.1:{port}"], timeout=0.2, retry_for=0.5) as client:
        started = time.monotonic()
        with pytest.raises(Unavailable) as caught:
            client.get(b"x")
        assert time.monotonic() - started < 3
        assert caught.value.errno == 5


def test_a_transaction_over_the_byte_limit_is_refused_whole(client: EtcdClient, etcd_prefix: str):
    prefix = etcd_prefix.encode() + b"/"
    big = b"x" * (MAX_REQUEST_BYTES // 4)
    with pytest.raises(RequestTooLarge, match="max-request-bytes"):
        client.txn([], [put(prefix + b"%d" % i, big) for i in range(5)])
    assert client.range(prefix, range_end(prefix), count_only=True).count == 0
