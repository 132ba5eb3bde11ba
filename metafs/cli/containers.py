"""`metafs containers ls|info|create|label|rm`, as ctr's `containers` verbs behave and print."""

from __future__ import annotations

import argparse
import base64
import json
import sys

from .. import filters
from ..codec import RUNC_OPTIONS_TYPE_URL, AnyValue, put_uvarint
from ..containers import Container, Containers, Runtime, spec_from_json
from ..errors import InvalidArgument
from ..images import Images
from .common import open_store, parse_labels
from .formats import (
    add_format_option,
    emit,
    go_json,
    go_json_compact,
    rfc3339,
    sorted_labels,
    sorted_map,
)
from .options import add_ls_arguments, default_snapshotter, write_namespace
from .tables import tabwrite

RUNC_V2 = "io.containerd.runc.v2"
RUNTIME_OPTIONS_TYPE_URL = "runtimeoptions.v1.Options"

FIELDS: filters.Fields[Container] = filters.Fields(
    "containers",
    {
        "id": lambda c: c.id,
        "image": lambda c: c.image,
        "runtime.name": lambda c: c.runtime.name,
        "snapshotter": lambda c: c.snapshotter,
    },
    {"labels": lambda c: c.labels},
)

CREATE_DESCRIPTION = """\
Record a new container ID made from IMAGE, as `ctr containers create` would, but as
metadata only: no snapshot is prepared and nothing runs.

- labels: IMAGE's labels, then each --label (KEY=VALUE; KEY alone means KEY=true; KEY=
  drops it). ctr also adds the labels of the image config blob, which metafs does not have.
- spec: --spec FILE (an OCI runtime spec in JSON; - reads stdin), or else a minimal spec:
  ociVersion 1.0.2-dev, root "rootfs", process cwd "/", user 0:0, args COMMAND ARG...,
  env from --env; the --label values become its annotations, as ctr does.
- runtime options: runc options for io.containerd.runc.v2 (as ctr); for another runtime,
  --runtime-config-path sets runtimeoptions.v1.Options; otherwise none.
- snapshot: --snapshotter (default $CONTAINERD_SNAPSHOTTER, else overlayfs) and
  --snapshot-key (default ID; an empty key records no snapshot)."""


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser(
        "containers",
        aliases=["container", "c"],
        help="list and change containers",
        description="Containers of the namespace (-n): metadata records, nothing runs.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    ls = verbs.add_parser(
        "ls",
        aliases=["list"],
        help="list containers",
        description=(
            "List containers as ctr does: CONTAINER IMAGE RUNTIME.\n"
            "--format json prints what `containers info` prints for each, without the Spec."
        ),
    )
    add_ls_arguments(ls, FIELDS, quiet="print only the container ids")
    ls.set_defaults(func=cmd_ls)

    info = verbs.add_parser(
        "info",
        help="print a container as ctr's JSON",
        description=(
            "Print the container as `ctr containers info` does: Go's field order, 4-space "
            "indent, Options and Extensions as {type_url, value (base64)}, and the Spec "
            "decoded from its JSON (shown as {type_url, value} when it is not JSON)."
        ),
    )
    info.add_argument("--spec", action="store_true", help="print only the spec")
    add_format_option(info, default="json")
    info.add_argument("id", metavar="ID")
    info.set_defaults(func=cmd_info)

    create = verbs.add_parser(
        "create",
        help="record a new container",
        description=CREATE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    create.add_argument("--runtime", default=RUNC_V2, help=f"runtime name (default: {RUNC_V2})")
    create.add_argument(
        "--runtime-config-path", metavar="PATH", help="config file of a non-runc runtime"
    )
    create.add_argument(
        "--snapshotter",
        default=default_snapshotter(),
        help="snapshotter name (default: $CONTAINERD_SNAPSHOTTER, else overlayfs)",
    )
    create.add_argument("--snapshot-key", metavar="KEY", help="snapshot key (default: ID)")
    create.add_argument("--spec", metavar="FILE", help="OCI runtime spec as JSON; - for stdin")
    create.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    create.add_argument("image", metavar="IMAGE", help="an image of the namespace")
    create.add_argument(
        "id",
        metavar="ID",
        help="letters and digits separated by single '.', '_' or '-'; at most 76 characters",
    )
    create.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="COMMAND [ARG...]",
        help="process args of the minimal spec (options go before IMAGE)",
    )
    create.set_defaults(func=cmd_create)

    label = verbs.add_parser(
        "label",
        help="set and clear labels of a container",
        description=(
            "KEY=VALUE sets, KEY alone means KEY=true, KEY= removes. Prints the container's "
            "labels afterwards, sorted, comma-separated."
        ),
    )
    label.add_argument("id", metavar="ID")
    label.add_argument("labels", nargs="*", metavar="KEY=VALUE")
    label.set_defaults(func=cmd_label)

    rm = verbs.add_parser(
        "rm",
        aliases=["remove", "delete", "del"],
        help="remove containers",
        description=(
            "Remove the containers' records, all or nothing. Their snapshots are kept, as "
            "with ctr's --keep-snapshot: metafs records metadata only, and containerd's "
            "garbage collector removes snapshots nothing references."
        ),
    )
    rm.add_argument(
        "--keep-snapshot",
        action="store_true",
        help="accepted for ctr compatibility; snapshots are always kept",
    )
    rm.add_argument("ids", nargs="+", metavar="ID")
    rm.set_defaults(func=cmd_rm)


def _any_json(value: AnyValue | None) -> dict[str, str] | None:
    """gogo's types.Any in JSON: empty fields omitted, value in base64."""
    if value is None:
        return None
    out = {}
    if value.type_url:
        out["type_url"] = value.type_url
    if value.value:
        out["value"] = base64.b64encode(value.value).decode()
    return out


def _decoded_spec(spec: AnyValue) -> object:
    try:
        return json.loads(spec.value)
    except ValueError:
        return _any_json(spec)


def container_json(c: Container, *, spec: bool = True) -> dict[str, object]:
    """containers.Container (containerd 1.6) as Go marshals it, the way ctr info prints it:
    nil maps are null, and a spec with a value is decoded and moved to the end."""
    out: dict[str, object] = {
        "ID": c.id,
        "Labels": sorted_map(c.labels) or None,
        "Image": c.image,
        "Runtime": {"Name": c.runtime.name, "Options": _any_json(c.runtime.options)},
    }
    decode = spec and c.spec is not None and bool(c.spec.value)
    if spec and not decode:
        out["Spec"] = _any_json(c.spec)
    out.update(
        {
            "SnapshotKey": c.snapshot_key,
            "Snapshotter": c.snapshotter,
            "CreatedAt": rfc3339(c.created_at),
            "UpdatedAt": rfc3339(c.updated_at),
            "Extensions": {name: _any_json(c.extensions[name]) for name in sorted_map(c.extensions)}
            or None,
        }
    )
    if decode:
        assert c.spec is not None
        out["Spec"] = _decoded_spec(c.spec)
    return out


def cmd_ls(args: argparse.Namespace) -> int:
    match = filters.parse(args.filters, FIELDS)
    ids_only = args.quiet and args.format != "json" and not match.alternatives
    with open_store(args, readonly=True) as store, store.read() as tx:
        if ids_only:  # the ids alone are much cheaper to read
            ids = list(Containers(tx, args.namespace).ids())
        else:
            containers = match.select(list(Containers(tx, args.namespace).list()))
    if ids_only:
        emit("".join(f"{cid}\n" for cid in ids))
    elif args.format == "json":
        emit(go_json([container_json(c, spec=False) for c in containers]))
    elif args.quiet:
        emit("".join(f"{c.id}\n" for c in containers))
    else:
        rows = ["CONTAINER\tIMAGE\tRUNTIME\t\n"]
        rows += [f"{c.id}\t{c.image or '-'}\t{c.runtime.name}\t\n" for c in containers]
        emit(tabwrite("".join(rows), minwidth=4, tabwidth=8, padding=4))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    with open_store(args, readonly=True) as store, store.read() as tx:
        container = Containers(tx, args.namespace).get(args.id)
    if args.spec:
        if container.spec is None:
            raise InvalidArgument(f'container "{args.id}" has no spec')
        emit(go_json(_decoded_spec(container.spec)))
    else:
        emit(go_json(container_json(container)))
    return 0


def _runtime(args: argparse.Namespace) -> Runtime:
    if args.runtime == RUNC_V2:
        if args.runtime_config_path:
            raise InvalidArgument(f"--runtime-config-path is not used by {RUNC_V2}")
        return Runtime(args.runtime, AnyValue(RUNC_OPTIONS_TYPE_URL))
    if args.runtime_config_path:
        path = args.runtime_config_path.encode()
        return Runtime(
            args.runtime,
            AnyValue(RUNTIME_OPTIONS_TYPE_URL, b"\x12" + put_uvarint(len(path)) + path),
        )
    return Runtime(args.runtime)


def _spec(args: argparse.Namespace, annotations: dict[str, str]) -> AnyValue:
    if args.spec is not None:
        if args.command or args.env:
            raise InvalidArgument("COMMAND and --env cannot be combined with --spec")
        if args.spec == "-":
            return spec_from_json(sys.stdin.buffer.read())
        try:
            with open(args.spec, "rb") as file:
                return spec_from_json(file.read())
        except OSError as exc:
            raise InvalidArgument(f'cannot read spec "{args.spec}": {exc.strerror}') from None
    process: dict[str, object] = {"user": {"uid": 0, "gid": 0}}
    if args.command:
        process["args"] = args.command
    if args.env:
        process["env"] = args.env
    process["cwd"] = "/"
    spec: dict[str, object] = {"ociVersion": "1.0.2-dev", "process": process}
    spec["root"] = {"path": "rootfs"}
    if annotations:
        spec["annotations"] = annotations
    return spec_from_json(go_json_compact(spec))


def cmd_create(args: argparse.Namespace) -> int:
    cmd_labels = parse_labels(args.label)
    namespace = write_namespace(args)
    with open_store(args) as store, store.write() as tx:
        image = Images(tx, namespace).get(args.image)
        labels = {**image.labels, **cmd_labels}
        key = args.id if args.snapshot_key is None else args.snapshot_key
        Containers(tx, namespace).create(
            Container(
                args.id,
                labels,
                image=image.name,
                runtime=_runtime(args),
                spec=_spec(args, cmd_labels),
                snapshotter=args.snapshotter,
                snapshot_key=key,
            )
        )
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    labels = parse_labels(args.labels)
    namespace = write_namespace(args)
    with open_store(args) as store, store.write() as tx:
        containers = Containers(tx, namespace)
        if labels:
            container = containers.update(
                Container(args.id, labels=labels), *(f"labels.{k}" for k in labels)
            )
        else:
            container = containers.get(args.id)
    emit(",".join(sorted_labels(container.labels)) + "\n")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    namespace = write_namespace(args)
    with open_store(args) as store, store.write() as tx:
        containers = Containers(tx, namespace)
        for cid in dict.fromkeys(args.ids):
            containers.delete(cid)
    return 0
