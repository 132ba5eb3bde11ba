"""A few sample images and containers, as containerd would hold them, for a first look.

`python -m metafs.samples [--store DIR] [-n NAMESPACE]` fills a namespace that has no images
and no containers yet, and leaves any other untouched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

from .cli.common import add_global_options, open_store
from .codec import RUNC_OPTIONS_TYPE_URL, SPEC_TYPE_URL, AnyValue
from .containers import Container, Containers, Runtime
from .images import Descriptor, Image, Images
from .store import Store

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

IMAGES = [
    ("docker.io/library/nginx:1.25", DOCKER_LIST, 1862, {}),
    ("docker.io/library/redis:7.2", OCI_INDEX, 9218, {"team": "cache"}),
    ("docker.io/library/alpine:3.19", OCI_INDEX, 1853, {}),
    ("registry.k8s.io/pause:3.9", DOCKER_LIST, 2761, {"io.cri-containerd.pinned": "pinned"}),
]
CONTAINERS = [
    ("web-1", "docker.io/library/nginx:1.25", ["nginx", "-g", "daemon off;"], "SIGQUIT"),
    ("cache-1", "docker.io/library/redis:7.2", ["docker-entrypoint.sh", "redis-server"], ""),
]


def fake_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def oci_spec(cid: str, args: list[str]) -> bytes:
    """An OCI runtime spec shaped like the one ctr writes (abridged)."""
    spec = {
        "ociVersion": "1.1.0",
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {
                key: ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"]
                for key in ("bounding", "effective", "permitted")
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs"},
        "hostname": cid,
        "mounts": [
            {
                "destination": "/proc",
                "type": "proc",
                "source": "proc",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "cgroupsPath": f"/default/{cid}",
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"],
        },
    }
    return json.dumps(spec, indent=4).encode()


def fill(store: Store, namespace: str) -> bool:
    """Add the samples to an empty namespace; False if it already holds something."""
    with store.write() as tx:
        images, containers = Images(tx, namespace), Containers(tx, namespace)
        if next(images.names(), None) is not None or next(containers.ids(), None) is not None:
            return False
        for name, media_type, size, labels in IMAGES:
            images.create(Image(name, Descriptor(media_type, fake_digest(name), size), labels))
        for cid, image, args, stop_signal in CONTAINERS:
            labels = {"io.containerd.image.config.stop-signal": stop_signal} if stop_signal else {}
            containers.create(
                Container(
                    cid,
                    labels=labels,
                    image=image,
                    runtime=Runtime("io.containerd.runc.v2", AnyValue(RUNC_OPTIONS_TYPE_URL)),
                    spec=AnyValue(SPEC_TYPE_URL, oci_spec(cid, args)),
                    snapshotter="overlayfs",
                    snapshot_key=cid,
                )
            )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metafs.samples", description=__doc__)
    add_global_options(parser)
    args = parser.parse_args(argv)
    with open_store(args) as store:
        if fill(store, args.namespace):
            print(
                f"metafs: added sample images and containers to {store.path} "
                f"(namespace {args.namespace})"
            )
        else:
            print(f"metafs: {store.path} already holds namespace {args.namespace}; unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
