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
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median, quantiles

from . import measure
from .data import IMAGE_FIELDS, NAMESPACE, build_store, image_dir, image_name
from .mounts import Mounts, metafs_command, metafs_env

SIZE = 5000
# a store grows by many small transactions; one of ~50k operations (an import) leaves etcd
# 3.4 answering 3-5x slower for a long while (docs/etcd.md), so the bench builds in pieces
IMAGES_PER_TRANSACTION = 250
STALL_SAMPLES = 3000  # stats timed one by one, per engine, with and without the load
LOADER_IMAGES = range(1000, SIZE)  # never read before the loader: each of its stats a miss


@dataclass
class EtcdRow:
    operation: str
    unit: str
    lmdb: float  # seconds, median (or the percentile the operation names)
    etcd: float
    target: str = ""
    # the same operation without load, when this row is it under load: ratios loaded/unloaded
    lmdb_unloaded: float | None = None
    etcd_unloaded: float | None = None


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
        return rows + _stall(work, stores, progress)
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


# Another client keeps the daemon busy with requests that need the store: a stat of a field of
# one image after another that the mount has not read (the mount keeps the last 256 objects
# read, so each is a miss). Paths come on stdin; it stats until SIGTERM, then prints how many.
_LOADER = r"""
import os, signal, sys
paths = sys.stdin.read().split("\n")
done = 0
def stop(*_):
    print(done, flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
os.stat(paths[0])
print("ready", flush=True)
while True:
    for path in paths:
        os.stat(path)
        done += 1
"""


def _stall(work: Path, stores: dict[str, str], progress: Callable[[str], None]) -> list[EtcdRow]:
    """Whether a request the mount answers from its cache waits while other requests wait on
    the store: a stat of a field read before, timed one by one, alone and while `_LOADER`
    runs. The mount has no kernel cache (`--cache-timeout 0`), so every stat reaches the
    daemon. (The load is reads, not writes: a commit makes the mount forget what it read.)"""
    times: dict[tuple[str, str], list[float]] = {}
    for kind, store in stores.items():
        mnt = work / f"etcd-stall-mnt-{kind}"
        with _uncached_mount(store, mnt, work / f"etcd-stall-{kind}.log"):
            images = mnt / "images"
            field = os.fsencode(images / image_dir(0) / "size")
            os.stat(field)  # read once: served from the mount's cache from now on
            times["alone", kind] = _stat_latencies(field, STALL_SAMPLES)
            with _loader([images / image_dir(i) / "size" for i in LOADER_IMAGES]) as count:
                times["loaded", kind] = _stat_latencies(field, STALL_SAMPLES)
            progress(f"etcd: {kind}: stats of fields not cached, meanwhile: {count():.0f}/s")

    def p99(values: list[float]) -> float:
        return quantiles(values, n=100)[98]

    rows = []
    for label, summary in (("median", median), ("p99", p99)):
        alone = {kind: summary(times["alone", kind]) for kind in stores}
        loaded = {kind: summary(times["loaded", kind]) for kind in stores}
        what = "stat of a cached field, no kernel cache"
        rows.append(EtcdRow(f"{what}, {label}", "µs", alone["lmdb"], alone["etcd"]))
        rows.append(
            EtcdRow(
                f"the same under load, {label}",
                "µs",
                loaded["lmdb"],
                loaded["etcd"],
                lmdb_unloaded=alone["lmdb"],
                etcd_unloaded=alone["etcd"],
            )
        )
    return rows


def _stat_latencies(path: bytes, count: int) -> list[float]:
    """Seconds of each of `count` stats of `path`."""
    clock, stat = time.perf_counter, os.stat
    times = []
    for _ in range(count):
        start = clock()
        stat(path)
        times.append(clock() - start)
    return times


@contextmanager
def _loader(paths: list[Path]) -> Iterator[Callable[[], float]]:
    """`_LOADER` running on `paths` for the block; yields what tells, after the block, how
    many stats a second it made."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOADER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    rate = 0.0
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("\n".join(map(str, paths)))
        proc.stdin.close()
        if proc.stdout.readline() != "ready\n":
            raise RuntimeError("the loader did not start")
        started = time.perf_counter()
        yield lambda: rate
        proc.send_signal(signal.SIGTERM)
        rate = int(proc.stdout.readline()) / (time.perf_counter() - started)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@contextmanager
def _uncached_mount(store: str, mnt: Path, log: Path) -> Iterator[None]:
    """`store` mounted at `mnt` without kernel cache, by a daemon of this process, unmounted
    and waited for whatever happens."""
    mnt.mkdir(parents=True, exist_ok=True)
    command = metafs_command("mount", "--store", store, "--foreground", "--cache-timeout", "0")
    with log.open("ab") as out:
        daemon = subprocess.Popen([*command, str(mnt)], env=metafs_env(), stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while not os.path.ismount(mnt):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the mount of {store} did not come up (see {log})")
            time.sleep(0.05)
        yield
    finally:
        if os.path.ismount(mnt):
            tool = shutil.which("fusermount3") or "fusermount"
            subprocess.run([tool, "-u", "-z", str(mnt)], stderr=subprocess.DEVNULL, check=False)
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


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
        "of fields the mount has read once (served from its cache, kept current by the watch). "
        "No kernel cache: the mount with --cache-timeout 0, each stat reaches the daemon; under "
        "load: while another process stats fields of images the mount has not read (each needs "
        "the store); in brackets: under load / no load.",
        "",
        "| operation | unit | LMDB | etcd | ratio | target |",
        "|---|---|--:|--:|--:|---|",
    ]
    for row in rows:
        lmdb, etcd = _figure(row.lmdb * scale[row.unit]), _figure(row.etcd * scale[row.unit])
        if row.lmdb_unloaded and row.etcd_unloaded:
            lmdb += f" ({row.lmdb / row.lmdb_unloaded:.1f}x)"
            etcd += f" ({row.etcd / row.etcd_unloaded:.1f}x)"
        lines.append(
            f"| {row.operation} | {row.unit} | {lmdb} | {etcd} "
            f"| {row.etcd / row.lmdb:.1f}x | {row.target} |"
        )
    return "\n".join(lines) + "\n"


def _figure(value: float) -> str:
    """Three significant digits, without an exponent."""
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"
