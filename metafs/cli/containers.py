"""`metafs containers ls|info|create|label|rm`, as ctr's `containers` verbs behave and print."""

from __future__ import annotations

import sys

from .. import filters
from ..codec import RUNC_OPTIONS_TYPE_URL, AnyValue, format_time, now_ns, put_uvarint
from ..containers import Container, Containers, Runtime, spec_from_json
from ..errors import InvalidArgument
from ..gclabels import LABEL_ROOT
from ..images import Images
from ..snapshots import Snapshots
from ..store import Txn
from .common import computed, open_store, parse_labels, update
from .formats import (
    add_format_option,
    emit,
    emit_labels,
    go_json,
    go_json_compact,
    rfc3339,
    sorted_map,
)
from .options import (
    add_label_verb,
    add_ls_verb,
    add_rm_verb,
    default_snapshotter,
    label_paths,
    write_namespace,
)
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

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    import argparse

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


RM_DESCRIPTION = f"""\
Remove the containers, all or nothing: if one ID does not exist, nothing is removed (ctr
removes the others; both exit 1). Prints nothing, as ctr.

What only a removed container kept -- its snapshot, and the parents nothing else uses -- is
collected in the same transaction, as containerd's collector would after ctr removes a
container. A snapshot that another container uses, that a lease holds or that
{LABEL_ROOT} pins stays (ctr would remove the container's snapshot outright).

--keep-snapshot: ctr skips removing the snapshot, and containerd's collector removes it soon
after unless something else keeps it. metafs keeps it for real: it labels the snapshot
{LABEL_ROOT}=<time of removal, RFC 3339> (unless the label is there already),
containerd's own way to pin a snapshot. To let it go later:
  metafs snapshots --snapshotter SNAPSHOTTER rm KEY
or remove the pin and let the next collection decide:
  metafs snapshots --snapshotter SNAPSHOTTER label KEY {LABEL_ROOT}="""


def register(sub: argparse._SubParsersAction) -> None:
    import argparse  # here: a valid one-shot command line is parsed without it

    group = sub.add_parser(
        "containers",
        aliases=["container", "c"],
        help="list and change containers",
        description="Containers of the namespace (-n): metadata records, nothing runs.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    add_ls_verb(
        verbs,
        cmd_ls,
        FIELDS,
        quiet="print only the container ids",
        help="list containers",
        description=(
            "List containers as ctr does: CONTAINER IMAGE RUNTIME.\n"
            "--format json prints what `containers info` prints for each, without the Spec."
        ),
    )

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
        default=computed(default_snapshotter),
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

    add_label_verb(verbs, cmd_label, "ID", "container")

    rm = add_rm_verb(
        verbs,
        cmd_rm,
        "ids",
        "ID",
        help="remove containers",
        description=RM_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rm.add_argument(
        "--keep-snapshot",
        action="store_true",
        help=f"keep each container's snapshot (and its parents): label it {LABEL_ROOT}",
    )


def _any_json(value: AnyValue | None) -> dict[str, str] | None:
    """gogo's types.Any in JSON: empty fields omitted, value in base64."""
    if value is None:
        return None
    out = {}
    if value.type_url:
        out["type_url"] = value.type_url
    if value.value:
        import base64  # here: only JSON output needs it

        out["value"] = base64.b64encode(value.value).decode()
    return out


def _decoded_spec(spec: AnyValue) -> object:
    import json  # here: only JSON output needs it

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
    runtime = _runtime(args)
    spec = _spec(args, cmd_labels)  # once, out of the transaction that may run again: stdin
    key = args.id if args.snapshot_key is None else args.snapshot_key

    def change(tx: Txn) -> None:
        image = Images(tx, namespace).get(args.image)
        Containers(tx, namespace).create(
            Container(
                args.id,
                {**image.labels, **cmd_labels},
                image=image.name,
                runtime=runtime,
                spec=spec,
                snapshotter=args.snapshotter,
                snapshot_key=key,
            )
        )

    update(args, change)
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    if getattr(args, "containerd", False):
        from . import live_writes  # a live node's editor: only when asked for

        return live_writes.label(args, "containers")
    labels = parse_labels(args.labels)
    namespace = write_namespace(args)

    def change(tx: Txn) -> Container:
        containers = Containers(tx, namespace)
        if labels:
            return containers.update(Container(args.name, labels=labels), *label_paths(labels))
        return containers.get(args.name)

    emit_labels(update(args, change).labels)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    if getattr(args, "containerd", False):
        from . import live_writes  # a live node's editor: only when asked for

        return live_writes.delete(args, "containers", args.ids)
    namespace = write_namespace(args)

    def change(tx: Txn) -> None:
        containers = Containers(tx, namespace)
        for cid in dict.fromkeys(args.ids):
            if args.keep_snapshot:
                _pin_snapshot(tx, namespace, containers.get(cid))
            containers.delete(cid)

    update(args, change)
    return 0


def _pin_snapshot(tx: Txn, namespace: str, container: Container) -> None:
    """Label the container's snapshot gc.root, so that no collection removes it."""
    snapshots = Snapshots(tx, namespace)
    snapshotter, key = container.snapshotter, container.snapshot_key
    if not (snapshotter and key and snapshots.exists(snapshotter, key)):
        return
    if LABEL_ROOT not in snapshots.get(snapshotter, key).labels:
        snapshots.set_label(snapshotter, key, LABEL_ROOT, format_time(now_ns(), nanos=False))
