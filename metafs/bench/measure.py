"""The timed operations. Each runs the same client code against a tmpfs and a metafs mount, so
the client's own cost is identical on both sides; loops over paths run at C speed (`map`)."""

from __future__ import annotations

import os
import subprocess
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from ..images import Images
from ..store import Store
from .data import NAMESPACE

# One bash process writes each label with the builtin echo (open O_TRUNC, write, close) and
# prints the wall time of every write in microseconds.
_ECHO_LOOP = r"""
value=$1; shift
for d in "$@"; do
  t0=$EPOCHREALTIME
  echo "$value" > "$d/labels/env"
  t1=$EPOCHREALTIME
  echo $(( ${t1//[.,]/} - ${t0//[.,]/} ))
done
"""


def stat_each(paths: Sequence[bytes], *, forget_first: bool = False) -> float:
    """Seconds per `stat()`. With `forget_first`, the kernel first drops every unused dentry
    and inode (not the page cache), so that none of the paths was looked at before: a walk
    or grep of the same tree less than a second earlier would otherwise have left them
    cached. A tmpfs keeps its dentries: they are its data."""
    if forget_first:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("2\n")
    start = time.perf_counter()
    deque(map(os.stat, paths), maxlen=0)
    return (time.perf_counter() - start) / len(paths)


def _open_read_close(path: bytes) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.read(fd, 4096)
    finally:
        os.close(fd)


def open_read_close_each(paths: Sequence[bytes]) -> float:
    """Seconds per open+read+close of a small file."""
    start = time.perf_counter()
    deque(map(_open_read_close, paths), maxlen=0)
    return (time.perf_counter() - start) / len(paths)


def list_directory(path: bytes, expected: int) -> float:
    """Seconds to read a whole directory (getdents only, names as bytes)."""
    start = time.perf_counter()
    count = len(os.listdir(path))
    elapsed = time.perf_counter() - start
    if count != expected:
        raise RuntimeError(f"{path!r} listed {count} entries, expected {expected}")
    return elapsed


def run_command(command: Sequence[str | os.PathLike[str]], **options: object) -> float:
    """Wall seconds of a whole command, which must succeed (or, for grep, find nothing)."""
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, **options)  # type: ignore[call-overload]
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1) or (done.returncode == 1 and command[0] != "grep"):
        raise RuntimeError(f"{command[0]} {command[1:3]} failed with status {done.returncode}")
    return elapsed


def grep_tree(directory: Path) -> float:
    """Seconds for `grep -r` over a tree, listing the files that hold a digest."""
    return run_command(["grep", "-r", "-l", "sha256:", "."], cwd=directory)


def echo_latencies(images: Path, dirs: Sequence[str], value: str) -> list[float]:
    """Seconds of each `echo VALUE > images/DIR/labels/env`, one bash process for all."""
    done = subprocess.run(
        ["bash", "-c", _ECHO_LOOP, "bench", value, *dirs],
        cwd=images,
        capture_output=True,
        text=True,
        check=True,
    )
    return [int(line) / 1e6 for line in done.stdout.split()]


def commit_latencies(store: Path, names: Sequence[str], value: str) -> list[float]:
    """Seconds of each durable commit of one label (`env`) of the named images, in this
    process: what a durable write costs the store alone, without the mount."""
    times = []
    with Store(store) as opened:
        for name in names:
            start = time.perf_counter()
            with opened.write() as tx:
                Images(tx, NAMESPACE).set_label(name, "env", value)
            times.append(time.perf_counter() - start)
    return times


def _proc_field(pid: int, filename: str, key: str) -> int:
    for line in Path(f"/proc/{pid}/{filename}").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0])
    raise RuntimeError(f"no {key} in /proc/{pid}/{filename}")


def resident_bytes(pid: int) -> tuple[int, int]:
    """VmRSS, and the anonymous part of it (the daemon's own, not mapped files)."""
    return (
        _proc_field(pid, "status", "VmRSS") * 1024,
        _proc_field(pid, "status", "RssAnon") * 1024,
    )


def requests_served(pid: int) -> int:
    """The daemon's read() calls so far: one per FUSE request it received."""
    return _proc_field(pid, "io", "syscr")


def walk(root: Path) -> int:
    """Every directory listed and every file stat'ed, as `find -type f` does; the file count."""
    files = 0
    for directory, _dirs, names in os.walk(root):
        base = os.fsencode(directory) + b"/"
        deque(map(os.stat, [base + os.fsencode(name) for name in names]), maxlen=0)
        files += len(names)
    return files
