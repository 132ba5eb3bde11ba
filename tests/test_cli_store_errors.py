"""Opening the store from the command line: every way it can be wrong is one line on stderr and
exit status 1, never a traceback; read commands work on a store the user may only read; a store
is created only where the user asked for one, and private to its owner.

The tests run as root, whom permission bits do not stop: the commands that must meet them run
under `setpriv` without the capabilities that override them (CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH), so that root is refused as its owner's mode bits say.

A store that does not exist, and the default location, are tested on LMDB and etcd (the
`new_store` fixture). Modes, files and directories are an LMDB store's own; an etcd store's
own faults are a locator that is wrong and an etcd that does not answer.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import DIGEST, env, exists
from containerd_fixture import META_DB

from metafs import Descriptor, Image, Images, Store

NO_OVERRIDE = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
pytestmark = pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv")


def run(*args: str, as_owner_only: bool = False, extra_env=None) -> subprocess.CompletedProcess:
    environ = env()
    environ.update(extra_env or {})
    prefix = NO_OVERRIDE if as_owner_only else []
    return subprocess.run(
        [*prefix, sys.executable, "-m", "metafs", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )


def one_line(result: subprocess.CompletedProcess, *words: str) -> str:
    """The command failed with one `metafs: ...` line saying each of `words`."""
    assert result.returncode == 1, (result.args, result.returncode, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("metafs: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def make_store(path: Path) -> Path:
    with Store.open(path) as store, store.write() as tx:
        Images(tx, "default").create(Image("app:1", Descriptor("m", DIGEST, 1)))
    return path


WRITE = ["images", "label", "app:1", "k=v"]
READS = [["images", "ls", "-q"], ["dump"]]


def test_a_store_the_user_may_not_read(tmp_path):
    store = make_store(tmp_path / "store")
    store.chmod(0)
    try:
        for verb in [*READS, WRITE]:
            result = run("--store", str(store), *verb, as_owner_only=True)
            one_line(result, str(store), "permission denied")
        (tmp_path / "mnt").mkdir()
        result = run("mount", "--store", str(store), str(tmp_path / "mnt"), as_owner_only=True)
        one_line(result, str(store), "permission denied")
        assert not os.path.ismount(tmp_path / "mnt")
    finally:
        store.chmod(0o700)


def test_a_store_the_user_may_read_but_not_write_serves_reads(tmp_path):
    store = make_store(tmp_path / "store")
    for file in store.iterdir():
        file.chmod(0o400)
    store.chmod(0o500)
    try:
        result = run("--store", str(store), "images", "ls", "-q", as_owner_only=True)
        assert (result.returncode, result.stdout, result.stderr) == (0, "app:1\n", "")
        result = run("--store", str(store), "dump", as_owner_only=True)
        assert result.returncode == 0 and '"app:1"' in result.stdout, result.stderr
        one_line(run("--store", str(store), *WRITE, as_owner_only=True), "permission denied")
    finally:
        store.chmod(0o700)
        for file in store.iterdir():
            file.chmod(0o600)
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        assert Images(tx, "default").get("app:1").labels == {}


@pytest.mark.parametrize(
    "verb",
    [
        ["images", "ls"],
        ["dump"],
        ["images", "put", "app:1", "--digest", DIGEST, "--size", "1"],
        ["namespaces", "create", "ns"],
        WRITE,
        ["gc"],
    ],
)
def test_a_store_that_does_not_exist_is_not_created(new_store, verb):
    missing = new_store("typo")
    one_line(run("--store", str(missing), *verb), f'store "{missing}"', "not found")
    assert not exists(missing)


@pytest.fixture
def mountpoint(tmp_path: Path) -> Iterator[Path]:
    """A mount point that a mount which should have been refused does not outlive."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    yield mnt
    if os.path.ismount(mnt):
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)


def test_mount_of_a_store_that_does_not_exist_is_refused(new_store, mountpoint):
    missing = new_store("typo")
    for options in ([], ["--read-only"]):
        result = run("mount", "--store", str(missing), *options, str(mountpoint))
        one_line(result, f'store "{missing}"', "not found")
        assert not exists(missing) and not os.path.ismount(mountpoint)


def test_a_store_path_that_is_a_file(tmp_path, mountpoint):
    file = tmp_path / "file"
    file.write_text("x")
    for verb in [*READS, WRITE, ["mount", str(mountpoint)]]:
        result = run("--store", str(file), *verb)
        one_line(result, str(file), "is not a directory")
    assert file.read_text() == "x"


def test_a_directory_that_holds_something_else_is_not_made_a_store(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    for verb in [*READS, WRITE]:
        one_line(run("--store", str(other), *verb), str(other), "not found")
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


def modes(path: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in [path, *path.iterdir()]}


PRIVATE = {
    "store": 0o700,
    **dict.fromkeys(["data.mdb", "lock.mdb", "write.lock", "reserve"], 0o600),
}


def test_the_default_location_and_an_empty_directory_become_private_stores(tmp_path):
    """`$METAFS_STORE` (and the data directory) is where the user keeps the store: made on
    first use, as `scripts/run` relies on. An empty directory the user made is asked for too."""
    default = tmp_path / "default" / "store"
    old = os.umask(0)  # the modes come from metafs, not from a umask that happens to be strict
    try:
        result = run("namespaces", "create", "ns", extra_env={"METAFS_STORE": str(default)})
        assert (result.returncode, result.stderr) == (0, "")
        assert modes(default) == PRIVATE
        empty = tmp_path / "empty" / "store"
        empty.mkdir(parents=True, mode=0o700)
        result = run("--store", str(empty), "namespaces", "create", "ns")
        assert (result.returncode, result.stderr) == (0, "")
        assert modes(empty) == PRIVATE
    finally:
        os.umask(old)
    result = run("--store", str(empty), "namespaces", "ls", "-q")
    assert result.stdout == "ns\n"


def test_the_default_location_is_made_on_first_use_on_etcd_too(new_store):
    default = new_store("default")
    result = run("namespaces", "create", "ns", extra_env={"METAFS_STORE": str(default)})
    assert (result.returncode, result.stderr) == (0, "")
    result = run("--store", str(default), "namespaces", "ls", "-q")
    assert (result.returncode, result.stdout, result.stderr) == (0, "ns\n", "")


def test_an_unknown_kind_of_store_is_one_line():
    one_line(run("--store", "nope://host/x", "images", "ls"), "nope://", "unknown kind of store")


def run_together(*commands: list[str], extra_env=None) -> list[subprocess.CompletedProcess]:
    """`run(*command)` for each command, all at the same time (each waits seconds for etcd)."""
    environ = {**env(), **(extra_env or {})}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "metafs", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environ,
        )
        for command in commands
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


WRONG_LOCATORS = {
    "etcd://": "no etcd endpoint",
    "etcd:///prefix": "no etcd endpoint",
    "etcd://localhost/prefix": '"localhost" is not HOST:PORT',
    "etcd://127.0.0.1:x": '"127.0.0.1:x" is not HOST:PORT',
    "etcd://127.0.0.1:65536": '"127.0.0.1:65536" is not HOST:PORT',
    "etcd://127.0.0.1:0": '"127.0.0.1:0" is not HOST:PORT',
    "etcd://127.0.0.1:2379,[::1]:2379": "all IPv4 or all IPv6",
}


def test_a_wrong_etcd_locator_is_one_line():
    # each verb in turn: all read the locator alike (import after checking its file)
    verbs = [*READS, WRITE, ["import", str(META_DB)]]
    commands = [["--store", where, *verbs[i % 4]] for i, where in enumerate(WRONG_LOCATORS)]
    for command, result in zip(commands, run_together(*commands), strict=True):
        one_line(result, WRONG_LOCATORS[command[1]], "invalid argument")


def test_an_etcd_that_does_not_answer_is_one_line_in_seconds(tmp_path, mountpoint):
    """Nothing listens on port 1 (a privileged port no test starts a member on): every kind of
    command gives up after a few seconds with one line, the mount without mounting."""
    verbs = [READS[0], WRITE, ["import", str(META_DB)], ["mount", str(mountpoint)]]
    started = time.monotonic()
    results = run_together(
        *(["--store", "etcd://127.0.0.1:1/x", *verb] for verb in verbs),
        extra_env={"XDG_STATE_HOME": str(tmp_path)},
    )
    assert time.monotonic() - started < 15
    for result in results:
        one_line(result, "etcd 127.0.0.1:1: ", "Connection refused", ": etcd unavailable")
    assert not os.path.ismount(mountpoint)
