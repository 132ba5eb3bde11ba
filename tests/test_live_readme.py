"""The README's live session works as shown, on a private containerd: `ctr` is pointed at it,
`metafs` gets its --root, --state and namespace, and the mount point is a temp dir."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import env
from live_node import LiveMount, LiveNode, start_node
from readme_session import console_session


@pytest.fixture
def node(tmp_path_factory) -> Iterator[LiveNode]:
    yield from start_node(tmp_path_factory)


def test_the_live_session_works_as_shown(node: LiveNode, tmp_path: Path) -> None:
    steps = console_session("## A live node")
    assert steps[1] == ("metafs mount --containerd /mnt/node", "")
    assert steps[2] == ("cd /mnt/node", "")
    ctr = f"ctr --address {node.address} -n {node.namespace}"
    metafs = shlex.join(
        [sys.executable, "-m", "metafs", "--containerd", "--root", str(node.root), "--state",
         str(node.state), "-n", node.namespace],
    )  # fmt: skip
    run_flags = f"--runc-root {node.runc_root} --fifo-dir {node.fifo_dir}"
    mount = None
    try:
        for number, (command, shown) in enumerate(steps):
            if number == 1:
                mount = LiveMount(node, tmp_path / "mnt")
                continue
            if number == 2:
                continue
            script = re.sub(r"\bctr run -d\b", f"ctr run -d {run_flags}", command)
            script = re.sub(r"(^|; )ctr\b", rf"\1{ctr}", script)
            script = re.sub(r"^metafs --containerd\b", metafs, script)
            script = re.sub(r"^ls\b", "COLUMNS=80 ls -C -T 0", script)
            done = subprocess.run(
                ["bash", "-c", script],
                cwd=mount.path if mount else tmp_path,
                capture_output=True,
                text=True,
                env=env(),
                timeout=60,
            )
            printed = re.sub(r"^bash: line \d+: ", "bash: ", done.stdout + done.stderr, flags=re.M)
            if command.startswith("ctr containers label"):  # ctr prints a Go map: any order
                printed, shown = (
                    sorted(printed.strip().split(",")),
                    sorted(shown.strip().split(",")),
                )
            assert printed == shown, command
            refused = any(m in shown for m in ("Read-only", "busy", "No such file"))
            assert (done.returncode == 0) == (not refused), command
    finally:
        problems = mount.stop() if mount else []
    assert not problems, problems
