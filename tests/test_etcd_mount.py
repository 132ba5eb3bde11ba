"""Two mounts of one etcd store, through different members of a 3-member cluster: each sees
the other's writes within a second (the watch), and bad input is still refused as on LMDB."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from conftest import ENV, Mount, is_mounted
from etcd_cluster import EtcdCluster
from mount_helpers import image, make_image

from metafs import Store


@pytest.fixture(scope="module")
def mounts(etcd_three: EtcdCluster, tmp_path_factory):
    locator = etcd_three.locator("mounted")
    store = Store.open(locator, create=True)
    make_image(store, "example.com/app:1", {"env": "test"})
    base = tmp_path_factory.mktemp("etcd-mounts")
    started = []
    try:
        for i in (0, 1):
            started.append(Mount(etcd_three.locator("mounted", members=[i]), base / f"mnt{i}"))
        yield started, store
    finally:
        failures = []
        for mount in started:
            if mount.stop() != 0:
                failures.append(f"daemon of {mount.path} failed")
            failures += mount.unexpected_errors()
        store.close()
        assert not failures, failures


def seen_within(mount: Mount, command: str, expected: str, timeout: float = 1.0) -> float:
    """Seconds until `command` in `mount` prints `expected`; fails after `timeout`."""
    started = time.monotonic()
    while True:
        result = mount.sh(command)
        elapsed = time.monotonic() - started
        if result.stdout == expected:
            return elapsed
        assert elapsed < timeout, (result.stdout, result.stderr)
        time.sleep(0.02)


APP = "images/example.com%2Fapp:1"


def test_a_label_written_in_one_mount_shows_in_the_other_within_a_second(mounts):
    (first, second), store = mounts
    assert second.sh(f"cat {APP}/labels/env").stdout == "test\n"
    assert first.sh(f"echo prod > {APP}/labels/env").returncode == 0
    seen_within(second, f"cat {APP}/labels/env", "prod\n")
    assert second.sh(f"echo eu > {APP}/labels/zone").returncode == 0
    seen_within(first, f"ls {APP}/labels", "env\nzone\n")
    assert second.sh(f"rm {APP}/labels/env").returncode == 0
    seen_within(first, f"ls {APP}/labels", "zone\n")
    assert image(store, "example.com/app:1").labels == {"zone": "eu"}


def test_bad_input_is_refused_and_changes_nothing(mounts):
    (first, second), store = mounts
    before = image(store, "example.com/app:1")
    result = first.sh(f"echo 12abc > {APP}/size")
    assert result.returncode != 0 and "Invalid argument" in result.stderr
    assert image(store, "example.com/app:1") == before
    assert second.sh(f"cat {APP}/size").stdout == f"{before.target.size}\n"


def test_a_new_image_shows_in_both(mounts):
    (first, second), _store = mounts
    assert first.sh("mkdir images/example.com%2Fnew:2").returncode == 0
    seen_within(second, "ls images", "example.com%2Fapp:1\nexample.com%2Fnew:2\n")


def test_a_write_without_a_quorum_fails_with_eio_and_the_mount_goes_on(tmp_path):
    cluster = EtcdCluster(tmp_path / "etcd", 3)
    mount = None
    try:
        store = Store.open(cluster.locator("quorum"), create=True)
        make_image(store, "example.com/app:1", {"env": "test"})
        store.close()
        mount = Mount(cluster.locator("quorum"), tmp_path / "mnt")
        assert mount.sh(f"cat {APP}/labels/env").stdout == "test\n"
        cluster.kill(1)
        cluster.kill(2)  # one member of three: no leader, nothing can commit
        failed = mount.sh(f"echo prod > {APP}/labels/env")
        assert failed.returncode != 0 and "Input/output error" in failed.stderr, failed
        assert mount.sh(f"cat {APP}/labels/env").stdout == "test\n"  # still serving
        cluster.restart(1)
        cluster.restart(2)
        written = mount.sh(f"echo prod > {APP}/labels/env")
        assert written.returncode == 0, written.stderr
        assert mount.sh(f"cat {APP}/labels/env").stdout == "prod\n"
        with Store.open(cluster.locator("quorum", members=[2])) as again:
            assert image(again, "example.com/app:1").labels == {"env": "prod"}
    finally:
        if mount is not None:
            assert mount.stop() == 0
        cluster.stop()


def test_mounting_an_etcd_store_that_is_not_there_says_so(etcd_server: EtcdCluster, tmp_path):
    """The daemon, forked before any gRPC is used, opens the store and says why it cannot."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "metafs", "--store", etcd_server.locator("absent"), "mount", mnt],
        env={**ENV, "XDG_STATE_HOME": str(tmp_path / "state")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "not found" in result.stderr, result.stderr
    assert not is_mounted(mnt)
