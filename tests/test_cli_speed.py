"""One-shot commands load only what they use (scripts call metafs in loops, and imports were
most of a call's time: scripts/bench_cli measures it against `python -c pass`). Not timed:
these check which modules a command loads, so that the win does not silently erode."""

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
# what a read verb must not load: each costs 1-10 ms of a call that may take about 17
# (docs/performance.md); valid command lines are parsed without argparse (metafs/cli/matcher.py)
FORBIDDEN = (
    *("argparse", "re", "typing", "dataclasses", "inspect", "pathlib", "enum", "gettext"),
    *("locale", "json", "collections", "functools", "contextlib", "threading", "importlib"),
    *("runpy", "ast", "tokenize", "datetime", "fractions", "base64", "shutil"),
)
READ_VERBS = [
    ("images", "ls", "-q"),
    ("images", "ls"),
    ("containers", "ls", "-q"),
    ("containers", "ls"),
    ("snapshots", "ls"),
    ("content", "ls", "-q"),
    ("content", "ls"),
    ("leases", "ls", "-q"),
    ("leases", "ls"),
    ("namespaces", "ls", "-q"),
    ("namespaces", "ls"),
]
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


def modules_at_exit(argv: list[str]) -> set[str]:
    """Every module loaded once `metafs ARGV` ran as the console script runs it, in a Python
    without site (whose .pth files may load modules at every start)."""
    environ = env()
    environ["PYTHONPATH"] = os.pathsep.join([environ["PYTHONPATH"], *site.getsitepackages()])
    probe = (
        "import sys\nfrom metafs.cli import main\n"
        f"status = main({argv!r})\n"
        "sys.stderr.write(' '.join(sorted(sys.modules)) + '\\n')\nsys.exit(status)"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe], capture_output=True, text=True, env=environ
    )
    assert done.returncode == 0, done.stderr
    return set(done.stderr.splitlines()[-1].split())


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    store = tmp_path_factory.mktemp("speed") / "store"
    ok(store, "import", "-q", str(META_DB))
    return str(store)


@pytest.mark.parametrize("command", READ_VERBS, ids=" ".join)
def test_a_read_verb_loads_none_of_the_slow_modules(small_store, command):
    modules = modules_at_exit(["--store", small_store, *command])
    assert "metafs.cli.matcher" in modules
    assert not {m.split(".")[0] for m in modules} & set(FORBIDDEN)


def test_a_filter_loads_the_filter_parser_only_then(small_store):
    """A regex filter needs re; the guard above is for what every call pays."""
    modules = modules_at_exit(["--store", small_store, "images", "ls", "-q", "name~=^docker"])
    assert "re" in modules
    assert not {"argparse", "typing", "dataclasses"} & modules


def test_help_still_lists_every_command(tmp_path):
    text = ok(tmp_path, "--help")
    for command in ("images", "containers", "namespaces", "leases", "snapshots", "content"):
        assert f"    {command}" in text, command
    for command in ("gc", "import", "dump", "mount", "umount"):
        assert f"    {command}" in text, command
