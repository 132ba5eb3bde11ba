"""A cheaper wait for the next FUSE request than pyfuse3's own.

pyfuse3's worker waits for `/dev/fuse` through trio before every request: a lock, an epoll
registration, a pass through the scheduler. Measured here with client and daemon on one CPU,
that is half of what a request costs (a request with a trivial handler: ~30 µs with it, ~13 µs
without). `install()` puts a plain `poll()` of the device first: a request that arrives within
`POLL_MS` is taken at once, trio gets control at least every `YIELD_S` while requests keep
coming, and only an idle mount waits through trio. Signal handling and the node sweep, trio
tasks, thus run within a few milliseconds.

When the daemon may run on more than one CPU, it first polls without sleeping for `SPIN_S`
after each request: the next request of a syscall (a `stat` is lookups, an `echo` a lookup,
open, write and release) arrives within that, and is then taken without the wake-up of a
halted vCPU, which is most of what a request costs unpinned (measured: stat of a new field
128 -> 70 µs, open+read+close 4x faster). Pinned to one CPU, the client cannot run while
the daemon spins, so it does not.

The wait is a private function of pyfuse3 (3.5), looked up by its worker loop on every request;
if it is missing, nothing is replaced and the mount runs pyfuse3's loop as it is. On a store in
the same process (LMDB) it runs with one worker (`pyfuse3.main(1, 1)`), which costs nothing: the
handlers never await, so a second worker never had a request to take. On a store behind round
trips, a handler may wait for the store (offload.py) while other workers take requests: only
one worker waits for the device at a time. While a call to the server is under way, that
worker polls the device and the call's answer for up to `ANSWER_SPIN_S`, then sleeps in trio
(which the answer wakes); while handlers wait for anything else, it never sleeps in `poll()`,
which trio cannot end.
"""

from __future__ import annotations

import os
import select
import time

import pyfuse3
import trio

from .offload import Offload

POLL_MS = 5
YIELD_S = 0.002
SPIN_S = 0.00005
ANSWER_SPIN_S = 0.002  # an etcd round trip: 0.25-1 ms on one member, up to 3 ms on three


def install(offload: Offload | None = None) -> bool:
    """Replace pyfuse3's wait for requests (after `pyfuse3.init`); whether it was replaced.
    With an `offload`, for a mount whose handlers may wait (run it with several workers)."""
    fd = _fuse_fd()
    if fd is None or not hasattr(pyfuse3, "_wait_fuse_readable"):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    yielded = 0.0
    spin = _several_cpus()
    reading = False  # a worker waits for the device
    # The other workers wait here. A worker that has read a request wakes one of them, which
    # takes its place if its handler waits (or when the session ends: each wakes the next);
    # only one is woken at a time, so a request answered at once costs nothing more.
    others = trio.lowlevel.ParkingLot()
    waking = False

    async def wait_readable() -> bool:
        """True when a request can be read, False when the session is closing."""
        nonlocal reading, waking
        if offload is None:
            return await wait_device()
        while reading:
            await others.park()
            waking = False
        reading = True
        try:
            while offload.calls:
                # An answer is awaited: poll for it and for requests rather than sleep, which
                # would cost a wake-up when it comes (offload.py); a slow one is slept for.
                deadline = time.perf_counter() + ANSWER_SPIN_S
                while not offload.completed and time.perf_counter() < deadline:
                    if poller.poll(0):
                        return True
                    os.sched_yield()
                if not offload.completed:
                    break
                offload.answered.set()  # before trio's own wake-up gets to it
                await trio.lowlevel.cancel_shielded_checkpoint()
            return await wait_device(quick=bool(offload.waiting))
        finally:
            reading = False
            if not waking and others:
                waking = True
                others.unpark()

    async def wait_device(quick: bool = False) -> bool:
        """`quick`: a handler waits for something that wakes trio, not the device."""
        nonlocal yielded, spin
        ready = False
        if quick:
            ready = bool(poller.poll(0))
        elif spin:  # pinned, this would only be one more syscall per request
            deadline = time.perf_counter() + SPIN_S
            while not (ready := bool(poller.poll(0))) and time.perf_counter() < deadline:
                os.sched_yield()
        if ready or (not quick and poller.poll(POLL_MS)):
            now = time.monotonic()
            if now - yielded >= YIELD_S:
                yielded = now
                spin = _several_cpus()  # `taskset -p` may change it while mounted
                await trio.lowlevel.cancel_shielded_checkpoint()
            return True
        try:
            await trio.lowlevel.wait_readable(fd)
        except trio.ClosedResourceError:  # pyfuse3.terminate()
            return False
        return True

    pyfuse3._wait_fuse_readable = wait_readable
    return True


def _several_cpus() -> bool:
    return len(os.sched_getaffinity(0)) > 1


def _fuse_fd() -> int | None:
    """The session's /dev/fuse descriptor (pyfuse3 does not tell): the only one open."""
    found = []
    for entry in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{entry}") == "/dev/fuse":
                found.append(int(entry))
        except OSError:
            continue
    return found[0] if len(found) == 1 else None
