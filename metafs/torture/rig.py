"""What every section of the battery stands on: a temporary directory, real mounts served by
daemons the battery knows by PID, small tmpfs filesystems, background writers, and a teardown
that leaves none of them behind, whatever failed."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..images import Images
from ..store import Store

ROOT = Path(__file__).resolve().parents[2]
NS = "default"
DIGEST = "sha256:" + "5e" * 32
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def env() -> dict[str, str]:
    """The environment that runs this checkout's metafs."""
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{path}" if path else str(ROOT),
        "LC_ALL": "C.UTF-8",
    }


def metafs_command(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "metafs", *map(str, args)]


def metafs(*args: str | os.PathLike[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        metafs_command(*args), env=env(), capture_output=True, text=True, timeout=timeout
    )


def is_mounted(path: Path) -> bool:
    """Listed in the kernel's mount table (true also for a mount whose daemon died)."""
    want = str(path).replace(" ", "\\040")
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1] == want for line in mounts)


def metafs_devices(path: Path) -> set[int]:
    """The devices of the metafs filesystems mounted on `path` (stale ones included)."""
    devices = set()
    with open("/proc/self/mountinfo") as table:
        for line in table:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            where = fields[4].encode().decode("unicode_escape").encode("latin-1").decode()
            if where == str(path) and fstype == "fuse.metafs":
                major, minor = fields[2].split(":")
                devices.add(os.makedev(int(major), int(minor)))
    return devices


def wait_for(condition: Callable[[], object], timeout: float = 10.0, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def errname(exc: OSError) -> str:
    """ENOENT, EINVAL...: the symbol of an OSError's errno."""
    return errno.errorcode.get(exc.errno or 0, str(exc.errno))


def alive(pid: int) -> bool:
    """Running, not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def daemon_pids(mountpoint: Path) -> list[int]:
    """The metafs daemons whose command line names `mountpoint` (a background mount detaches,
    so its PID is found this way)."""
    want = str(mountpoint).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"metafs" in args and b"mount" in args and want in args and alive(int(entry)):
            found.append(int(entry))
    return found


class Rig:
    """The resources of one battery run; `close()` undoes them all, newest first, and never
    raises. A watchdog unmounts everything lazily when a section overruns its time, so that a
    request stuck in a daemon cannot hang the battery (stuck requests then fail with ENOTCONN)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="metafs-torture-"))
        self.mounts: list[Path] = []
        self.tmpfs: list[Path] = []
        self.processes: list[subprocess.Popen] = []
        self.pids: list[int] = []
        self._counter = 0
        self._alarm: threading.Timer | None = None

    # ---- naming -----------------------------------------------------------------------------
    def path(self, stem: str) -> Path:
        self._counter += 1
        return self.dir / f"{stem}{self._counter}"

    # ---- stores -----------------------------------------------------------------------------
    def store(self, fill: Callable[[Store], None] | None = None, where: Path | None = None) -> Path:
        """A new LMDB store (in `where`, else in the run's directory), filled by `fill`."""
        path = where or self.path("store")
        with Store.open(path) as store:
            if fill is not None:
                fill(store)
        return path

    # ---- mounts -----------------------------------------------------------------------------
    def mount(self, store: Path, mountpoint: Path | None = None, *options: str) -> Daemon:
        """A daemon in the foreground (its PID is ours), once its mount is up."""
        mountpoint = mountpoint or self.path("mnt")
        if not is_mounted(mountpoint):  # a stale mount is left for `metafs mount` to clear
            mountpoint.mkdir(parents=True, exist_ok=True)
        log = mountpoint.with_name(mountpoint.name + f".log{self._counter}")
        self._counter += 1
        with open(log, "w") as out:
            proc = subprocess.Popen(
                metafs_command("mount", "--store", store, "--foreground", *options, mountpoint),
                env=env(),
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        self.processes.append(proc)
        if mountpoint not in self.mounts:
            self.mounts.append(mountpoint)
        daemon = Daemon(proc, mountpoint, log)
        if not wait_for(lambda: daemon.serving() or proc.poll() is not None, timeout=30):
            raise RuntimeError(f"the mount on {mountpoint} did not come up")
        if proc.poll() is not None:
            raise RuntimeError(f"mount failed: {log.read_text()[-500:]}")
        return daemon

    def adopt(self, mountpoint: Path) -> list[int]:
        """Track a mount made by `metafs mount` in the background: its mount point and PID."""
        if mountpoint not in self.mounts:
            self.mounts.append(mountpoint)
        pids = daemon_pids(mountpoint)
        self.pids += pids
        return pids

    def small_fs(self, size: str) -> Path:
        """A tmpfs of `size` (mount's -o size=), unmounted at close."""
        path = self.path("fs")
        path.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "metafs-torture", str(path)],
            check=True,
        )
        self.tmpfs.append(path)
        return path

    # ---- writers ----------------------------------------------------------------------------
    def bash(self, script: str, **kwargs: Any) -> subprocess.Popen[str]:
        """A background bash script (its own session, so signals meant for us stay ours)."""
        proc = subprocess.Popen(
            ["bash", "-c", script],
            env=env(),
            cwd=self.dir,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )
        self.processes.append(proc)
        return proc

    # ---- the watchdog -----------------------------------------------------------------------
    @contextlib.contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        def expire() -> None:
            print(f"torture: a section overran {seconds:.0f} s: unmounting", file=sys.stderr)
            for path in self.mounts:
                _lazy_unmount(path)

        self._alarm = threading.Timer(seconds, expire)
        self._alarm.daemon = True
        self._alarm.start()
        try:
            yield
        finally:
            self._alarm.cancel()

    # ---- teardown ---------------------------------------------------------------------------
    def release(self) -> None:
        """Unmount every mount and end every process of the run so far (between sections)."""
        for path in reversed(self.mounts):
            _lazy_unmount(path)
        for proc in reversed(self.processes):
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(OSError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=5)
        for pid in self.pids:
            if alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        for path in self.mounts:
            for pid in daemon_pids(path):  # a background daemon we did not see start
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        for path in reversed(self.tmpfs):
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
        self.mounts, self.tmpfs, self.processes, self.pids = [], [], [], []

    def close(self) -> None:
        try:
            self.release()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _lazy_unmount(path: Path) -> None:
    for _ in range(5):
        if not is_mounted(path):
            return
        subprocess.run(["fusermount3", "-u", "-z", str(path)], check=False, capture_output=True)


class Daemon:
    """A mount's daemon started in the foreground."""

    def __init__(self, proc: subprocess.Popen, mountpoint: Path, log: Path) -> None:
        self.proc, self.mountpoint, self.log = proc, mountpoint, log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def serving(self) -> bool:
        """This daemon's mount answers. One opened directory decides: it must be on a metafs
        filesystem listed at the mountpoint, and list its entries (which the kernel never
        answers from a cache: a dead daemon's mount fails). Reading the mount table and then
        stat-ing the path was fooled when `metafs mount` removed the stale mount in between:
        the stat reached the empty directory underneath, and the battery went on to find no
        images/ there (ENOENT, once in about 35 kill rounds)."""
        try:
            fd = os.open(self.mountpoint, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return False
        try:
            device = os.fstat(fd).st_dev
            os.listdir(fd)
        except OSError:
            return False
        finally:
            os.close(fd)
        return device in metafs_devices(self.mountpoint)

    def kill(self) -> None:
        """SIGKILL, and reap it: its mount stays behind, stale."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int | None:
        """Unmount (lazily) and wait: the daemon's exit status."""
        _lazy_unmount(self.mountpoint)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            return None

    def errors(self) -> list[str]:
        """Tracebacks and errors in its log (an EIO is logged with its traceback)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if "Traceback" in line or " ERROR " in line]


# ---- reading a store in process ---------------------------------------------------------------


def image_labels(store: Path, *names: str) -> dict[str, dict[str, str]]:
    """The labels of each image or draft named (missing ones are left out)."""
    found = {}
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        images = Images(tx, NS)
        for name in names:
            if images.exists(name):
                found[name] = images.get(name).labels
            elif images.is_draft(name):
                found[name] = images.draft(name).labels
    return found


def container_labels(store: Path, *ids: str) -> dict[str, dict[str, str]]:
    from ..containers import Containers

    found = {}
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        containers = Containers(tx, NS)
        for cid in ids:
            if containers.exists(cid):
                found[cid] = containers.get(cid).labels
    return found


def add_objects(
    store: Path, images: tuple[str, ...] = (), containers: tuple[str, ...] = ()
) -> None:
    """Images with a valid target and containers with a runtime and an empty spec."""
    from ..containers import Container, Containers, Runtime, spec_from_json
    from ..images import Descriptor, Image

    with Store.open(store) as opened, opened.write() as tx:
        for name in images:
            Images(tx, NS).create(Image(name, Descriptor(MANIFEST, DIGEST, 1234)))
        for cid in containers:
            Containers(tx, NS).create(
                Container(cid, runtime=Runtime("io.containerd.runc.v2"), spec=spec_from_json(b"{}"))
            )
