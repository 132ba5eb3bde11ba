"""The reliability battery's short form (`scripts/torture --short`): every section runs and
passes. Needs root (tmpfs mounts, like test_full_disk.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ENV, ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts tmpfs filesystems")


def test_the_short_battery_passes_and_prints_its_figures():
    done = subprocess.run(
        [sys.executable, "-m", "metafs.torture", "--short"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "8 sections, 0 failed" in done.stdout
    assert "EIO 0" in done.stdout
    for line in done.stdout.splitlines():
        if line.startswith("1. kill -9 storms"):
            assert "lost 0" in line and "kills 2" in line
