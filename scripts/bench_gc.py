"""How long the garbage collector takes on a big namespace, per delete.

    python scripts/bench_gc.py [--images 10000] [--containers 1000] [--chains 500]

Builds (in a temporary directory) one namespace as containerd leaves it after pulls and runs:
images tagged four to a manifest, each manifest referencing a config and three layers by
label, each config an unpacked chain of four committed snapshots, each container an active
snapshot on a chain; then times a full dry-run collection and real container and image
deletes (each one durable transaction: delete, collect, commit with fsync).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metafs import (  # noqa: E402
    Container,
    Containers,
    Content,
    Descriptor,
    Image,
    Images,
    Leases,
    Runtime,
    Snapshots,
    Store,
    gc,
)
from metafs.containers import spec_from_json  # noqa: E402

NS = "default"
REF = "containerd.io/gc.ref."


def digest(seed: object) -> str:
    return "sha256:" + hashlib.sha256(str(seed).encode()).hexdigest()


def build(store: Store, n_images: int, n_containers: int, n_chains: int) -> None:
    n_manifests, n_layers = n_images // 4, 1000
    spec = spec_from_json('{"ociVersion": "1.0.2-dev", "process": {"args": ["sh"]}}')
    with store.write() as tx:
        content, snapshots = Content(tx, NS), Snapshots(tx, NS)
        for chain in range(n_chains):
            parent = ""
            for depth in range(4):
                key = digest(f"chain-{chain}-{depth}")
                snapshots.create("overlayfs", key, parent)
                parent = key
        for layer in range(n_layers):
            content.create(digest(f"layer-{layer}"), 1 << 20)
        for m in range(n_manifests):
            top = digest(f"chain-{m % n_chains}-3")
            content.create(digest(f"config-{m}"), 1000, {f"{REF}snapshot.overlayfs": top})
            labels = {f"{REF}content.config": digest(f"config-{m}")}
            for i in range(3):
                labels[f"{REF}content.l.{i}"] = digest(f"layer-{(m * 3 + i) % n_layers}")
            content.create(digest(f"manifest-{m}"), 405, labels)
        images = Images(tx, NS)
        for i in range(n_images):
            target = Descriptor(
                "application/vnd.oci.image.manifest.v1+json", digest(f"manifest-{i // 4}"), 405
            )
            images.create(
                Image(
                    f"registry.example.com/app-{i // 4}:v{i % 4}",
                    target,
                    {"team": f"t{i % 7}", "env": "prod", "owner": "ops"},
                )
            )
        containers = Containers(tx, NS)
        for c in range(n_containers):
            key = f"ctr-{c}"
            snapshots.create("overlayfs", key, digest(f"chain-{c % n_chains}-3"))
            containers.create(
                Container(
                    key,
                    {"app": "web", "tier": "frontend"},
                    f"registry.example.com/app-{c}:v0",
                    Runtime("io.containerd.runc.v2"),
                    spec,
                    "overlayfs",
                    key,
                )
            )
        leases = Leases(tx, NS)
        for i in range(5):
            leases.create(f"lease-{i}")


def timed(action) -> tuple[float, float]:
    """Wall-clock and CPU seconds (CPU time is steadier on a busy machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--containers", type=int, default=1_000)
    parser.add_argument("--chains", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with Store.open(Path(tmp) / "store", sync=False) as store:
            took, _ = timed(lambda: build(store, args.images, args.containers, args.chains))
            store.sync()
        print(
            f"built {args.images} images, {args.containers} containers, "
            f"{args.chains * 4 + args.containers} snapshots, "
            f"{args.images // 4 * 2 + 1000} blobs in {took:.1f} s"
        )
        with Store.open(Path(tmp) / "store") as store:

            def dry_run() -> None:
                with store.read() as tx:
                    assert gc.collect(tx, NS, dry_run=True) == []

            def delete_container(cid: str) -> None:
                with store.write() as tx:
                    Containers(tx, NS).delete(cid)

            def delete_image(name: str) -> None:
                with store.write() as tx:
                    Images(tx, NS).delete(name)

            def relabel(cid: str) -> None:  # a transaction of the same size without collection
                with store.write() as tx:
                    Containers(tx, NS).set_label(cid, "bench", "1")

            rows = [
                ("full collection, dry run", [timed(dry_run) for _ in range(args.repeat)]),
                (
                    "label write (no collection), durable",
                    [timed(lambda c=c: relabel(f"ctr-{c}")) for c in range(args.repeat)],
                ),
                (
                    "container delete + collection, durable",
                    [timed(lambda c=c: delete_container(f"ctr-{c}")) for c in range(args.repeat)],
                ),
                (
                    "image delete + collection, durable",
                    [
                        timed(lambda i=i: delete_image(f"registry.example.com/app-{i}:v0"))
                        for i in range(args.repeat)
                    ],
                ),
            ]
    print(f"{'median of ' + str(args.repeat):42} {'wall':>9} {'CPU':>9}")
    for name, times in rows:
        wall = statistics.median(t[0] for t in times) * 1000
        cpu = statistics.median(t[1] for t in times) * 1000
        print(f"{name:42} {wall:6.1f} ms {cpu:6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
