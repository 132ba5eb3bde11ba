"""One-shot commands load only what they use (scripts call metafs in loops, and imports were
most of a call's time: scripts/bench_cli measures it against `python -c pass`)."""

from __future__ import annotations

import os
import site
import subprocess
import sys

import pytest
from cli_helpers import env, ok
from containerd_fixture import META_DB

# heavy modules a one-shot store command does not need: each loads where it is used
WATCH = (
    *("json", "pyfuse3", "trio", "hypothesis", "grpc", "google.protobuf"),
    *("hashlib", "ctypes", "shutil", "datetime"),
)
PROBE = """\
import sys
{setup}
modules = (m for m in sys.modules if m.startswith("metafs") or m.startswith({watch!r}))
sys.stderr.write(" ".join(sorted(modules)) + "\\n")
"""


def loaded(setup: str) -> set[str]:
    """The metafs modules (and the heavy others of WATCH) a Python has loaded after `setup`.
    Without site (-S): the .pth files of site-packages may load modules at every start (this
    machine's load shutil, for one), which would hide the same modules loaded by metafs."""
    environ = env()
    environ["PYTHONPATH"] = os.pathsep.join([environ["PYTHONPATH"], *site.getsitepackages()])
    done = subprocess.run(
        [sys.executable, "-S", "-c", PROBE.format(setup=setup, watch=WATCH)],
        capture_output=True,
        text=True,
        env=environ,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stderr.splitlines()[-1].split())


def test_import_metafs_loads_nothing_else():
    assert loaded("import metafs") == {"metafs"}


def test_a_name_of_the_api_loads_its_module_on_first_use():
    modules = loaded("from metafs import Store")
    assert {"metafs", "metafs.store"} <= modules
    assert not modules & {"metafs.images", "metafs.containers", "metafs.gc"}


def test_images_ls_loads_only_the_images_group(tmp_path):
    store = tmp_path / "store"
    ok(store, "import", "-q", str(META_DB))
    modules = loaded(
        f"from metafs.cli import main\nmain(['--store', {str(store)!r}, 'images', 'ls', '-q'])"
    )
    assert "metafs.cli.images" in modules
    others = {f"metafs.cli.{m}" for m in ("containers", "leases", "content", "gc", "mount")}
    assert not modules & (others | {"metafs.fs", "metafs.bolt", "metafs.dump"})
    assert not {m for m in modules if m.startswith(WATCH)}


@pytest.mark.parametrize(
    "command",
    [
        ("images", "ls", "-q"),
        ("containers", "ls", "-q"),
        ("namespaces", "ls", "-q"),
        ("leases", "ls", "-q"),
        ("snapshots", "ls"),
        ("content", "ls"),
    ],
)
def test_a_store_command_loads_no_other_engine(tmp_path, command):
    """An LMDB store: no other engine, nothing of etcd, of a live containerd (grpc) or of the
    mount; the live package itself only names containerd's default paths for the options."""
    store = tmp_path / "store"
    ok(store, "import", "-q", str(META_DB))
    argv = ["--store", str(store), *command]
    modules = loaded(f"from metafs.cli import main\nmain({argv!r})")
    assert {m for m in modules if m.startswith("metafs.engines.")} == {"metafs.engines.lmdb"}
    heavy = ("metafs.etcd", "metafs.live.", "metafs.fs", "grpc", "google.protobuf", "pyfuse3")
    assert not {m for m in modules if m.startswith(heavy)}


def test_help_still_lists_every_command(tmp_path):
    text = ok(tmp_path, "--help")
    for command in ("images", "containers", "namespaces", "leases", "snapshots", "content"):
        assert f"    {command}" in text, command
    for command in ("gc", "import", "dump", "mount", "umount"):
        assert f"    {command}" in text, command
