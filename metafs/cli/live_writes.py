"""The write verbs with `--containerd`: the same changes as on a store, made through the
editor of a live node (containerd's API calls, `metafs.live.editor`), then read back from the
metadata containerd has committed, to print what the store's verbs print.

Each verb calls `editor.*` once per object, so that a list of names is not one transaction (as
with ctr): a failure stops at that name, the ones before it are done.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..containers import Containers
from ..errors import AlreadyExists, InvalidArgument
from ..images import Images
from . import live
from .common import open_store, parse_labels
from .formats import emit, emit_labels
from .options import delete_present, report_deleted, write_namespace

if TYPE_CHECKING:
    from ..live.editor import ContainerdEditor


def _editor(args: argparse.Namespace) -> ContainerdEditor:
    return live.editor(args.address, write_namespace(args))


def _labels(args: argparse.Namespace, kind: str, name: str) -> dict[str, str]:
    with open_store(args, readonly=True) as store, store.read() as tx:
        if kind == "images":
            return dict(Images(tx, args.namespace).get(name).labels)
        return dict(Containers(tx, args.namespace).get(name).labels)


def label(args: argparse.Namespace, kind: str) -> int:
    """`images label` and `containers label`: set (`k=v`) or remove (`k=`) labels; with
    `--replace-all` (images), every label not named is removed."""
    labels = parse_labels(args.labels)
    if getattr(args, "replace_all", False):
        labels = {key: "" for key in _labels(args, kind, args.name)} | labels
    if labels:
        with _editor(args) as editor:
            editor.set_labels(kind, args.name, labels)
    emit_labels(_labels(args, kind, args.name))
    return 0


def images_tag(args: argparse.Namespace) -> int:
    targets = list(dict.fromkeys(args.targets))
    with _editor(args) as editor:
        for target in targets:
            try:
                editor.copy_image(args.source, target)
            except AlreadyExists:
                if not args.force:
                    raise
                editor.delete("images", target)
                editor.copy_image(args.source, target)
    emit("".join(f"{target}\n" for target in targets))
    return 0


def delete(args: argparse.Namespace, kind: str, names: list[str]) -> int:
    """`images rm` (what does not exist is skipped with a warning, as ctr), `containers rm`
    and `leases rm` (each name printed, as ctr)."""
    if getattr(args, "keep_snapshot", False):
        raise InvalidArgument("--keep-snapshot is not available on a live node")
    with _editor(args) as editor:
        if kind == "images":
            deleted, skipped = delete_present(names, lambda name: editor.delete(kind, name))
            report_deleted(deleted, skipped)
            return 0
        for name in dict.fromkeys(names):
            editor.delete(kind, name)
    if kind == "leases":
        emit("".join(f"{name}\n" for name in dict.fromkeys(names)))
    return 0
