"""Write storms: writers in the background (bash `echo` and `setfattr` through mounts, the
command line on the store), each recording which of its writes were acknowledged (exit 0), so
that what the store holds afterwards can be checked against them."""

from __future__ import annotations

import os
import random
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .report import Report
from .rig import Daemon, Rig, add_objects, container_labels, errname, image_labels, metafs

METAFS = f"{shlex.quote(sys.executable)} -m metafs"


@dataclass
class Writer:
    """One background writer: label keys PREFIX<i> with value <i>, i = 1, 2, ... (or, for a
    counter, one key incremented by reading it back through the mount)."""

    name: str
    kind: str  # "image" or "container"
    obj: str  # the image's name or container's id
    prefix: str
    ack: Path
    proc: subprocess.Popen | None = None
    counter: bool = False

    def acked(self) -> list[int]:
        try:
            text = self.ack.read_text()
        except FileNotFoundError:
            return []
        return [int(line) for line in text.split("\n")[:-1]]  # a last line may be partial

    def check(self, labels: dict[str, str], report: Report) -> None:
        """Every acknowledged write is in `labels` (the object's labels in the store)."""
        acked = self.acked()
        report.count("acknowledged", len(acked))
        if self.counter:
            value = labels.get(self.prefix)
            expected = list(range(1, len(acked) + 1))
            if acked != expected or value != str(len(acked)):
                lost = len(acked) - len(set(acked))
                report.count("lost increments", max(lost, 1))
                report.fail(
                    f"{self.name}: counter {self.prefix} holds {value}, acknowledged "
                    f"{len(acked)} increments (last acknowledged value {acked[-1:]}, "
                    f"{lost} repeated)"
                )
            else:
                report.count("found", len(acked))
            return
        missing = [i for i in acked if labels.get(f"{self.prefix}{i}") != str(i)]
        report.count("found", len(acked) - len(missing))
        report.count("lost", len(missing))
        if missing:
            report.fail(
                f"{self.name}: {len(missing)} acknowledged writes missing from the store, "
                f"e.g. {self.prefix}{missing[0]}"
            )


def start(rig: Rig, writer: Writer, command: str, stop: Path) -> Writer:
    """Run `command` (using $i) until `stop` exists; exit status 0 acknowledges write $i."""
    script = (
        f"i=0; while [ ! -e {shlex.quote(str(stop))} ]; do i=$((i+1)); "
        f"if {command}; then echo $i >&3; fi; done 3>>{shlex.quote(str(writer.ack))}"
    )
    writer.proc = rig.bash(script)
    return writer


def labels_dir(mnt: Path, writer: Writer) -> Path:
    return mnt / f"{writer.kind}s" / writer.obj / "labels"


def echo(rig: Rig, mnt: Path, writer: Writer, stop: Path) -> Writer:
    target = shlex.quote(str(labels_dir(mnt, writer)) + "/" + writer.prefix)
    return start(rig, writer, f"echo $i 2>/dev/null > {target}$i", stop)


def setfattr(rig: Rig, mnt: Path, writer: Writer, stop: Path) -> Writer:
    obj = shlex.quote(str(mnt / f"{writer.kind}s" / writer.obj))
    return start(rig, writer, f"setfattr -n user.{writer.prefix}$i -v $i {obj} 2>/dev/null", stop)


def cli(rig: Rig, store: Path, writer: Writer, stop: Path) -> Writer:
    command = (
        f"{METAFS} --store {shlex.quote(str(store))} {writer.kind}s label "
        f"{shlex.quote(writer.obj)} {writer.prefix}$i=$i >/dev/null 2>&1"
    )
    return start(rig, writer, command, stop)


def counter(rig: Rig, mnt: Path, writer: Writer, stop: Path) -> Writer:
    """Read the counter through the mount, write it plus one: acknowledges the value written."""
    writer.counter = True
    path = shlex.quote(str(labels_dir(mnt, writer) / writer.prefix))
    script = (
        f"n=0; while [ ! -e {shlex.quote(str(stop))} ]; do "
        f"n=$(cat {path} 2>/dev/null || echo 0); "
        f"if echo $((n+1)) 2>/dev/null > {path}; then echo $((n+1)) >&3; fi; "
        f"done 3>>{shlex.quote(str(writer.ack))}"
    )
    writer.proc = rig.bash(script)
    return writer


def finish(writers: list[Writer], stop: Path, report: Report) -> None:
    stop.touch()
    for writer in writers:
        assert writer.proc is not None
        try:
            writer.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            writer.proc.kill()
            writer.proc.wait()
            report.fail(f"{writer.name} did not stop within 60 s")


def stored(store: Path, writers: list[Writer]) -> dict[tuple[str, str], dict[str, str]]:
    images = {w.obj for w in writers if w.kind == "image"}
    containers = {w.obj for w in writers if w.kind == "container"}
    found = {("image", k): v for k, v in image_labels(store, *images).items()}
    found |= {("container", k): v for k, v in container_labels(store, *containers).items()}
    return found


def check_all(store: Path, writers: list[Writer], report: Report) -> None:
    labels = stored(store, writers)
    for writer in writers:
        writer.check(labels.get((writer.kind, writer.obj), {}), report)


# ---- 1. kill -9 storms ------------------------------------------------------------------------


def kill_storms(rig: Rig, short: bool) -> Report:
    """Writers through a mount and the command line; SIGKILL the daemon mid-storm; mount again
    over the stale mount; every acknowledged write must be in the store."""
    report = Report("kill -9 storms")
    rounds = int(os.environ.get("METAFS_TORTURE_ROUNDS", 2 if short else 10))
    store = rig.store()
    mnt = rig.path("mnt")
    daemon = rig.mount(store, mnt)
    report.figures = {"kills": 0, "recovered": 0, "acknowledged": 0, "found": 0, "lost": 0}
    for r in range(rounds):
        image, cid = f"storm{r}:1", f"storm{r}"
        add_objects(store, images=(image,), containers=(cid,))
        stop = rig.path("stop")
        writers = [
            echo(rig, mnt, Writer("echo 1", "image", image, "e1-", rig.path("ack")), stop),
            echo(rig, mnt, Writer("echo 2", "image", image, "e2-", rig.path("ack")), stop),
            echo(rig, mnt, Writer("echo 3", "container", cid, "e3-", rig.path("ack")), stop),
            cli(rig, store, Writer("images label", "image", image, "c1-", rig.path("ack")), stop),
            cli(
                rig,
                store,
                Writer("containers label", "container", cid, "c2-", rig.path("ack")),
                stop,
            ),
        ]
        time.sleep(random.uniform(0.8, 1.5) if short else random.uniform(1.5, 4.0))
        daemon.kill()
        report.count("kills")
        time.sleep(0.3)  # the writers meet the dead mount; the command line goes on
        finish(writers, stop, report)
        daemon = rig.mount(store, mnt)  # over the stale mount: metafs mount clears it
        if "removed the stale mount" in daemon.log.read_text():
            report.count("recovered")
        else:
            report.fail(f"round {r}: the mount did not report removing the stale mount")
        check_all(store, writers, report)
        acked = {f"e1-{i}" for i in writers[0].acked()} | {f"e2-{i}" for i in writers[1].acked()}
        try:
            seen = set(os.listdir(mnt / "images" / image / "labels"))
        except OSError as exc:
            report.fail(
                f"round {r}: the new mount cannot list {image}'s labels: "
                + diagnose(
                    exc,
                    mnt,
                    ("images", image, "labels"),
                    daemon,
                    image in image_labels(store, image),
                )
            )
            seen = acked
        missing = acked - seen
        if missing:
            report.fail(
                f"round {r}: the new mount does not list {len(missing)} acknowledged labels"
            )
    status = daemon.stop()
    if status != 0:
        report.fail(f"the last daemon exited {status}")
    report.figures["daemon errors logged"] = len(daemon.errors())
    return report


def diagnose(exc: OSError, mnt: Path, names: tuple[str, ...], daemon: Daemon, held: bool) -> str:
    """What a failed access to mnt/names met: each step's answer at once, the mount table,
    the daemon's state and log, and the same access 1.5 s later (past the kernel's caches)."""
    steps = []
    path = mnt
    for name in ("", *names):
        path = path / name if name else path
        try:
            os.stat(path)
            steps.append(f"{name or '.'}:ok")
        except OSError as step:
            steps.append(f"{name or '.'}:{errname(step)}")
    table = Path("/proc/self/mounts").read_text().splitlines()
    mounts = [line.split()[2] for line in table if line.split()[1] == str(mnt)]
    alive = daemon.proc.poll() is None
    log = " | ".join(daemon.log.read_text(errors="replace").splitlines()[-4:])
    time.sleep(1.5)
    try:
        os.listdir(path)
        later = "lists them"
    except OSError as again:
        later = errname(again)
    return (
        f"{errname(exc)} on {exc.filename}; steps {' '.join(steps)}; mounts {mounts}; "
        f"daemon {'alive' if alive else 'gone'}; the store {'holds' if held else 'lacks'} "
        f"the image; 1.5 s later: {later}; log: {log[-400:]}"
    )


# ---- 2. concurrent writers --------------------------------------------------------------------


def concurrent(rig: Rig, short: bool) -> Report:
    """Two mounts of one store and the command line write labels of the same image and the same
    container at once; each writer owns its keys (and a counter it increments by reading it
    back): at the end every acknowledged write and every increment must be there."""
    report = Report("concurrent writers")
    seconds = 8 if short else 60
    store = rig.store()
    add_objects(store, images=("shared:1",), containers=("shared",))
    a, b = rig.mount(store), rig.mount(store)
    stop = rig.path("stop")
    img, ctr = ("image", "shared:1"), ("container", "shared")
    writers = [
        echo(rig, a.mountpoint, Writer("A echo", *img, "a-", rig.path("ack")), stop),
        setfattr(rig, b.mountpoint, Writer("B setfattr", *img, "b-", rig.path("ack")), stop),
        setfattr(rig, a.mountpoint, Writer("A setfattr", *ctr, "c-", rig.path("ack")), stop),
        echo(rig, b.mountpoint, Writer("B echo", *ctr, "d-", rig.path("ack")), stop),
        counter(rig, a.mountpoint, Writer("A counter", *img, "count-a", rig.path("ack")), stop),
        counter(rig, b.mountpoint, Writer("B counter", *img, "count-b", rig.path("ack")), stop),
        cli(rig, store, Writer("CLI image", *img, "cli-", rig.path("ack")), stop),
        cli(rig, store, Writer("CLI container", *ctr, "cli-", rig.path("ack")), stop),
    ]
    time.sleep(seconds)
    finish(writers, stop, report)
    report.figures = {"writers": len(writers), "acknowledged": 0, "found": 0, "lost": 0}
    check_all(store, writers, report)
    report.figures.setdefault("lost increments", 0)
    # both mounts list what the other and the command line wrote (after the kernel's 0.9 s)
    time.sleep(1.0)
    want = image_labels(store, "shared:1")["shared:1"]
    for daemon in (a, b):
        listed = {p.name for p in (daemon.mountpoint / "images" / "shared:1" / "labels").iterdir()}
        if listed != set(want):
            report.fail(
                f"mount {daemon.mountpoint.name} lists {len(listed)} labels, the store holds "
                f"{len(want)}"
            )
    for daemon in (a, b):
        if (status := daemon.stop()) != 0:
            report.fail(f"the daemon of {daemon.mountpoint.name} exited {status}")
        report.count("daemon errors logged", len(daemon.errors()))
    return report


# ---- 8. backups during writes -----------------------------------------------------------------


def backups(rig: Rig, short: bool) -> Report:
    """`metafs backup` while writers run: every copy passes `check` and `dump`, and holds every
    write acknowledged before the copy began."""
    report = Report("backups during writes")
    copies = 3 if short else 10
    store = rig.store()
    add_objects(store, images=("live:1",), containers=("live",))
    daemon = rig.mount(store)
    mnt, stop = daemon.mountpoint, rig.path("stop")
    writers = [
        echo(rig, mnt, Writer("echo image", "image", "live:1", "e-", rig.path("ack")), stop),
        echo(rig, mnt, Writer("echo container", "container", "live", "e-", rig.path("ack")), stop),
        cli(rig, store, Writer("images label", "image", "live:1", "c-", rig.path("ack")), stop),
    ]
    report.figures = {"copies": 0, "check ok": 0, "dump ok": 0}
    # each copy must hold every write acknowledged before it began: counted once per copy
    report.figures |= {"writes checked in copies": 0, "missing from copies": 0}
    time.sleep(0.5)
    for n in range(copies):
        before = {w.name: w.acked() for w in writers}
        copy = rig.path("copy")
        done = metafs("--store", store, "backup", copy)
        if done.returncode != 0:
            report.fail(f"backup {n}: {done.stderr.strip()}")
            continue
        report.count("copies")
        checked = metafs("--store", copy, "check")
        if checked.returncode == 0:
            report.count("check ok")
        else:
            report.fail(f"copy {n}: check: {(checked.stdout + checked.stderr).strip()[:300]}")
        dumped = metafs("--store", copy, "dump")
        if dumped.returncode == 0:
            report.count("dump ok")
        else:
            report.fail(f"copy {n}: dump: {dumped.stderr.strip()[:300]}")
        labels = stored(copy, writers)
        for writer in writers:
            have = labels.get((writer.kind, writer.obj), {})
            acked = before[writer.name]
            missing = [i for i in acked if have.get(f"{writer.prefix}{i}") != str(i)]
            report.count("writes checked in copies", len(acked))
            report.count("missing from copies", len(missing))
            if missing:
                report.fail(f"copy {n}: {len(missing)} writes of {writer.name} missing")
        time.sleep(0.2)
    finish(writers, stop, report)
    final = Report("")
    check_all(store, writers, final)
    report.figures["writes"] = final.figures.get("acknowledged", 0)
    report.figures["lost"] = final.figures.get("lost", 0)
    report.failures += final.failures
    if (status := daemon.stop()) != 0:
        report.fail(f"the daemon exited {status}")
    return report
