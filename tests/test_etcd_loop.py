"""A mount on etcd answers what it holds in memory while another request waits on etcd (issue
21: the mount must not block its loop on a round trip).

A private member (not the session's shared one) is paused with SIGSTOP for at most `STOP`
seconds, so that a request needing a round trip (a cache miss, a write's commit) waits for it
in the daemon; a `stat`, `cat` or `ls` of what the mount has just read must meanwhile answer in
`QUICK` seconds. The mount runs with `--cache-timeout 0`: the kernel keeps no entry or
attribute, so each of those reaches the daemon (with the kernel's cache a quick answer would
prove nothing). The member is always resumed (SIGCONT) and then the stalled requests must
complete with the right values.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ENV, Mount, wait_for
from etcd_cluster import EtcdCluster
from mount_helpers import CACHES_LOCK, image, make_image

from metafs import Store

STOP = 1.5  # seconds etcd stays paused at most: less than the client's 2 s per call
QUICK = 0.5  # seconds a request answered from the mount's memory may take, on a loaded box
HELD = 0.05  # seconds a process waits for the daemon before it counts as held up by etcd
WAITS = ("request_wait_answer", "fuse_lock_inode")  # where the kernel waits for the daemon

CACHED = "example.com/cached:1"
WRITTEN = "example.com/written:1"
MISSES = [f"example.com/miss-{i}:1" for i in range(5)]


def path_of(name: str) -> str:
    return "images/" + name.replace("/", "%2F")


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """A member of this module's own: pausing it disturbs no other test."""
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd-loop"), 1)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def mounted(
    member: EtcdCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Mount, Store]]:
    locator = member.locator("loop")
    store = Store.open(locator, create=True)
    make_image(store, CACHED, {"env": "cached", "zone": "eu"})
    make_image(store, WRITTEN, {"env": "before"})
    for i, name in enumerate(MISSES):
        make_image(store, name, {"env": f"miss{i}"})
    mount = Mount(locator, tmp_path_factory.mktemp("etcd-loop") / "mnt", "--cache-timeout", "0")
    try:
        yield mount, store
    finally:
        status = mount.stop()
        store.close()
        assert status == 0 and not mount.unexpected_errors(), mount.log.read_text()[-2000:]


@contextmanager
def paused(member: EtcdCluster) -> Iterator[None]:
    """etcd stopped (SIGSTOP) until the block ends or `STOP` seconds pass, whichever comes
    first; resumed in any case.

    Meanwhile no metafs test drops the kernel's caches (they take `CACHES_LOCK`): a quick
    request whose entry the kernel forgot would look its name up afresh, and wait in the kernel
    behind a pending lookup in the same directory, whatever the daemon does."""
    proc = member.members[0].proc
    assert proc is not None and proc.poll() is None
    resume = threading.Timer(STOP, os.kill, (proc.pid, signal.SIGCONT))
    with open(CACHES_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            resume.start()
            yield
        finally:
            resume.cancel()
            os.kill(proc.pid, signal.SIGCONT)


def waiting_on_fuse(proc: subprocess.Popen[str]) -> bool:
    """Whether `proc` sleeps in the kernel for the FUSE daemon's answer: to its request, or to
    the lookup before it in the same directory (pyfuse3's session does not ask for parallel
    directory operations, so the kernel sends one lookup of a new name per directory at a
    time)."""
    try:
        return Path(f"/proc/{proc.pid}/wchan").read_text() in WAITS
    except OSError:
        return False


def held_up(proc: subprocess.Popen[str], seen: list[float]) -> bool:
    """Whether `proc` has waited for the daemon for `HELD` seconds: seen waiting then, and
    each time asked since (a request the daemon answers at once takes well under 1 ms)."""
    if not waiting_on_fuse(proc):
        seen.clear()
        return False
    seen.append(time.monotonic())
    return seen[-1] - seen[0] >= HELD


def stalled(*argv: str | Path) -> subprocess.Popen[str]:
    """`argv` started in the background, once it waits for the daemon (which waits for the
    paused etcd). Paths are absolute: starting a process in the mount point would wait for the
    daemon before it runs."""
    proc = subprocess.Popen(
        argv, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen: list[float] = []
    wait_for(lambda: held_up(proc, seen) or proc.poll() is not None, timeout=STOP / 2)
    if proc.poll() is not None:
        raise AssertionError(f"{argv[0]} did not wait for etcd: {proc.communicate()}")
    assert held_up(proc, seen), f"{argv[0]} was not held up by the daemon"
    return proc


def finished(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=15)
    return proc.returncode, out, err


def warm(mount: Mount) -> None:
    """The mount reads CACHED once: later requests for it are answered from its memory."""
    done = mount.sh(f"cat {path_of(CACHED)}/labels/env; ls {path_of(CACHED)}/labels")
    assert done.stdout == "cached\nenv\nzone\n", done


def quick_requests(mount: Mount) -> dict[str, float]:
    """Seconds each request for CACHED took, once each right answer was checked."""
    took = {}
    labels = mount.path / path_of(CACHED) / "labels"
    for argv, expected in [
        (["stat", "-c", "%s", labels / "env"], "7\n"),
        (["cat", labels / "env"], "cached\n"),
        (["ls", labels], "env\nzone\n"),
    ]:
        started = time.monotonic()
        done = subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=30)
        took[str(argv[0])] = time.monotonic() - started
        assert (done.returncode, done.stdout) == (0, expected), done
    return took


def assert_quick(took: dict[str, float]) -> None:
    slow = {tool: round(seconds, 3) for tool, seconds in took.items() if seconds > QUICK}
    assert not slow, f"requests answered from memory waited for etcd: {slow} s"


def test_a_cache_miss_waiting_on_etcd_holds_up_no_cached_read(mounted, member):
    mount, _store = mounted
    warm(mount)
    with paused(member):
        miss = stalled("cat", mount.path / path_of(MISSES[0]) / "labels/env")
        took = quick_requests(mount)
        still_waiting = miss.poll() is None
    assert_quick(took)
    assert still_waiting, "the miss did not wait for etcd: the test proved nothing"
    assert finished(miss) == (0, "miss0\n", "")


def test_a_write_waiting_on_etcd_holds_up_no_cached_read(mounted, member):
    mount, store = mounted
    base = path_of(WRITTEN)
    warm(mount)
    assert mount.sh(f"cat {base}/labels/env").stdout == "before\n"  # only its commit is left
    with paused(member):
        write = stalled("bash", "-c", 'echo after > "$1"', "-", mount.path / base / "labels/env")
        took = quick_requests(mount)
        still_waiting = write.poll() is None
    assert_quick(took)
    assert still_waiting, "the write did not wait for etcd: the test proved nothing"
    assert finished(write) == (0, "", "")
    assert image(store, WRITTEN).labels == {"env": "after"}
    assert mount.sh(f"cat {base}/labels/env").stdout == "after\n"


def test_two_misses_waiting_on_etcd_both_complete(mounted, member):
    mount, _store = mounted
    warm(mount)
    with paused(member):
        first = stalled("cat", mount.path / path_of(MISSES[1]) / "labels/env")
        second = stalled("cat", mount.path / path_of(MISSES[2]) / "labels/env")
        took = quick_requests(mount)
        still_waiting = first.poll() is None and second.poll() is None
    assert_quick(took)
    assert still_waiting, "the misses did not wait for etcd: the test proved nothing"
    assert finished(first) == (0, "miss1\n", "")
    assert finished(second) == (0, "miss2\n", "")


def test_after_the_pauses_the_mount_shows_the_store_and_unmounts_cleanly(mounted):
    """Last: nothing was lost or left waiting; the daemon logged no error and exits 0."""
    mount, store = mounted
    for name in [CACHED, WRITTEN, *MISSES]:
        labels = image(store, name).labels
        shown = mount.sh(f"cd {path_of(name)}/labels && grep -r '' . | sort")
        assert shown.stdout == "".join(f"./{k}:{v}\n" for k, v in sorted(labels.items())), shown
    assert mount.stop() == 0
    assert not mount.unexpected_errors(), mount.log.read_text()[-2000:]
