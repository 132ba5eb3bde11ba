"""The README's two set-up commands work from a fresh clone with Debian's own python3.

The clone has nothing beside it; PATH starts with /usr/bin (Debian's "externally managed"
python3, PEP 668) and holds no pyenv or venv; HOME is empty. scripts/install must then make the
project's .venv from that python3, scripts/run must mount the samples with it, and scripts/test
must run pytest from it. About 20 s here (the pip cache is shared with the user's, so wheels are
not built again), which is why it runs with the rest of the suite.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, is_mounted

DEBIAN_PYTHON = Path("/usr/bin/python3")
pytestmark = pytest.mark.skipif(
    not DEBIAN_PYTHON.exists() or not (ROOT / ".git").exists(),
    reason="needs /usr/bin/python3 and a git checkout of the project",
)


def fresh_clone(dest: Path) -> Path:
    """A clone of this checkout, its uncommitted changes to tracked files included."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", head], check=True)
    diff = subprocess.run(
        ["git", "-C", str(ROOT), "diff", "HEAD", "--binary"], capture_output=True, check=True
    ).stdout
    if diff:
        subprocess.run(["git", "-C", str(dest), "apply", "-"], input=diff, check=True)
    return dest


def clean_env(home: Path) -> dict[str, str]:
    """A login's environment on a plain Debian machine: no pyenv, no venv, no PYTHONPATH."""
    env = {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": str(home),
        "LC_ALL": "C.UTF-8",
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
    }
    # Where packages come from is the machine's business, not the project's: keep it.
    for name, value in os.environ.items():
        if name.startswith("PIP_"):
            env[name] = value
    real_home = Path.home()
    if (real_home / ".config" / "pip" / "pip.conf").exists():
        env.setdefault("PIP_CONFIG_FILE", str(real_home / ".config" / "pip" / "pip.conf"))
    if (real_home / ".cache" / "pip").is_dir():
        env.setdefault("PIP_CACHE_DIR", str(real_home / ".cache" / "pip"))
    return env


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 600):
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_readme_commands_work_from_a_fresh_clone_with_debian_python(tmp_path):
    clone = fresh_clone(tmp_path / "clone")
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home)
    assert run(["python3", "-c", "import sys; print(sys.executable)"], clone, env).stdout == (
        f"{DEBIAN_PYTHON}\n"
    )

    mnt = tmp_path / "mnt"
    env_run = {**env, "METAFS_STORE": str(tmp_path / "store")}
    try:
        done = run(["scripts/run", str(mnt)], clone, env_run)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"metafs: mounted on {mnt}" in done.stdout
        assert is_mounted(mnt)
        assert "docker.io%2Flibrary%2Fredis:7.2" in os.listdir(mnt / "images")
        # the venv is the project's, made from Debian's python3
        cfg = (clone / ".venv" / "pyvenv.cfg").read_text()
        assert "home = /usr/bin\n" in cfg, cfg
        # metafs is linked into ~/.local/bin, and the user is told how to reach it
        link = home / ".local" / "bin" / "metafs"
        assert link.resolve() == (clone / ".venv" / "bin" / "metafs").resolve()
        assert "import re" not in link.read_text()  # pip >= 26's script: every call 5 ms less
        assert f'export PATH="{home}/.local/bin:$PATH"' in done.stdout
        completion = home / ".local" / "share" / "bash-completion" / "completions" / "metafs"
        assert completion.resolve() == clone / "scripts" / "metafs-completion.bash"
        umount = run(
            ["metafs", "umount", str(mnt)], clone, {**env, "PATH": f"{link.parent}:/usr/bin:/bin"}
        )
        assert umount.returncode == 0, umount.stderr
        assert not is_mounted(mnt)
    finally:
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)

    done = run(["scripts/test", "tests/test_codec.py"], clone, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout
    # pytest's "no tests collected" (exit 5) is a failure
    done = run(["scripts/test", "tests/test_codec.py", "-k", "no_such_test"], clone, env)
    assert done.returncode == 1
    assert "collected no tests" in done.stderr
