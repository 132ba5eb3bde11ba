"""The README's etcd session works as shown: its own etcd command line starts a private member
(on a free port, in a temporary directory), and every command prints what the README shows."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from conftest import ENV, is_mounted
from containerd_fixture import META_DB
from etcd_cluster import free_ports
from readme_session import console_session

HEADING = "## One store for many hosts: etcd"


def test_the_readme_etcd_session_works_as_shown(tmp_path: Path):
    client_port, peer_port = free_ports(2)
    here = tmp_path / "session"
    here.mkdir()
    shutil.copy(META_DB, here / "meta.db")
    bin_dir = tmp_path / "bin"  # `metafs` as the README types it: this worktree's
    bin_dir.mkdir()
    (bin_dir / "metafs").write_text('#!/bin/sh\nexec python3 -m metafs "$@"\n')
    (bin_dir / "metafs").chmod(0o755)
    env = {**ENV, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env = {k: v for k, v in env.items() if not k.startswith("METAFS_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # the mounts' log, not the user's

    def localize(command: str) -> str:
        return (
            command.replace("127.0.0.1:2379", f"127.0.0.1:{client_port}")
            .replace("/tmp/metafs-etcd", str(tmp_path / "etcd"))
            .replace("/tmp/a", str(tmp_path / "a"))
            .replace("/tmp/b", str(tmp_path / "b"))
        )

    steps = console_session(HEADING)
    start, *rest = steps
    assert start[0].startswith("etcd ") and start[0].endswith(" &"), start
    # the member's peer port: free too, so that a system etcd is never in the way
    etcd_line = localize(start[0][:-2]) + f" --listen-peer-urls http://127.0.0.1:{peer_port}"
    etcd_line += f" --initial-advertise-peer-urls http://127.0.0.1:{peer_port}"
    etcd_line += f" --initial-cluster default=http://127.0.0.1:{peer_port}"
    etcd = subprocess.Popen(["bash", "-c", "exec " + etcd_line], cwd=here, env=env)
    try:
        deadline = time.monotonic() + 30
        for command, shown in rest:
            while True:  # the first command waits for etcd to come up
                done = subprocess.run(
                    ["bash", "-c", localize(command)],
                    cwd=here,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                if done.returncode == 0 or "etcd unavailable" not in done.stderr:
                    break
                assert time.monotonic() < deadline, done.stderr
            assert done.stdout + done.stderr == shown, command
            assert done.returncode == 0, command
    finally:
        for mount in (tmp_path / "a", tmp_path / "b"):
            if is_mounted(mount):
                subprocess.run(["fusermount3", "-u", "-z", str(mount)], check=False)
        etcd.send_signal(signal.SIGTERM)
        etcd.wait(timeout=10)
