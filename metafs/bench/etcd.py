"""The etcd comparison of `scripts/bench --etcd`: the same store of images on a private etcd
member and in LMDB, both mounted, the same operations timed on both in the same run, and the
ratios etcd/LMDB. The member listens on free loopback ports with its data under the bench's
work directory, and is stopped by its PID (never a system etcd)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from . import measure
from .data import IMAGE_FIELDS, NAMESPACE, build_store, image_dir, image_name
from .mounts import Mounts, metafs_command, metafs_env

SIZE = 5000
# a store grows by many small transactions; one of ~50k operations (an import) leaves etcd
# 3.4 answering 3-5x slower for a long while (docs/etcd.md), so the bench builds in pieces
IMAGES_PER_TRANSACTION = 250


@dataclass
class EtcdRow:
    operation: str
    unit: str
    lmdb: float  # seconds, median
    etcd: float
    target: str = ""


class Member:
    """One private etcd member; `stop()` ends it by its PID."""

    def __init__(self, work: Path) -> None:
        binary = shutil.which("etcd")
        if binary is None:
            raise RuntimeError("etcd is not installed: run scripts/install-etcd")
        client, peer = _free_ports(2)
        self.endpoint = f"127.0.0.1:{client}"
        self._log = (work / "etcd.log").open("ab")
        self._proc = subprocess.Popen(
            [
                binary,
                "--name=bench",
                f"--data-dir={work / 'etcd-data'}",
                f"--listen-client-urls=http://{self.endpoint}",
                f"--advertise-client-urls=http://{self.endpoint}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=bench=http://127.0.0.1:{peer}",
                "--max-txn-ops=100000",
                "--max-request-bytes=67108864",
                "--log-level=warn",
            ],
            stdout=self._log,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not self._healthy():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"etcd did not start (see {work / 'etcd.log'})")
            time.sleep(0.05)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.endpoint}/health", timeout=1) as answer:
                return bool(json.loads(answer.read()).get("health") == "true")
        except (OSError, ValueError):
            return False

    def locator(self, prefix: str) -> str:
        return f"etcd://{self.endpoint}/{prefix}"

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def compare(
    work: Path, mounts: Mounts, reps: int, writes: int, progress: Callable[[str], None]
) -> list[EtcdRow]:
    """Time stat, read, a durable label write and `images ls` on SIZE images in LMDB and on
    one etcd member, alternating, in this run."""
    member = Member(work)
    try:
        stores = {"lmdb": str(work / "etcd-cmp-store"), "etcd": member.locator("bench")}
        for kind, store in stores.items():
            started = time.perf_counter()
            build_store(store, SIZE, per_transaction=IMAGES_PER_TRANSACTION)
            progress(
                f"etcd: {kind} store of {SIZE} images in {time.perf_counter() - started:.1f} s"
            )
        mnts = {kind: work / f"etcd-cmp-mnt-{kind}" for kind in stores}
        for kind, store in stores.items():
            mounts.metafs(store, mnts[kind], work / f"etcd-cmp-{kind}.log")
        rows = _measure(stores, mnts, reps, writes)
        for mnt in mnts.values():
            mounts.unmount(mnt)
        return rows
    finally:
        member.stop()


def _measure(
    stores: dict[str, str], mnts: dict[str, Path], reps: int, writes: int
) -> list[EtcdRow]:
    # the mount keeps the last 256 objects read: 100 images stat'ed, 100 read
    statted, readable, writers = range(100), range(100, 200), list(range(200, 200 + writes))

    def paths(kind: str, images: list[int]) -> list[bytes]:
        base = os.fsencode(mnts[kind] / "images")
        return [
            b"%s/%s/%s" % (base, os.fsencode(image_dir(i)), f.encode())
            for i in images
            for f in IMAGE_FIELDS
        ]

    times: dict[tuple[str, str], list[float]] = {}

    def add(operation: str, kind: str, seconds: float | list[float]) -> None:
        times.setdefault((operation, kind), []).extend(
            seconds if isinstance(seconds, list) else [seconds]
        )

    # every field once first: what the mount then serves from its cache, as the issue means
    for kind in stores:
        measure.stat_each(paths(kind, list(statted)))
        measure.open_read_close_each(paths(kind, list(readable)))
    for _ in range(reps):
        for kind in stores:
            # the kernel forgets its entries: every stat is a lookup the daemon answers
            add("stat", kind, measure.stat_each(paths(kind, list(statted)), forget_first=True))
            add("read", kind, measure.open_read_close_each(paths(kind, list(readable))))
    dirs = [image_dir(i) for i in writers]
    for kind in stores:
        add("write", kind, measure.echo_latencies(mnts[kind] / "images", dirs, "bench-etcd"))
    for _ in range(min(reps, 3)):
        for kind, store in stores.items():
            command = metafs_command("--store", store, "-n", NAMESPACE, "images", "ls")
            add("ls", kind, measure.run_command(command, env=metafs_env()))
    for store in stores.values():
        _check_labels(store, writers)
    rows = [
        ("stat of a field (cached tree)", "stat", "µs", "≤ 2x LMDB"),
        ("open+read+close of a field (cached)", "read", "µs", "≤ 2x LMDB"),
        ("durable echo > labels/env", "write", "ms", "≤ 3 ms"),
        (f"`metafs images ls`, {SIZE} images", "ls", "s", "≤ 1 s"),
    ]
    return [
        EtcdRow(label, unit, median(times[op, "lmdb"]), median(times[op, "etcd"]), target)
        for label, op, unit, target in rows
    ]


def _check_labels(store: str, images: list[int]) -> None:
    from ..images import Images
    from ..store import Store

    with Store(store, readonly=True) as opened, opened.read() as tx:
        found = Images(tx, NAMESPACE)
        for i in images:
            if found.get(image_name(i)).labels.get("env") != "bench-etcd":
                raise RuntimeError(f"a label written to image {i} through {store} is not there")


def table(rows: list[EtcdRow], scale: dict[str, float]) -> str:
    lines = [
        "",
        f"LMDB and etcd (one private member on loopback), {SIZE} images, both mounted, the "
        "same operations alternated in this run; medians; ratio = etcd / LMDB. stat and read: "
        "of fields the mount has read once (served from its cache, kept current by the watch).",
        "",
        "| operation | unit | LMDB | etcd | ratio | target |",
        "|---|---|--:|--:|--:|---|",
    ]
    for row in rows:
        lmdb, etcd = row.lmdb * scale[row.unit], row.etcd * scale[row.unit]
        lines.append(
            f"| {row.operation} | {row.unit} | {lmdb:.3g} | {etcd:.3g} "
            f"| {row.etcd / row.lmdb:.1f}x | {row.target} |"
        )
    return "\n".join(lines) + "\n"
