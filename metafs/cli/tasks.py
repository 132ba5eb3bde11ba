"""`metafs --containerd tasks ls|ps`: a node's tasks, as `ctr task ls|ps` prints them.

Tasks are read from containerd's API. When containerd does not answer, `tasks ls` reads the
runtime's files instead (runc's rule, `metafs.live.tasks`) and says so on stderr: the statuses
are then what runc would say, and no exit status is known.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ..errors import InvalidArgument, NotFound
from ..live import CGROUP_MOUNT, PermissionDenied
from . import live
from .formats import emit, warn
from .options import add_ls_verb
from .tables import tabwrite

if TYPE_CHECKING:  # grpc loads with the commands that need it
    from google.protobuf.any_pb2 import Any

    from ..live.tasks import Task

PROCESS_DETAILS = "containerd.runc.v1.ProcessDetails"


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser(
        "tasks",
        aliases=["task", "t"],
        help="list a live node's tasks (with --containerd)",
        description="The tasks of a running containerd (needs --containerd): what runs now.",
    )
    group.add_argument(
        "--runc-root",
        default=None,
        help="runc's state root (default: the task's own options, else /run/containerd/runc)",
    )
    group.add_argument("--proc-root", default="/proc", help="where /proc is (default /proc)")
    group.add_argument("--cgroup-root", default=CGROUP_MOUNT, help="where the cgroups are mounted")
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)
    add_ls_verb(
        verbs,
        cmd_ls,
        None,
        quiet="print only the task ids",
        help="list tasks",
        description="TASK, PID and STATUS, as ctr. If containerd does not answer, the status "
        "comes from the runtime's files (runc's rule), with a warning.",
    )
    ps = verbs.add_parser(
        "ps", help="list a task's processes", description="PID and INFO, as ctr task ps."
    )
    ps.add_argument("id", metavar="CONTAINER")
    ps.set_defaults(func=cmd_ps)


def _need_containerd(args: argparse.Namespace) -> None:
    if not args.containerd:
        raise InvalidArgument("tasks exist only in a running containerd: use --containerd")


def _list(args: argparse.Namespace) -> list[Task]:
    live.need_grpc()
    from ..live import tasks
    from ..live.api import NotAnswering

    try:
        with live.client(args) as client:
            return tasks.api_tasks(client)
    except NotAnswering as exc:
        where = live.roots(args).bundles(args.namespace)
        try:
            found = tasks.state_tasks(live.roots(args), args.namespace)
        except PermissionError:
            raise PermissionDenied(
                f"{exc.message}, and {where} cannot be read (reading a node needs root)"
            ) from None
        warn(f"{exc.message}: statuses from the runtime's files in {where}, no exit status")
        return found


def cmd_ls(args: argparse.Namespace) -> int:
    _need_containerd(args)
    found = _list(args)
    if args.format == "json":
        rows = [
            {"ID": t.id, "PID": t.pid, "Status": t.shown_status}
            | ({"ExitStatus": t.exit_status, "ExitedAt": t.exited_at} if t.exited_at else {})
            for t in found
        ]
        emit(json.dumps(rows, indent=4) + "\n")
    elif args.quiet:
        emit("".join(f"{t.id}\n" for t in found))
    else:
        text = "TASK\tPID\tSTATUS\t\n" + "".join(
            f"{t.id}\t{t.pid}\t{t.shown_status}\n" for t in found
        )
        emit(tabwrite(text, minwidth=4, tabwidth=8, padding=4))
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    _need_containerd(args)
    with live.client(args) as client:
        try:
            client.task(args.id)
        except NotFound as exc:
            if exc.message.startswith("task "):  # the container exists, without a task
                raise NotFound(f"no running task found: {exc.message}") from None
            raise
        rows = [(p.pid, _info(p.info)) for p in client.pids(args.id)]
    text = "PID\tINFO\n" + "".join(f"{pid}\t{info}\n" for pid, info in rows)
    emit(tabwrite(text, minwidth=1, tabwidth=8, padding=4))
    return 0


def _info(info: Any) -> str:
    """What ctr prints for a process's info: "-" for none, else the Go value it decodes to."""
    from ..live.proto import runc_pb2

    if not info.type_url:
        return "-"
    if info.type_url.removeprefix("types.containerd.io/") == PROCESS_DETAILS:
        details = runc_pb2.ProcessDetails.FromString(info.value)
        return f"&ProcessDetails{{ExecID:{details.exec_id},XXX_unrecognized:[],}}"
    return info.type_url
