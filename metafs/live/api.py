"""A client of containerd's gRPC API, over its unix socket, as ctr talks to it.

One `Containerd` keeps one channel (a mount keeps it for its lifetime, so a call costs a round
trip, not a connection). Requests and answers are the messages of our own reduced protos in
`metafs.live.proto`; the methods are called by their full gRPC names, so no generated service
code is needed. The namespace travels in the `containerd-namespace` metadata, as with ctr.

Errors become metafs errors with one line of text: containerd's NotFound, AlreadyExists,
InvalidArgument keep their meaning (and errno), FailedPrecondition (a task still running, say)
is `Busy` (EBUSY); a socket that is absent, refused or not containerd's is a `Unavailable`
naming the socket (EIO).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from .. import waiting
from ..errors import AlreadyExists, FailedPrecondition, InvalidArgument, MetafsError, NotFound
from . import PermissionDenied
from .proto import events_pb2, task_pb2, tasks_pb2, version_pb2

API_MAJOR = "1"  # containerd 1.x serves the v1 services this client speaks

R = TypeVar("R", bound=Message)


class Unavailable(MetafsError):
    """containerd does not answer on its socket (absent, refused, or something else there)."""

    errno = errno.EIO
    kind = "unavailable"


class Busy(FailedPrecondition):
    """containerd refuses a change in the object's present state (a running task)."""

    errno = errno.EBUSY


class NotAnswering(Unavailable):
    """Nobody listens on the socket (it is absent, or refuses): containerd is not running."""


_CODES: dict[grpc.StatusCode, type[MetafsError]] = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: Busy,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
}


class Containerd:
    """One connection to the containerd listening on `address`, in `namespace`."""

    def __init__(self, address: str, namespace: str, *, timeout: float = 10.0) -> None:
        self.address = address
        self.namespace = namespace
        self.timeout = timeout
        self._check_socket()
        self._channel = grpc.insecure_channel(
            f"unix://{address}", options=[("grpc.enable_http_proxy", 0)]
        )

    def _check_socket(self) -> None:
        try:
            mode = os.stat(self.address).st_mode
        except FileNotFoundError:
            raise NotAnswering(f"no containerd socket at {self.address}") from None
        except PermissionError:
            raise PermissionDenied(
                f"cannot reach containerd's socket {self.address} (root is needed)"
            ) from None
        if not stat.S_ISSOCK(mode):
            raise Unavailable(f"{self.address} is not a socket")
        if not os.access(self.address, os.R_OK | os.W_OK):
            raise PermissionDenied(
                f"cannot connect to containerd's socket {self.address} (root is needed)"
            )

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Containerd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (("containerd-namespace", self.namespace),)

    def call(self, method: str, request: Message, answer: type[R]) -> R:
        """Call `/containerd.services.<method>` (e.g. "tasks.v1.Tasks/List")."""
        stub = self._channel.unary_unary(
            f"/containerd.services.{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=answer.FromString,
        )
        try:
            return waiting.result(
                lambda: stub.future(request, timeout=self.timeout, metadata=self._metadata())
            )
        except grpc.RpcError as exc:
            raise self._error(exc, method) from None

    def _error(self, exc: Any, method: str) -> MetafsError:
        code, details = exc.code(), exc.details() or ""
        if code in _CODES:
            # containerd's messages end with ": not found" etc.; our errors add the kind back
            kind = _CODES[code]
            return kind(details.removesuffix(f": {kind.kind}"))
        if code == grpc.StatusCode.UNIMPLEMENTED:
            return Unavailable(
                f"the server on {self.address} does not serve {method} of containerd's "
                f"v{API_MAJOR} API (another version?)"
            )
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return NotAnswering(f"containerd on {self.address} does not answer ({details})")
        return MetafsError(f"containerd on {self.address}: {method}: {code.name}: {details}")

    # -- the calls metafs makes

    def version(self) -> version_pb2.VersionResponse:
        answer = self.call(
            "version.v1.Version/Version", empty_pb2.Empty(), version_pb2.VersionResponse
        )
        if not answer.version.lstrip("v").startswith(f"{API_MAJOR}."):
            raise Unavailable(
                f"containerd on {self.address} is version {answer.version}; "
                f"metafs speaks the API of containerd {API_MAJOR}.x"
            )
        return answer

    def tasks(self) -> list[task_pb2.Process]:
        """Every task of the namespace, in containerd's order (as `ctr task ls` shows them)."""
        answer = self.call(
            "tasks.v1.Tasks/List", tasks_pb2.ListTasksRequest(), tasks_pb2.ListTasksResponse
        )
        return list(answer.tasks)

    def task(self, container_id: str) -> task_pb2.Process:
        """The task of a container; `NotFound` if it has none."""
        answer = self.call(
            "tasks.v1.Tasks/Get",
            tasks_pb2.GetRequest(container_id=container_id),
            tasks_pb2.GetResponse,
        )
        return answer.process

    def pids(self, container_id: str) -> list[task_pb2.ProcessInfo]:
        """The processes of a container's task (`ctr task ps`)."""
        answer = self.call(
            "tasks.v1.Tasks/ListPids",
            tasks_pb2.ListPidsRequest(container_id=container_id),
            tasks_pb2.ListPidsResponse,
        )
        return list(answer.processes)

    def events(self, *filters: str) -> Iterator[events_pb2.Envelope]:
        """containerd's events as they happen (of every namespace), until the channel closes.

        `filters` use containerd's filter syntax, e.g. `topic~="/tasks/"`."""
        stub = self._channel.unary_stream(
            "/containerd.services.events.v1.Events/Subscribe",
            request_serializer=events_pb2.SubscribeRequest.SerializeToString,
            response_deserializer=events_pb2.Envelope.FromString,
        )
        stream = stub(events_pb2.SubscribeRequest(filters=list(filters)))
        try:
            yield from stream
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise self._error(exc, "events.v1.Events/Subscribe") from None
        finally:
            stream.cancel()
