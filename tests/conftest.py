"""Real FUSE mounts for the tests: a daemon per mount, driven with real shell tools.

`Mount` starts `python -m metafs mount --foreground` from this worktree, waits until the mount
shows in /proc/mounts, and on teardown unmounts (`fusermount3 -u -z`, even after a failure),
waits for the daemon, and fails the test if it logged an unexpected error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from metafs import Store

pytest_plugins = ["etcd_cluster"]  # private etcd members: etcd_server, etcd_prefix, etcd_three


class NewStores:
    """Where new stores go on one engine: `new_store(name)` is a store that does not exist
    yet, a directory in a temporary directory on LMDB, a key prefix no other test uses on the
    session's private etcd member (`etcd://127.0.0.1:PORT/PREFIX`). `.engine` says which."""

    def __init__(self, engine: str, base: Path, request: pytest.FixtureRequest) -> None:
        self.engine = engine
        self.base = base
        self.etcd = request.getfixturevalue("etcd_server") if engine == "etcd" else None

    def __call__(self, name: str = "store") -> Path | str:
        if self.etcd is not None:
            from etcd_cluster import new_prefix  # (a plugin: imported once pytest has it)

            return str(self.etcd.locator(f"{new_prefix()}-{name}"))
        return self.base / name


@pytest.fixture(params=["lmdb", "etcd"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> NewStores:
    """New stores for one test, once per engine the CLI suites run on."""
    return NewStores(request.param, tmp_path, request)


@pytest.fixture(scope="module", params=["lmdb", "etcd"])
def module_new_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> NewStores:
    """New stores shared by the tests of a module, once per engine."""
    return NewStores(request.param, tmp_path_factory.mktemp("stores"), request)


@pytest.fixture(params=["lmdb", "etcd"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a new empty store is, once per engine the store suites run on: an LMDB directory,
    then a prefix of its own on the session's private etcd member."""
    if request.param == "etcd":
        etcd = request.getfixturevalue("etcd_server")
        return str(etcd.locator(request.getfixturevalue("etcd_prefix")))
    return str(tmp_path / "store")


ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C.UTF-8"}


def is_mounted(path: Path) -> bool:
    target = f" {path} fuse.metafs "
    with open("/proc/mounts") as mounts:
        return any(target in line for line in mounts)


def wait_for(condition, timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


class Mount:
    """One running mount of a store."""

    def __init__(
        self, store_dir: Path, path: Path, *options: str, serve: list[str] | None = None
    ) -> None:
        self.store_dir = store_dir
        self.path = path
        self.log = path.with_name(path.name + ".log")
        path.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "metafs",
            "mount",
            "--store",
            str(store_dir),
            "--foreground",
            "--debug",
            *options,
            str(path),
        ]
        if serve is not None:  # a daemon of the test's own: STORE MOUNTPOINT after `serve`
            command = [*serve, str(store_dir), str(path)]
        self.log_file = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(command, env=ENV, stdout=self.log_file, stderr=self.log_file)
        if not wait_for(lambda: is_mounted(path) or self.proc.poll() is not None):
            self.stop()
            raise RuntimeError("mount did not come up")
        if self.proc.poll() is not None:
            raise RuntimeError(f"mount failed: {self.log.read_text()}")

    def sh(self, script: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run a bash script in the mount point."""
        return subprocess.run(
            ["bash", "-c", script],
            cwd=self.path,
            env=ENV,
            check=check,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def stop(self) -> int | None:
        """Unmount (lazily, so a stuck test cannot block it) and wait for the daemon."""
        if is_mounted(self.path):
            subprocess.run(
                ["fusermount3", "-u", "-z", str(self.path)], check=False, capture_output=True
            )
        try:
            status = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            status = self.proc.wait()
        self.log_file.close()
        return status

    def unexpected_errors(self) -> list[str]:
        text = self.log.read_text()
        return [line for line in text.splitlines() if "Traceback" in line or " ERROR " in line]


# Mount tests that hold only on LMDB, skipped on etcd: the reason each.
LMDB_ONLY = {
    "test_full_store_is_enospc": "a full LMDB map; etcd has its own quota",
    "test_df_shows_the_store_size_and_the_free_space": "compares with the free space of the "
    "disk under the store's directory",
    "test_spec_by_tee_cp_and_cat_redirect": "counts commits by generation() at once after "
    "another process's commit; on etcd the watch tells it milliseconds later",
    "test_numbers_stay_coherent_through_random_changes": "expects another process's commit to "
    "show in the mount at once; on etcd the watch tells the mount milliseconds later",
}


@pytest.fixture(scope="module", params=["lmdb", "etcd"])
def mount_factory(request, tmp_path_factory) -> Iterator:
    """Start mounts of fresh stores, on LMDB and then on the session's etcd member; all are
    unmounted and checked at the end of the module."""
    mounts: list[Mount] = []
    stores: dict[Path, Store] = {}  # one Store per path: an LMDB path is opened once a process

    def start(
        *options: str, fill=None, store_dir: Path | None = None, serve: list[str] | None = None
    ) -> tuple[Mount, Store]:
        base = tmp_path_factory.mktemp("metafs")
        if store_dir is None and request.param == "etcd":
            if serve is not None:
                pytest.skip("LMDB only: the test's own daemon takes a store directory")
            store_dir = request.getfixturevalue("etcd_server").locator(base.name)
        store_dir = store_dir or base / "store"
        if store_dir not in stores:
            stores[store_dir] = Store.open(store_dir)
        store = stores[store_dir]
        if fill is not None:
            fill(store)
        mount = Mount(store_dir, base / "mnt", *options, serve=serve)
        mounts.append(mount)
        return mount, store

    yield start
    failures = []
    for mount in mounts:
        status = mount.stop()
        if status != 0:
            failures.append(f"daemon of {mount.path} exited {status}")
        failures += mount.unexpected_errors()
    for store in stores.values():
        store.close()
    assert not failures, failures


# ---- the tiers, by file name (pyproject.toml registers the markers) -------------------------

TIERS = {"test_mount_": "mount", "test_readme": "mount", "test_cli_": "cli", "test_live_": "live"}
TIERS |= {"test_etcd_cli": "cli", "test_etcd_mount": "mount", "test_etcd_readme": "mount"}
TIERS |= {"test_etcd_loop": "mount"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier: `mount` (a real FUSE mount), `cli` (the command line in a
    subprocess), `live` (a private containerd), else `store` (in process)."""
    for item in items:
        name = item.path.name
        tier = next((t for prefix, t in TIERS.items() if name.startswith(prefix)), "store")
        item.add_marker(getattr(pytest.mark, tier))
        reason = LMDB_ONLY.get(getattr(item, "originalname", ""))
        if reason and "[etcd" in item.name:
            item.add_marker(pytest.mark.skip(reason=f"LMDB only: {reason}"))
