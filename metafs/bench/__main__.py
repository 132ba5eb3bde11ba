"""`scripts/bench` (`python -m metafs.bench`): build stores of N images, mount each, mirror
it as plain files on a tmpfs, time the same operations on both, pinned to one CPU and not, and
print (and save) a table of medians with the ratios metafs/tmpfs."""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from statistics import median

from ..images import Images
from ..store import Store
from . import etcd, measure
from .data import IMAGE_FIELDS, NAMESPACE, build_store, image_dir, image_name, write_mirror
from .mounts import Mounts, metafs_command, metafs_env

PHASES = ("pinned", "unpinned")
SCALE = {"µs": 1e6, "ms": 1e3, "s": 1.0}
LS_SIZE = 5000


@dataclass
class Result:
    tmpfs: float | None  # seconds, median
    metafs: float
    requests: float | None = None  # FUSE requests per operation
    plain: float | None = None  # the plain pyfuse3 daemon (plain.py), pinned only


@dataclass
class Row:
    operation: str
    n: int
    unit: str
    target: str = ""
    results: dict[str, Result] = field(default_factory=dict)


@dataclass
class Memory:
    n: int
    files: int
    mounted: tuple[int, int]  # VmRSS and RssAnon, bytes
    walked: tuple[int, int]
    walk_tmpfs: float
    walk_metafs: float


@dataclass
class Settings:
    sizes: list[int]
    reps: int
    stat_images: int  # images whose fields are stat'ed, per repetition
    read_images: int  # images whose fields are opened and read, per phase
    writes: int  # label writes per phase
    grep_max: int  # largest N that grep -r runs over
    etcd: bool = False  # also compare LMDB with etcd (etcd.py)
    etcd_only: bool = False


class Bench:
    def __init__(self, settings: Settings, work: Path, mounts: Mounts) -> None:
        self.s = settings
        self.work = work
        self.mounts = mounts
        self.rows: list[Row] = []
        self.memory: list[Memory] = []
        self.etcd_rows: list[etcd.EtcdRow] = []
        self.ls_available = (
            subprocess.run(
                metafs_command("images", "ls", "--help"),
                env=metafs_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            ).returncode
            == 0
        )

    def run(self) -> None:
        if self.s.etcd or self.s.etcd_only:
            pin("unpinned")
            self.etcd_rows = etcd.compare(
                self.work, self.mounts, self.s.reps, 2 * self.s.writes, progress
            )
        if self.s.etcd_only:
            return
        if self.ls_available:
            store = self.work / f"store-{LS_SIZE}"
            progress(f"building a store of {LS_SIZE} images for images ls")
            build_store(store, LS_SIZE)
            self._check_listing(store, LS_SIZE)
            row = self._row(f"`metafs images ls`, {LS_SIZE} images", LS_SIZE, "s", "≤ 0.5 s")
            for phase in PHASES:
                pin(phase)
                self._images_ls(row, phase, store, self.s.reps)
            shutil.rmtree(store)
        for n in self.s.sizes:
            self.size(n)

    def size(self, n: int) -> None:
        store, mirror, mnt = (self.work / f"{kind}-{n}" for kind in ("store", "tmpfs", "metafs"))
        started = time.perf_counter()
        build_store(store, n)
        progress(f"N={n}: store built in {time.perf_counter() - started:.1f} s")
        self.mounts.tmpfs(mirror)
        files = write_mirror(store, mirror)
        pid = self.mounts.metafs(store, mnt, self.work / f"mount-{n}.log")
        mounted_rss = measure.resident_bytes(pid)
        check_same(mirror, mnt, n)
        plain = self.work / f"plain-{n}"
        plain_pid = self.mounts.plain(mirror, plain, self.work / f"plain-{n}.log")
        progress(f"N={n}: mirrored and mounted ({files} files in images/)")
        order = list(range(n))
        random.Random(n).shuffle(order)
        for phase in PHASES:
            pin(phase, plain_pid)
            pin(phase, pid)
            roots = {"tmpfs": mirror, "metafs": mnt}
            if phase == "pinned":
                roots["plain"] = plain
            order = self._phase(phase, n, pid, roots, store, files, order)
        self.mounts.unmount(plain)
        pin("unpinned", pid)
        (walked, walk_tmpfs), (_, walk_metafs) = time_walk(mirror), time_walk(mnt)
        self.memory.append(
            Memory(n, walked, mounted_rss, measure.resident_bytes(pid), walk_tmpfs, walk_metafs)
        )
        progress(f"N={n}: walked")
        self.mounts.unmount(mnt)
        self.mounts.unmount(mirror)
        shutil.rmtree(store)

    def _phase(
        self,
        phase: str,
        n: int,
        pid: int,
        roots: dict[str, Path],
        store: Path,
        files: int,
        order: list[int],
    ) -> list[int]:
        """Measure one phase on images from `order` on the trees in `roots` (tmpfs, metafs and
        perhaps plain); the images it did not use."""
        s = self.s
        reps = s.reps
        progress(f"N={n}: {phase}")
        mirror, mnt = roots["tmpfs"], roots["metafs"]

        per_rep = max(1, min(s.stat_images, n // (4 * reps)))
        chunks = [order[i * per_rep : (i + 1) * per_rep] for i in range(reps)]
        order = order[reps * per_rep :]
        row = self._row("stat of a distinct field", n, "µs", "≤ 14x")
        self._compare(
            row,
            phase,
            pid,
            roots,
            reps,
            len(chunks[0]) * len(IMAGE_FIELDS),
            lambda side, rep: measure.stat_each(
                field_paths(roots[side], chunks[rep]), forget_first=True
            ),
        )

        k = max(1, min(s.read_images, n // 10))
        readable, order = order[:k], order[k:]
        paths = {side: field_paths(root, readable) for side, root in roots.items()}
        for side in paths:
            measure.open_read_close_each(paths[side])  # warm: every name looked up once
        row = self._row("open+read+close of a field", n, "µs", "≤ 13x")
        self._compare(
            row,
            phase,
            pid,
            roots,
            reps,
            len(paths["tmpfs"]),
            lambda side, rep: measure.open_read_close_each(paths[side]),
        )

        row = self._row("readdir of images/", n, "ms", "≤ 6x at 100k")
        self._compare(
            row,
            phase,
            pid,
            roots,
            reps,
            1,
            lambda side, rep: measure.list_directory(os.fsencode(roots[side] / "images"), n),
        )

        if n <= s.grep_max:
            row = self._row("grep -r over images/, per file", n, "µs", "≤ 11x")
            self._compare(
                row,
                phase,
                pid,
                roots,
                min(reps, 3),
                files,
                lambda side, rep: measure.grep_tree(roots[side] / "images") / files,
            )

        k = max(1, min(s.writes, n // 10))
        writers, order = order[:k], order[k:]
        dirs = [image_dir(i) for i in writers]
        value = f"bench-{phase}"
        # First to labels not written in this phase, then to the same again at once, as a
        # script setting labels in a loop does: the kernel then holds the names.
        for operation, target, written in (
            ("durable echo > labels/env", "≤ 1 ms median", value),
            ("the same echo again, at once", "", f"{value}-2"),
        ):
            row = self._row(operation, n, "ms", target)
            tmpfs_times = measure.echo_latencies(mirror / "images", dirs, written)
            before = measure.requests_served(pid)
            metafs_times = measure.echo_latencies(mnt / "images", dirs, written)
            requests = (measure.requests_served(pid) - before) / len(dirs)
            row.results[phase] = Result(median(tmpfs_times), median(metafs_times), requests)
            check_labels(store, writers, written)

        # The floor under a durable echo, measured on the same disk at the same time: the
        # same images' label changed again, in this process.
        row = self._row("the same write in process (LMDB commit with sync)", n, "ms")
        row.results[phase] = Result(
            None,
            median(
                measure.commit_latencies(store, [image_name(i) for i in writers], f"{value}-again")
            ),
        )
        check_labels(store, writers, f"{value}-again")

        if self.ls_available:
            row = self._row(f"`metafs images ls`, {n} images", n, "s")
            self._images_ls(row, phase, store, min(reps, 3))
        return order

    def _row(self, operation: str, n: int, unit: str, target: str = "") -> Row:
        for row in self.rows:
            if (row.operation, row.n) == (operation, n):
                return row
        row = Row(operation, n, unit, target)
        self.rows.append(row)
        return row

    def _compare(
        self,
        row: Row,
        phase: str,
        pid: int,
        roots: dict[str, Path],
        reps: int,
        ops: int,
        run: Callable[[str, int], float],
    ) -> None:
        """Alternate tmpfs and metafs `reps` times, then time the plain daemon if it is in
        `roots` (after one untimed run: in between, the kernel's entries of a longer cycle
        would expire, and metafs's figures would change with the plain daemon's); medians,
        and metafs's FUSE requests per op."""
        tmpfs, metafs, requests = [], [], 0
        for rep in range(reps):
            tmpfs.append(run("tmpfs", rep))
            before = measure.requests_served(pid)
            metafs.append(run("metafs", rep))
            requests += measure.requests_served(pid) - before
        plain = None
        if "plain" in roots:
            run("plain", 0)
            plain = median(run("plain", rep) for rep in range(reps))
        row.results[phase] = Result(median(tmpfs), median(metafs), requests / (reps * ops), plain)

    def _images_ls(self, row: Row, phase: str, store: Path, reps: int) -> None:
        command = metafs_command("--store", store, "-n", NAMESPACE, "images", "ls")
        times = [measure.run_command(command, env=metafs_env()) for _ in range(reps)]
        row.results[phase] = Result(None, median(times))

    def _check_listing(self, store: Path, n: int) -> None:
        done = subprocess.run(
            metafs_command("--store", store, "images", "ls"),
            env=metafs_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        if len(done.stdout.splitlines()) != n + 1:
            raise RuntimeError(f"images ls printed {len(done.stdout.splitlines())} lines")


def field_paths(root: Path, images: list[int]) -> list[bytes]:
    base = os.fsencode(root / "images")
    return [
        b"%s/%s/%s" % (base, os.fsencode(image_dir(i)), f.encode())
        for i in images
        for f in IMAGE_FIELDS
    ]


def check_same(mirror: Path, mnt: Path, n: int) -> None:
    """The mirror must hold what the mount shows: the same names, and for a sample of
    objects the same files with the same bytes."""
    for top in ("images", "containers"):
        names = sorted(os.listdir(mirror / top))
        if names != sorted(os.listdir(mnt / top)):
            raise RuntimeError(f"{top}/ differs between the mount and the mirror")
        for name in names[:: max(1, len(names) // 5)]:
            for sub in ("", "labels"):
                a, b = mirror / top / name / sub, mnt / top / name / sub
                listed = sorted(os.listdir(a))
                if listed != sorted(os.listdir(b)):
                    raise RuntimeError(f"{top}/{name}/{sub} lists differently on the mount")
                for entry in listed:
                    if (a / entry).is_file() and (a / entry).read_bytes() != (
                        b / entry
                    ).read_bytes():
                        raise RuntimeError(f"{top}/{name}/{sub}/{entry} differs on the mount")


def check_labels(store: Path, images: list[int], value: str) -> None:
    """Every label written through the mount is in the store."""
    with Store(store, readonly=True) as s, s.read() as tx:
        found = Images(tx, NAMESPACE)
        for i in images:
            if found.get(image_name(i)).labels.get("env") != value:
                raise RuntimeError(f"label written to image {i} is not in the store")


def time_walk(root: Path) -> tuple[int, float]:
    """The number of files walked, and the seconds it took."""
    start = time.perf_counter()
    files = measure.walk(root)
    return files, time.perf_counter() - start


def pin(phase: str, pid: int | None = None) -> None:
    """Pinned: this process (and so the tools it runs) and every thread of the daemon on CPU 0."""
    cpus = {0} if phase == "pinned" else set(range(os.cpu_count() or 1))
    os.sched_setaffinity(0, cpus)
    if pid is not None:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(tid), cpus)


_STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"bench: {time.monotonic() - _STARTED:6.1f} s  {message}", file=sys.stderr, flush=True)


# ---- the table -------------------------------------------------------------------------------


def _number(seconds: float | None, unit: str) -> str:
    if seconds is None:
        return "—"
    value = seconds * SCALE[unit]
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def _ratio(seconds: float | None, baseline: float | None) -> str:
    return f"{seconds / baseline:.1f}x" if seconds is not None and baseline else "—"


def table(bench: Bench, load: tuple[str, str]) -> str:
    head = [
        f"metafs benchmark, {time.strftime('%Y-%m-%d %H:%M')}: {os.cpu_count()} CPUs, "
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"pyfuse3 {version('pyfuse3')}; load average {load[0]} at start, {load[1]} at end",
        "",
        "Medians; ratio = metafs / tmpfs measured in the same run; plain pyfuse3 = the same "
        "tree served read-only by a plain pyfuse3 daemon (metafs/bench/plain.py), pinned, and "
        "its ratio to tmpfs; req/op = FUSE requests the metafs daemon received per operation "
        "(pinned run).",
        "",
        "| operation | N | unit | pinned: tmpfs | metafs | ratio | plain pyfuse3 | ratio "
        "| unpinned: tmpfs | metafs | ratio | req/op | target (pinned) |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    lines = []
    for row in bench.rows:
        cells = [row.operation, str(row.n), row.unit]
        for phase in PHASES:
            r = row.results.get(phase)
            if r is None:
                cells += ["—", "—", "—"] + (["—", "—"] if phase == "pinned" else [])
                continue
            cells += [
                _number(r.tmpfs, row.unit),
                _number(r.metafs, row.unit),
                _ratio(r.metafs, r.tmpfs),
            ]
            if phase == "pinned":
                cells += [_number(r.plain, row.unit), _ratio(r.plain, r.tmpfs)]
        pinned = row.results.get("pinned")
        cells.append(f"{pinned.requests:.2f}" if pinned and pinned.requests is not None else "—")
        cells.append(row.target)
        lines.append("| " + " | ".join(cells) + " |")
    memory = [
        "",
        "Daemon memory (VmRSS; in brackets its anonymous part, the daemon's own memory without "
        "the mapped store) and a full walk of the tree (every directory listed, every file "
        "stat'ed), unpinned; target: ≤ 150 MB after walking 100k images, not growing with N.",
        "",
        "| N | files walked | VmRSS (anon) after mount | VmRSS (anon) after walk | walk: tmpfs "
        "| metafs | ratio |",
        "|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for m in bench.memory:
        memory.append(
            f"| {m.n} | {m.files} | {_megabytes(m.mounted)} | {_megabytes(m.walked)} "
            f"| {m.walk_tmpfs:.2f} s | {m.walk_metafs:.2f} s "
            f"| {m.walk_metafs / m.walk_tmpfs:.1f}x |"
        )
    text = "\n".join(head + lines + memory) + "\n"
    if bench.etcd_rows:
        text += etcd.table(bench.etcd_rows, SCALE)
    return text


def _megabytes(rss: tuple[int, int]) -> str:
    return f"{rss[0] / 2**20:.0f} MB ({rss[1] / 2**20:.0f} MB)"


def parse_args(argv: list[str] | None) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument(
        "--sizes",
        default=None,
        help="numbers of images, comma-separated (default 1000,10000,100000; with --quick 1000)",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--etcd",
        action="store_true",
        help="also compare LMDB with etcd on 5000 images (needs scripts/install-etcd)",
    )
    parser.add_argument("--etcd-only", action="store_true", help="only the etcd comparison")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 5, quick 3)")
    parser.add_argument(
        "--grep-max",
        type=int,
        default=10000,
        help="largest N that grep -r runs over (default 10000)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("bench-results.txt"),
        help="where the table is written (default bench-results.txt)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="for stores and mount points (default: a new directory in /var/tmp)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    sizes = args.sizes or ("1000" if quick else "1000,10000,100000")
    settings = Settings(
        sizes=[int(size) for size in sizes.split(",")],
        reps=args.reps or (3 if quick else 5),
        stat_images=100 if quick else 1000,
        read_images=50 if quick else 200,
        writes=30 if quick else 100,
        grep_max=args.grep_max,
        etcd=args.etcd,
        etcd_only=args.etcd_only,
    )
    return settings, args


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    settings, args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: needs root (it mounts a tmpfs)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    work = Path(tempfile.mkdtemp(prefix="metafs-bench-", dir=args.workdir or "/var/tmp"))
    load_start = Path("/proc/loadavg").read_text().split()[0]
    try:
        with Mounts() as mounts:
            bench = Bench(settings, work, mounts)
            bench.run()
    except KeyboardInterrupt:
        progress("interrupted; every mount undone")
        return 130
    finally:
        if any(
            line.split()[1].startswith(str(work))
            for line in Path("/proc/mounts").read_text().splitlines()
        ):
            print(f"bench: {work} still has mounts; left in place", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = table(bench, (load_start, Path("/proc/loadavg").read_text().split()[0]))
    print(text, end="")
    args.output.write_text(text)
    progress(f"table written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
