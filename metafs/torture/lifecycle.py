"""The daemon's life: signals that unmount it, SIGKILL that leaves a stale mount, and the
commands that recover from it."""

from __future__ import annotations

import errno
import os
import signal
import statistics
import time
from functools import partial
from pathlib import Path

from .report import Report
from .rig import Rig, add_objects, alive, daemon_pids, errname, is_mounted, metafs, wait_for


def unmounted(path: Path) -> bool:
    return not is_mounted(path)


def dead(pid: int) -> bool:
    return not alive(pid)


SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def signals(rig: Rig, short: bool) -> Report:
    """SIGTERM, SIGINT and SIGHUP each end the daemon with status 0 and remove its mount: the
    time from the signal until the mount is gone from the kernel's table."""
    report = Report("signals")
    repeats = 2 if short else 5
    store = rig.store()
    add_objects(store, images=("sig:1",))
    times: dict[str, list[float]] = {}
    for _ in range(repeats):
        for sig in SIGNALS:
            daemon = rig.mount(store)
            (daemon.mountpoint / "images" / "sig:1" / "labels" / "k").write_text("v\n")
            began = time.monotonic()
            daemon.proc.send_signal(sig)
            gone = wait_for(partial(unmounted, daemon.mountpoint), timeout=10, step=0.001)
            elapsed = time.monotonic() - began
            try:
                status = daemon.proc.wait(timeout=10)
            except Exception:
                status = None
            if not gone or status != 0:
                report.fail(f"{sig.name}: unmounted {gone}, exit status {status}")
            else:
                times.setdefault(sig.name, []).append(elapsed * 1000)
    report.figures["signals"] = sum(len(t) for t in times.values())
    for name, values in times.items():
        report.figures[f"{name} median ms"] = round(statistics.median(values), 1)
    every = [t for values in times.values() for t in values]
    report.figures["max ms"] = round(max(every), 1) if every else "-"
    return report


def stale_mounts(rig: Rig, short: bool) -> Report:
    """`metafs mount` in the background, SIGKILL its daemon: the mount is stale (ENOTCONN);
    `metafs umount` removes it, or `metafs mount` over it mounts again; the labels written
    before the kill are there."""
    report = Report("stale mounts")
    rounds = 2 if short else 6
    store = rig.store()
    add_objects(store, images=("stale:1",))
    mnt = rig.path("mnt")
    mnt.mkdir()
    state = rig.path("state")
    report.figures = {"kills": 0, "umount recovered": 0, "mount recovered": 0, "labels kept": 0}
    for r in range(rounds):
        if not is_mounted(mnt):
            done = metafs("--store", store, "mount", "--log", state, mnt)
            if done.returncode != 0:
                report.fail(f"round {r}: mount: {done.stderr.strip()}")
                break
        [pid] = rig.adopt(mnt) or [0]
        if not pid:
            report.fail(f"round {r}: no daemon found for {mnt}")
            break
        (mnt / "images" / "stale:1" / "labels" / f"r{r}").write_text(f"{r}\n")
        os.kill(pid, signal.SIGKILL)
        report.count("kills")
        wait_for(partial(dead, pid))
        try:
            os.listdir(mnt)
            report.fail(f"round {r}: the mount answered after its daemon was killed")
        except OSError as exc:
            if exc.errno not in (errno.ENOTCONN, errno.ECONNABORTED):
                report.fail(f"round {r}: a stale mount gave {errname(exc)}")
        if r % 2 == 0:
            done = metafs("umount", mnt)
            if done.returncode == 0 and not is_mounted(mnt) and done.stderr == "":
                report.count("umount recovered")
            else:
                report.fail(f"round {r}: umount: {done.returncode} {done.stderr.strip()}")
        else:
            done = metafs("--store", store, "mount", "--log", state, mnt)
            if done.returncode == 0 and "removed the stale mount" in done.stderr:
                report.count("mount recovered")
                rig.adopt(mnt)
            else:
                report.fail(f"round {r}: mount: {done.returncode} {done.stderr.strip()}")
    if not is_mounted(mnt):
        metafs("--store", store, "mount", "--log", state, mnt)
        rig.adopt(mnt)
    try:
        kept = set(os.listdir(mnt / "images" / "stale:1" / "labels"))
        report.figures["labels kept"] = len(kept & {f"r{r}" for r in range(rounds)})
        if len(kept) != rounds:
            report.fail(f"labels written before the kills: {len(kept)} of {rounds} there")
    except OSError as exc:
        report.fail(f"the last mount does not serve: {exc}")
    done = metafs("umount", mnt)
    if done.returncode != 0 or not wait_for(lambda: not daemon_pids(mnt)):
        report.fail(f"the last umount: {done.stderr.strip()}")
    return report
