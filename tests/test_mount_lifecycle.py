"""Mounting and unmounting, read-only mounts, a full store, and errors nobody expected."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from conftest import ENV, Mount, is_mounted, wait_for
from mount_helpers import NS, container, image, make_container, make_image

from metafs import Store
from metafs.layout import KEY, bucket_prefix, component


def metafs(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metafs", *args],
        env=env or ENV,
        capture_output=True,
        text=True,
        timeout=30,
    )


def daemons_of(mountpoint: Path) -> list[int]:
    """Pids of processes whose command line names this mount point."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(mountpoint).encode() in cmdline and b"mount" in cmdline:
                pids.append(int(entry.name))
    return pids


def test_mount_returns_when_ready_and_umount_ends_the_daemon(tmp_path):
    store_dir, mnt = tmp_path / "store", tmp_path / "mnt"
    mnt.mkdir()
    with Store.open(store_dir) as store:
        make_image(store, "app:1")
    env = {**ENV, "METAFS_STORE": str(store_dir), "XDG_STATE_HOME": str(tmp_path / "state")}
    try:
        result = metafs("mount", str(mnt), env=env)
        assert result.returncode == 0, result.stderr
        assert is_mounted(mnt)  # ready when the command returns
        assert (mnt / "images" / "app:1" / "size").read_text() == "1234\n"
        [daemon] = daemons_of(mnt)
        assert metafs("umount", str(mnt)).returncode == 0
        assert not is_mounted(mnt)
        assert wait_for(
            lambda: (
                not Path(f"/proc/{daemon}").exists()
                or "Z" in Path(f"/proc/{daemon}/stat").read_text().split()[2]
            )
        )
        assert "unmounted" in (tmp_path / "state" / "metafs" / "mount.log").read_text()
    finally:
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)
        for pid in daemons_of(mnt):
            os.kill(pid, signal.SIGKILL)


def test_mount_failure_is_reported(tmp_path):
    result = metafs("mount", "--store", str(tmp_path / "s"), str(tmp_path / "missing"))
    assert result.returncode != 0 and "not a directory" in result.stderr


def test_sigterm_unmounts_cleanly_with_exit_status_0(tmp_path):
    (tmp_path / "store").mkdir()
    mount = Mount(tmp_path / "store", tmp_path / "mnt")
    try:
        mount.proc.send_signal(signal.SIGTERM)
        assert mount.proc.wait(timeout=10) == 0
        assert not is_mounted(mount.path)
    finally:
        assert mount.stop() == 0


def test_read_only_mount_refuses_changes_with_erofs(mount_factory):
    mnt, store = mount_factory("--read-only", fill=lambda s: make_image(s, "app:1", {"k": "v"}))
    before = image(store, "app:1")
    assert mnt.sh("cat images/app:1/labels/k").stdout == "v\n"
    for command in (
        "echo 5 > images/app:1/size",
        "echo x > images/app:1/labels/new",
        "rm images/app:1/labels/k",
        "mkdir images/new",
        "rmdir images/app:1",
        "mv images/app:1 images/b",
        "setfattr -n user.k -v w images/app:1",
    ):
        result = mnt.sh(command)
        assert result.returncode != 0 and "Read-only file system" in result.stderr, command
    assert image(store, "app:1") == before
    assert mnt.sh("stat -c %a images/app:1/size").stdout == "444\n"
    for path in ("images/app:1/size", "images/app:1/labels/k", "images/app:1/labels"):
        assert mnt.sh(f"test -w {path}").returncode == 1, path
    assert mnt.sh("test -r images/app:1/labels/k && test -x images/app:1").returncode == 0


def test_full_store_is_enospc(mount_factory, tmp_path):
    mnt, store = mount_factory(
        "--max-map-size", str(1 << 20), fill=lambda s: make_container(s, "c1")
    )
    before = container(store, "c1")
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"annotations": {"blob": "x" * (2 << 20)}}))
    result = mnt.sh(f"cat {huge} > containers/c1/spec")
    assert result.returncode != 0 and "No space left on device" in result.stderr
    assert container(store, "c1") == before
    mnt.sh('echo \'{"ociVersion": "1.1.0"}\' > containers/c1/spec', check=True)  # still serving
    assert container(store, "c1").spec.value == b'{"ociVersion": "1.1.0"}'


def test_unexpected_error_is_eio_logged_and_the_mount_survives(tmp_path):
    store_dir = tmp_path / "store"
    with Store.open(store_dir) as store:
        make_image(store, "ok:1")
        make_image(store, "broken:1")
        with store.write() as tx:  # a timestamp containerd could never have written
            path = (b"v1", NS.encode(), b"images", b"broken:1")
            tx._writer().put(bucket_prefix(path) + component(b"createdat", KEY), b"\x07garbage")
    mount = Mount(store_dir, tmp_path / "mnt")
    try:
        result = mount.sh("cat images/broken:1/createdat")
        assert result.returncode != 0 and "Input/output error" in result.stderr
        assert mount.sh("cat images/ok:1/size").stdout == "1234\n"
        log = mount.log.read_text()
        assert "Traceback" in log and "CorruptStore" in log
    finally:
        assert mount.stop() == 0


def test_default_runtime_and_spec_are_mount_options(mount_factory, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text('{"ociVersion": "1.1.0", "process": {"args": ["sleep", "1"]}}\n')
    mnt, store = mount_factory(
        "--default-runtime", "io.containerd.kata.v2", "--default-spec", str(spec)
    )
    mnt.sh("mkdir containers/vm-1", check=True)
    got = container(store, "vm-1")
    assert got.runtime.name == "io.containerd.kata.v2"
    assert json.loads(got.spec.value) == json.loads(spec.read_text())
