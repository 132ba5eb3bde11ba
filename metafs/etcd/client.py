"""A small synchronous etcd v3 client over gRPC: ranges, transactions, a watch, status.

Only what metafs's etcd engine needs. The messages come from metafs's own etcd.proto (package
`metafs.etcd.v3`); the method paths are etcd's. One channel serves every endpoint given: gRPC
picks the first that answers and moves on when it fails. Calls that fail because the cluster
has no leader or a member went away are retried until `retry_for` seconds have passed, then
raise `Unavailable` (EIO). A transaction is retried only where that cannot apply it twice: see
`EtcdEngine`, which compares a commit key.
"""

from __future__ import annotations

import errno
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc

from .. import waiting
from ..errors import Conflict, InvalidArgument, MetafsError
from .proto import etcd_pb2 as pb

# a read of 100k keys is ~10 MiB: no receive limit (gRPC's default is 4 MiB)
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    ("grpc.lb_policy_name", "pick_first"),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_retries", 0),
]
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
# etcd 3.4 counts every key left in a range on each limited page, so many small pages read a
# large range in quadratic time: pages are this large (about 1-10 MiB of metafs's keys)
PAGE = 100_000
_UNREACHABLE_FOR = 3.0  # seconds to keep trying when no endpoint accepts a connection


class Unavailable(MetafsError):
    """etcd could not be reached, or had no leader, for longer than the client waits."""

    errno = errno.EIO
    kind = "etcd unavailable"


class Compacted(Conflict):
    """A read at a revision etcd has compacted away: start the read again (a Conflict:
    `Store.update` runs its transaction again)."""

    errno = errno.EAGAIN
    kind = "revision compacted, try again"


class RequestTooLarge(MetafsError):
    """etcd refused a transaction over its --max-txn-ops or --max-request-bytes."""

    errno = errno.EFBIG
    kind = "transaction too large for etcd"


class _FutureRevision(Exception):
    """A serializable read at a revision the member has not applied yet."""


def range_end(prefix: bytes) -> bytes:
    """The end of the range of keys starting with `prefix` (etcd's "prefix end")."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # every key


def grpc_target(endpoints: Sequence[str]) -> str:
    """One gRPC target for all `endpoints` (HOST:PORT each): names are resolved here, since
    gRPC's list form takes addresses only."""
    if len(endpoints) == 1:
        return endpoints[0]
    families, addresses = set(), []
    for endpoint in endpoints:
        host, _, port = endpoint.rpartition(":")
        try:
            family, *_, address = socket.getaddrinfo(
                host.strip("[]"), int(port), type=socket.SOCK_STREAM
            )[0]
        except (OSError, ValueError) as exc:
            raise Unavailable(f'etcd endpoint "{endpoint}": {exc}') from exc
        families.add(family)
        ip = str(address[0])
        addresses.append(f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}")
    if len(families) > 1:
        raise InvalidArgument("etcd endpoints: give all IPv4 or all IPv6 addresses")
    return ("ipv6:" if socket.AF_INET6 in families else "ipv4:") + ",".join(addresses)


class EtcdClient:
    def __init__(
        self, endpoints: Sequence[str], *, timeout: float = 2.0, retry_for: float = 4.0
    ) -> None:
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self.retry_for = retry_for
        self._channel = grpc.insecure_channel(grpc_target(self.endpoints), _CHANNEL_OPTIONS)
        self._range = self._method("/etcdserverpb.KV/Range", pb.RangeResponse)
        self._txn = self._method("/etcdserverpb.KV/Txn", pb.TxnResponse)
        self._compact = self._method("/etcdserverpb.KV/Compact", pb.CompactionResponse)
        self._status = self._method("/etcdserverpb.Maintenance/Status", pb.StatusResponse)
        self._watch = self._channel.stream_stream(
            "/etcdserverpb.Watch/Watch",
            request_serializer=pb.WatchRequest.SerializeToString,
            response_deserializer=pb.WatchResponse.FromString,
        )

    def _method(self, path: str, response: Any) -> grpc.UnaryUnaryMultiCallable:
        return self._channel.unary_unary(
            path,
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response.FromString,
        )

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> EtcdClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls --

    def call(
        self,
        method: grpc.UnaryUnaryMultiCallable,
        request: Any,
        retry: bool = True,
        timeout: float | None = None,
    ) -> Any:
        """`method(request)`, retried while etcd is unreachable or without a leader. A
        request answers in milliseconds, or is stuck with a member that lost its leader: the
        short `timeout` gets it out of there."""
        started = time.monotonic()
        deadline = started + self.retry_for
        delay = 0.05
        wait = timeout or self.timeout
        while True:
            try:
                return waiting.result(lambda: method.future(request, timeout=wait))
            except grpc.RpcError as exc:
                code, details = exc.code(), exc.details() or ""
                if code == grpc.StatusCode.OUT_OF_RANGE and "compacted" in details:
                    raise Compacted(f"etcd: {details}") from None
                if code == grpc.StatusCode.OUT_OF_RANGE and "future" in details:
                    raise _FutureRevision(details) from None
                if code == grpc.StatusCode.INVALID_ARGUMENT and "too many operations" in details:
                    raise RequestTooLarge(f"etcd: {details} (raise --max-txn-ops)") from None
                if code == grpc.StatusCode.RESOURCE_EXHAUSTED or "too large" in details:
                    raise RequestTooLarge(f"etcd: {details} (raise --max-request-bytes)") from None
                if code not in _TRANSIENT and "leader" not in details:
                    raise MetafsError(f"etcd {code.name}: {details}") from None
                if "failed to connect to all addresses" in details:
                    # no member listens at all: not worth the wait for an election
                    deadline = min(deadline, started + _UNREACHABLE_FOR)
                if not retry or time.monotonic() + delay > deadline:
                    raise Unavailable(f"etcd {', '.join(self.endpoints)}: {details}") from None
            waiting.pause(delay)
            delay = min(delay * 2, 0.5)

    def range(
        self,
        key: bytes,
        end: bytes = b"",
        *,
        revision: int = 0,
        limit: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
        serializable: bool = False,
    ) -> pb.RangeResponse:
        """Keys in [key, end) (just `key` if no `end`), at `revision` (0: the latest).
        `serializable`: answered by the member itself, without asking the leader (half the
        time); a member that has not applied `revision` yet says so, and then the leader is
        asked after all."""
        request = pb.RangeRequest(
            key=key,
            range_end=end,
            revision=revision,
            limit=limit,
            keys_only=keys_only,
            count_only=count_only,
            serializable=serializable,
        )
        if not serializable:
            return self.call(self._range, request)
        try:
            return self.call(self._range, request)
        except _FutureRevision:
            request.serializable = False
            return self.call(self._range, request)

    def get(self, key: bytes, revision: int = 0) -> tuple[bytes | None, int]:
        """(value or None, the revision read at)."""
        answer = self.range(key, revision=revision)
        return (answer.kvs[0].value if answer.kvs else None), answer.header.revision

    def scan(
        self, key: bytes, end: bytes, revision: int, page: int = PAGE
    ) -> Iterator[pb.KeyValue]:
        """Every key-value in [key, end) at `revision` (nonzero), in key order, in pages."""
        while True:
            answer = self.range(key, end, revision=revision, limit=page)
            yield from answer.kvs
            if not answer.more or not answer.kvs:
                return
            key = answer.kvs[-1].key + b"\0"

    def txn(
        self,
        compare: Sequence[pb.Compare],
        success: Sequence[pb.RequestOp],
        failure: Sequence[pb.RequestOp] = (),
        *,
        retry: bool = False,
    ) -> pb.TxnResponse:
        request = pb.TxnRequest(compare=compare, success=success, failure=failure)
        # a big Txn (an import) takes its time: ~20 µs an operation on this machine
        timeout = self.timeout + 1e-4 * (len(success) + len(failure))
        return self.call(self._txn, request, retry=retry, timeout=timeout)

    def compact(self, revision: int) -> None:
        self.call(self._compact, pb.CompactionRequest(revision=revision, physical=True))

    def status(self) -> pb.StatusResponse:
        return self.call(self._status, pb.StatusRequest())

    def watch(
        self,
        key: bytes,
        end: bytes,
        start_revision: int,
        on_events: Callable[[int, Sequence[pb.Event]], None],
    ) -> Watch:
        """Call `on_events(revision, events)` from a thread for every change in [key, end)
        from `start_revision` on, until the returned `Watch` is closed."""
        return Watch(self, key, end, start_revision, on_events)


class Watch:
    """A watch kept open by a thread, resumed after the revision it last saw when its stream
    breaks (a member lost, say)."""

    def __init__(
        self,
        client: EtcdClient,
        key: bytes,
        end: bytes,
        start_revision: int,
        on_events: Callable[[int, Sequence[pb.Event]], None],
    ) -> None:
        self._client = client
        self._key, self._end = key, end
        self.next_revision = start_revision
        self._on_events = on_events
        self._closed = threading.Event()
        self._requests: queue.Queue[pb.WatchRequest | None] = queue.Queue()
        self._call: Any = None
        self._call_lock = threading.Lock()
        self.created = threading.Event()
        self._thread = threading.Thread(target=self._run, name="etcd-watch", daemon=True)
        self._thread.start()

    def _request_stream(self, first: pb.WatchRequest) -> Iterator[pb.WatchRequest]:
        yield first
        while (request := self._requests.get()) is not None:
            yield request

    def _run(self) -> None:
        while not self._closed.is_set():
            create = pb.WatchCreateRequest(
                key=self._key, range_end=self._end, start_revision=self.next_revision
            )
            self._requests = queue.Queue()
            try:
                with self._call_lock:  # close() cancels what is made here
                    if self._closed.is_set():
                        return
                    self._call = self._client._watch(
                        self._request_stream(pb.WatchRequest(create_request=create)),
                        wait_for_ready=True,
                    )
                for answer in self._call:
                    if answer.created:
                        self.created.set()
                    if answer.compact_revision:
                        # missed changes were compacted away: report from there on
                        self.next_revision = answer.compact_revision
                        self._on_events(answer.compact_revision, ())
                        break
                    if answer.canceled:
                        break
                    if answer.events:
                        self.next_revision = answer.events[-1].kv.mod_revision + 1
                        self._on_events(answer.header.revision, answer.events)
            except grpc.RpcError:
                pass
            finally:
                self._requests.put(None)
            self._closed.wait(0.1)

    def close(self) -> None:
        with self._call_lock:
            self._closed.set()
            if self._call is not None:
                self._call.cancel()
        self._requests.put(None)
        self._thread.join(timeout=5)
