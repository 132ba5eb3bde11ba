"""Every mount the benchmark makes (tmpfs and metafs), undone on exit whatever happens."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..torture.rig import daemon_pids

ROOT = Path(__file__).resolve().parents[2]


def metafs_command(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "metafs", *map(str, args)]


def metafs_env() -> dict[str, str]:
    """The environment that runs this checkout's metafs."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


class Mounts:
    """A stack of mounts; `close()` unmounts them all, newest first, and never raises."""

    def __init__(self) -> None:
        self._undo: list[tuple[Path, int | None]] = []  # (mount point, daemon pid or None)

    def __enter__(self) -> Mounts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tmpfs(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "mode=0755", "metafs-bench", str(path)], check=True
        )
        self._undo.append((path, None))

    def metafs(self, store: Path | str, path: Path, log: Path) -> int:
        """Mount `store` at `path` in the background; the daemon's pid."""
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            metafs_command("mount", "--store", store, "--log", log, path),
            env=metafs_env(),
            check=True,
        )
        pid = next(iter(daemon_pids(path)), None)
        self._undo.append((path, pid))
        if pid is None:
            raise RuntimeError(f"no metafs daemon found serving {path}")
        return pid

    def plain(self, source: Path, path: Path, log: Path) -> int:
        """Serve `source` at `path` with the plain pyfuse3 daemon (plain.py); its pid."""
        path.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "metafs.bench.plain", str(source), str(path)],
                env=metafs_env(),
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        self._undo.append((path, daemon.pid))
        deadline = time.monotonic() + 10
        while not os.path.ismount(path):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the plain pyfuse3 daemon did not mount {path} (see {log})")
            time.sleep(0.05)
        return daemon.pid

    def unmount(self, path: Path) -> None:
        for i, (mounted, pid) in enumerate(self._undo):
            if mounted == path:
                del self._undo[i]
                _unmount(mounted, pid)
                return

    def close(self) -> None:
        # a second Ctrl-C must not leave mounts behind
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            while self._undo:
                _unmount(*self._undo.pop())
        finally:
            signal.signal(signal.SIGINT, previous)


def _unmount(path: Path, pid: int | None) -> None:
    if pid is None:
        tries = (["umount", str(path)], ["umount", "-l", str(path)])
    else:
        tool = shutil.which("fusermount3") or "fusermount"
        tries = ([tool, "-u", str(path)], [tool, "-u", "-z", str(path)])
    for command in tries:
        if not os.path.ismount(path):
            break
        subprocess.run(command, stderr=subprocess.DEVNULL, check=False)
    if os.path.ismount(path):
        print(f"bench: could not unmount {path}", file=sys.stderr)
    if pid is not None:
        _reap(pid)


def _reap(pid: int) -> None:
    """Wait for a daemon to exit after its unmount; end it if it lingers."""
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            # a daemon this process started (the plain one) must be waited for
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.05)
