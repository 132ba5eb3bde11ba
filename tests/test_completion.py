"""Bash completion, run by a real bash: scripts/metafs-completion.bash's function is called as
bash calls it on <Tab> (COMP_LINE, COMP_POINT), and COMPREPLY is what the user would be offered."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest
from cli_helpers import ROOT, env, ok
from containerd_fixture import META_DB

GLUE = ROOT / "scripts" / "metafs-completion.bash"


@pytest.fixture(scope="module")
def shell(tmp_path_factory):
    """A function completing a line (as typed, the cursor at its end) against the fixture."""
    base = tmp_path_factory.mktemp("completion")
    store = base / "store"
    ok(store, "import", "-q", str(META_DB))
    bindir = base / "bin"
    bindir.mkdir()
    wrapper = bindir / "metafs"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m metafs "$@"\n')
    wrapper.chmod(0o755)
    environ = {**env(), "PATH": f"{bindir}:/usr/bin:/bin", "METAFS_STORE": str(store)}

    def complete(line: str) -> list[str]:
        script = (
            f"source {shlex.quote(str(GLUE))}\n"
            f"COMP_LINE={shlex.quote(line)}; COMP_POINT=${{#COMP_LINE}}\n"
            "_metafs\n"
            'printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        done = subprocess.run(
            ["bash", "-c", script], env=environ, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0 and done.stderr == "", done.stderr
        return [word for word in done.stdout.split("\n") if word]

    complete.store = store  # type: ignore[attr-defined]
    return complete


def test_commands_verbs_and_options(shell):
    assert {"images", "containers", "gc", "mount", "umount", "import"} <= set(shell("metafs "))
    assert shell("metafs im") == ["images", "import"]
    assert shell("metafs images ") == ["label", "ls", "put", "rm", "tag"]
    assert "--format" in shell("metafs images ls --")
    assert shell("metafs images ls --format ") == ["json", "table"]
    assert shell("metafs gc explain ") == ["content", "ingest", "lease", "snapshot"]


def test_names_from_the_store(shell):
    expected = ok(shell.store, "images", "ls", "-q")
    names = shell("metafs images rm ")
    assert len(names) == len(expected.splitlines())
    assert "example.com/odd\\ name\\ with\\ spaces:1" in names  # escaped for the shell
    # bash replaces only what follows the last ':' of the word
    assert shell("metafs images label docker.io/library/alpine:") == ["3.19", "latest"]
    assert shell("metafs -n team-b images rm docker.io/") == ["docker.io/library/alpine:3.19"]
    assert shell("metafs images rm -n team-b registry.example.com:5000/") == ["5000/team-b/svc:2.0"]
    assert shell("metafs -n ") == ["default", "labeled-ns", "team-b"]
    assert shell("metafs containers info ") == ["db-1", "kata-1", "web-1"]
    assert shell("metafs gc explain snapshot ") == ["native", "overlayfs"]
    assert "web-1" in shell("metafs gc explain snapshot overlayfs ")


def test_nothing_to_offer_and_no_store_give_no_noise(shell, tmp_path):
    assert shell("metafs images ls ") == []
    assert shell(f"metafs --store {tmp_path}/none images rm ") == []
