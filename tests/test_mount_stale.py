"""A mount whose daemon was killed (SIGKILL): every access gives ENOTCONN until it is
unmounted. `metafs mount` on it clears it and mounts again; `metafs umount` removes it."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ENV, is_mounted, wait_for
from mount_helpers import make_image

from metafs import Store


def metafs(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metafs", *args], env=env, capture_output=True, text=True, timeout=30
    )


def daemon_of(mountpoint: Path) -> int:
    """The pid of the daemon serving `mountpoint` (its command line names it)."""
    [pid] = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
        and str(mountpoint).encode() in _cmdline(entry)
        and b"mount" in _cmdline(entry)
    ]
    return pid


def _cmdline(entry: Path) -> list[bytes]:
    try:
        return (entry / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def kill_daemon(mountpoint: Path) -> None:
    pid = daemon_of(mountpoint)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid))
    with pytest.raises(OSError) as caught:
        os.listdir(mountpoint)
    assert caught.value.errno in (errno.ENOTCONN, errno.ECONNABORTED)
    assert is_mounted(mountpoint)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


@pytest.fixture
def setup(tmp_path):
    store_dir, mnt = tmp_path / "store", tmp_path / "mnt"
    mnt.mkdir()
    with Store.open(store_dir) as store:
        make_image(store, "app:1")
    env = {**ENV, "METAFS_STORE": str(store_dir), "XDG_STATE_HOME": str(tmp_path / "state")}
    yield mnt, env
    while is_mounted(mnt):
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and str(mnt).encode() in _cmdline(entry):
            os.kill(int(entry.name), signal.SIGKILL)


def test_mount_over_a_killed_daemons_mount_clears_it_and_mounts(setup):
    mnt, env = setup
    assert metafs("mount", str(mnt), env=env).returncode == 0
    kill_daemon(mnt)
    done = metafs("mount", str(mnt), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"metafs: removed the stale mount on {mnt} (its daemon had died)\n"
    assert os.listdir(mnt / "images") == ["app:1"]
    assert metafs("umount", str(mnt), env=env).returncode == 0
    assert not is_mounted(mnt)


def test_umount_removes_a_killed_daemons_mount(setup):
    mnt, env = setup
    assert metafs("mount", str(mnt), env=env).returncode == 0
    kill_daemon(mnt)
    done = metafs("umount", str(mnt), env=env)
    assert (done.returncode, done.stderr) == (0, "")
    assert not is_mounted(mnt)
    assert os.listdir(mnt) == []


def test_a_killed_daemons_mount_is_stale_even_while_the_kernel_caches_its_root(setup):
    """Right after a kill, stat() of the mount's root may still succeed from the kernel's
    attribute cache (0.9 s): `metafs mount` took such a mount for a live one ("already a mount
    point", exit 1) and `metafs umount` for a live one too."""
    mnt, env = setup
    for verb in ("mount", "umount"):
        assert metafs("mount", str(mnt), env=env).returncode == 0
        os.stat(mnt)  # the kernel caches the root's attributes
        pid = daemon_of(mnt)
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda pid=pid: _zombie(pid), interval=0.001)  # gone, or a zombie
        os.stat(mnt)  # answered from the cache: the mount looks alive
        done = metafs(verb, str(mnt), env=env)
        assert done.returncode == 0, done.stderr
        if verb == "mount":
            assert "removed the stale mount" in done.stderr
            assert os.listdir(mnt / "images") == ["app:1"]
            assert metafs("umount", str(mnt), env=env).returncode == 0
        assert wait_for(lambda: not is_mounted(mnt))


def test_the_batterys_readiness_check_takes_only_the_daemons_own_answer(setup, tmp_path):
    """scripts/torture waits for a new mount with `Daemon.serving`. It read the mount table,
    then stat-ed the mountpoint: when `metafs mount` removed the stale mount between the two,
    the stat reached the empty directory underneath, and the battery found no images/ there
    (ENOENT on an image's labels/ once in about 35 kill rounds, the store intact). The same
    two looks are fooled by any other filesystem reached at the path while a metafs mount is
    listed: a tmpfs over the stale mount shows it without a race."""
    from metafs.torture.rig import Daemon

    mnt, env = setup
    command = [sys.executable, "-m", "metafs", "mount", "--foreground", str(mnt)]
    with open(tmp_path / "log", "w") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    daemon = Daemon(proc, mnt, tmp_path / "log")
    assert wait_for(daemon.serving)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not daemon.serving()  # a stale mount
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mnt)], check=True)
    try:
        assert is_mounted(mnt) and os.stat(mnt)  # all the old check asked
        assert not daemon.serving()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)
