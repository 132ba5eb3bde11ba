"""`metafs images ls|put|tag|rm|label`, as ctr's `images` verbs behave and print."""

from __future__ import annotations

from .. import filters
from ..errors import AlreadyExists
from ..images import Descriptor, Image, Images
from .common import open_store, parse_labels, update
from .formats import (
    emit,
    emit_labels,
    go_json,
    label_list,
    progress_bytes,
    rfc3339,
    sorted_map,
)
from .options import (
    add_label_verb,
    add_ls_verb,
    add_rm_verb,
    delete_present,
    label_paths,
    report_deleted,
    write_namespace,
)
from .tables import tabwrite

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

FIELDS: filters.Fields[Image] = filters.Fields(
    "images",
    {
        "name": lambda i: i.name,
        "target.digest": lambda i: i.target.digest,
        "target.mediatype": lambda i: i.target.media_type,
    },
    {"labels": lambda i: i.labels, "annotations": lambda i: i.target.annotations},
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    import argparse

    from ..store import Txn

LS_DESCRIPTION = """\
List the images of the namespace in ctr's columns: REF TYPE DIGEST SIZE PLATFORMS LABELS.

ctr computes SIZE and PLATFORMS from the image's content blobs (manifest, config, layers),
which live outside the metadata. metafs has only the metadata, so SIZE is the size of the
target descriptor (the manifest or index itself, e.g. "405.0 B" where ctr says "1004.5 KiB")
and PLATFORMS is "-"."""


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser(
        "images",
        aliases=["image", "i"],
        help="list and change images",
        description=(
            "Images of the namespace (-n): a name pointing at a target descriptor, plus labels."
        ),
    )
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    add_ls_verb(
        verbs,
        cmd_ls,
        FIELDS,
        quiet="print only the image names",
        help="list images",
        description=LS_DESCRIPTION,
    )

    put = verbs.add_parser(
        "put",
        help="create an image, or point an existing one at a new target",
        description=(
            "Create image NAME with the given target descriptor, or, if NAME exists, replace "
            "its target (keeping its labels and creation time). Prints NAME."
        ),
    )
    put.add_argument("name", metavar="NAME")
    put.add_argument("--digest", required=True, help="target digest, algorithm:hex")
    put.add_argument("--size", required=True, type=int, help="target size in bytes (> 0)")
    put.add_argument(
        "--media-type",
        default=OCI_MANIFEST,
        help=f"target media type (default: {OCI_MANIFEST})",
    )
    put.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also set a label (repeatable; KEY alone means KEY=true, KEY= removes it)",
    )
    put.set_defaults(func=cmd_put)

    tag = verbs.add_parser(
        "tag",
        help="make new names for an image",
        description=(
            "Create each DST as a copy of SRC: same target, labels and annotations, new "
            "creation time. All or nothing; prints each DST."
        ),
    )
    tag.add_argument(
        "--force",
        action="store_true",
        help="replace a DST that already exists (delete, then create, as ctr does)",
    )
    tag.add_argument("source", metavar="SRC")
    tag.add_argument("targets", nargs="+", metavar="DST")
    tag.set_defaults(func=cmd_tag)

    add_rm_verb(
        verbs,
        cmd_rm,
        "names",
        "NAME",
        help="remove images",
        description=(
            "Remove the named images and print each name removed. A NAME that does not exist "
            "gets a warning on stderr and is skipped, as ctr does (exit status 0). What only "
            "the removed images kept (the records of their target blobs, and the blobs and "
            "snapshots those reference) is collected in the same transaction: ctr's --sync "
            "waits for containerd's collector to do that, metafs always does it, so it has no "
            "--sync."
        ),
    )
    label = add_label_verb(verbs, cmd_label, "NAME", "image")
    label.add_argument(
        "-r", "--replace-all", action="store_true", help="replace all labels with the given ones"
    )


def image_json(image: Image) -> dict[str, object]:
    """containerd's images.Image as Go marshals it; Labels always an object."""
    target: dict[str, object] = {
        "mediaType": image.target.media_type,
        "digest": image.target.digest,
        "size": image.target.size,
    }
    if image.target.annotations:
        target["annotations"] = sorted_map(image.target.annotations)
    return {
        "Name": image.name,
        "Labels": sorted_map(image.labels),
        "Target": target,
        "CreatedAt": rfc3339(image.created_at),
        "UpdatedAt": rfc3339(image.updated_at),
    }


def cmd_ls(args: argparse.Namespace) -> int:
    match = filters.parse(args.filters, FIELDS)
    names_only = args.quiet and args.format != "json" and not match.alternatives
    with open_store(args, readonly=True) as store, store.read() as tx:
        if names_only:  # the names alone are much cheaper to read
            names = list(Images(tx, args.namespace).names())
        else:
            images = match.select(list(Images(tx, args.namespace).list()))
    if names_only:
        emit("".join(f"{name}\n" for name in names))
    elif args.format == "json":
        emit(go_json([image_json(i) for i in images]))
    elif args.quiet:
        emit("".join(f"{i.name}\n" for i in images))
    else:
        rows = ["REF\tTYPE\tDIGEST\tSIZE\tPLATFORMS\tLABELS\t\n"]
        rows += [
            f"{i.name}\t{i.target.media_type}\t{i.target.digest}\t"
            f"{progress_bytes(i.target.size)}\t-\t{label_list(i.labels)}\t\n"
            for i in images
        ]
        emit(tabwrite("".join(rows), minwidth=1, tabwidth=8, padding=1))
    return 0


def cmd_put(args: argparse.Namespace) -> int:
    labels = parse_labels(args.label)
    namespace = write_namespace(args)

    def change(tx: Txn) -> None:
        images = Images(tx, namespace)
        images.put(args.name, Descriptor(args.media_type, args.digest, args.size))
        if labels:
            images.update(Image(args.name, labels=labels), *label_paths(labels))

    update(args, change)
    emit(f"{args.name}\n")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    if getattr(args, "containerd", False):
        from . import live_writes  # a live node's editor: only when asked for

        return live_writes.images_tag(args)
    namespace = write_namespace(args)
    targets = list(dict.fromkeys(args.targets))

    def change(tx: Txn) -> None:
        images = Images(tx, namespace)
        source = images.get(args.source)
        for target in targets:
            copy = Image(target, source.target, dict(source.labels))
            try:
                images.create(copy)
            except AlreadyExists:
                if not args.force:
                    raise
                images.delete(target)
                images.create(copy)

    update(args, change)
    emit("".join(f"{target}\n" for target in targets))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    if getattr(args, "containerd", False):
        from . import live_writes  # a live node's editor: only when asked for

        return live_writes.delete(args, "images", args.names)
    namespace = write_namespace(args)
    deleted, skipped = update(
        args, lambda tx: delete_present(args.names, Images(tx, namespace).delete)
    )
    report_deleted(deleted, skipped)
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    if getattr(args, "containerd", False):
        from . import live_writes  # a live node's editor: only when asked for

        return live_writes.label(args, "images")
    labels = parse_labels(args.labels)
    namespace = write_namespace(args)

    def change(tx: Txn) -> Image:
        images = Images(tx, namespace)
        if args.replace_all:
            return images.update(Image(args.name, labels=labels), "labels")
        if labels:
            return images.update(Image(args.name, labels=labels), *label_paths(labels))
        return images.get(args.name)

    emit_labels(update(args, change).labels)
    return 0
