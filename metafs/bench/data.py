"""The benchmark's data set: a store of N images and N/10 containers, and the same tree as plain
files, written from the stored objects so that both hold the same bytes."""

from __future__ import annotations

import os
from pathlib import Path

from ..codec import format_time
from ..containers import Container, Containers, Runtime, spec_from_json
from ..fs.names import encode
from ..images import Descriptor, Image, Images
from ..store import Store

NAMESPACE = "default"
MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
IMAGE_FIELDS = ("digest", "mediatype", "size", "createdat", "updatedat")
SPEC = '{"ociVersion":"1.1.0","process":{"args":["/bin/sh"],"cwd":"/"},"root":{"path":"rootfs"}}'


def image_name(i: int) -> str:
    return f"registry.example.com/team-{i % 97}/app-{i}:v{i % 5}"


def image_dir(i: int) -> str:
    """The file name of image `i` in `images/`."""
    return encode(image_name(i).encode()).decode()


def container_id(i: int) -> str:
    return f"ctr-{i:06d}"


def build_store(path: Path | str, n: int, per_transaction: int = 0) -> None:
    """N images (three labels each) and N/10 containers (two labels), in one transaction, or
    in transactions of `per_transaction` images (and then their containers)."""
    step = per_transaction or n
    with Store(path, sync=False) as store:
        for first in range(0, n, step):
            _build(store, range(first, min(n, first + step)), n)
        store.sync()


def _build(store: Store, numbers: range, n: int) -> None:
    with store.write() as tx:
        images = Images(tx, NAMESPACE)
        for i in numbers:
            digest = f"sha256:{i:064x}"
            labels = {
                "env": "prod" if i % 3 else "staging",
                "team": f"team-{i % 97}",
                "build": str(i),
            }
            images.create(
                Image(image_name(i), Descriptor(MEDIA_TYPE, digest, 1000 + i), labels=labels)
            )
        containers = Containers(tx, NAMESPACE)
        spec = spec_from_json(SPEC)
        for i in range(numbers.start, min(numbers.stop, n // 10)):
            containers.create(
                Container(
                    container_id(i),
                    labels={"env": "prod", "app": f"app-{i}"},
                    image=image_name(i),
                    runtime=Runtime("io.containerd.runc.v2"),
                    spec=spec,
                    snapshotter="overlayfs",
                    snapshot_key=container_id(i),
                )
            )


def image_files(image: Image) -> dict[str, str]:
    """What the mount shows in an image's directory, as relative path -> value."""
    t = image.target
    files = {
        "digest": t.digest,
        "mediatype": t.media_type,
        "size": str(t.size),
        "createdat": format_time(image.created_at),
        "updatedat": format_time(image.updated_at),
    }
    return files | _labels(image.labels)


def container_files(c: Container) -> dict[str, str]:
    files = {
        "image": c.image,
        "spec": c.spec.value.decode() if c.spec else "",
        "snapshotkey": c.snapshot_key,
        "runtime": c.runtime.name,
        "snapshotter": c.snapshotter,
        "createdat": format_time(c.created_at),
        "updatedat": format_time(c.updated_at),
    }
    return files | _labels(c.labels)


def _labels(labels: dict[str, str]) -> dict[str, str]:
    return {f"labels/{encode(k.encode()).decode()}": v for k, v in labels.items()}


def write_mirror(store_path: Path, root: Path) -> int:
    """Write the store's tree as plain files under `root`; the number of files in images/."""
    count = 0
    with Store(store_path, readonly=True) as store, store.read() as tx:
        for top, objects in (
            ("images", ((i.name, image_files(i)) for i in Images(tx, NAMESPACE).list())),
            ("containers", ((c.id, container_files(c)) for c in Containers(tx, NAMESPACE).list())),
        ):
            for name, files in objects:
                directory = root / top / encode(name.encode()).decode()
                (directory / "labels").mkdir(parents=True)
                for rel, value in files.items():
                    _write(directory / rel, value.encode() + b"\n")
                if top == "images":
                    count += len(files)
    return count


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
