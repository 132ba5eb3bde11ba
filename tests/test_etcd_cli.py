"""The command line on an etcd store: `--store etcd://...` and `METAFS_STORE`, import and dump
as on LMDB, labels across members, a store that is not there (the CLI suites run on etcd too)."""

from __future__ import annotations

import subprocess
import sys

from cli_helpers import env, metafs, ok
from containerd_fixture import META_DB
from etcd_cluster import EtcdCluster

from metafs.etcd.client import EtcdClient


def test_import_then_dump_prints_what_lmdb_prints(
    tmp_path, etcd_server: EtcdCluster, etcd_prefix: str
):
    on_etcd = etcd_server.locator(etcd_prefix)
    on_lmdb = tmp_path / "store"
    ok(on_etcd, "import", str(META_DB))
    ok(on_lmdb, "import", str(META_DB))
    dumped = ok(on_etcd, "dump")
    assert len(dumped.splitlines()) > 200
    assert dumped == ok(on_lmdb, "dump")
    assert ok(on_etcd, "images", "ls") == ok(on_lmdb, "images", "ls")


def test_metafs_store_names_an_etcd_store(etcd_server: EtcdCluster, etcd_prefix: str):
    locator = etcd_server.locator(etcd_prefix)
    ok(locator, "import", str(META_DB))
    result = subprocess.run(
        [sys.executable, "-m", "metafs", "images", "ls", "-q"],
        env={**env(), "METAFS_STORE": locator},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "docker.io/library/alpine:3.19" in result.stdout.splitlines()


def test_a_label_written_through_one_member_reads_through_another(etcd_three: EtcdCluster):
    alpine = "docker.io/library/alpine:3.19"
    ok(etcd_three.locator("ns", members=[0]), "import", str(META_DB))
    ok(etcd_three.locator("ns", members=[1]), "images", "label", alpine, "env=prod")
    shown = ok(etcd_three.locator("ns", members=[2]), "images", "ls", "-q", "labels.env==prod")
    assert shown.splitlines() == [alpine]


def one_error_line(locator: str, *args: str) -> str:
    result = metafs(locator, *args)  # type: ignore[arg-type]
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("metafs: "), result.stderr
    return lines[0]


def test_a_store_not_there_is_one_line_of_error(etcd_server: EtcdCluster):
    missing = etcd_server.locator("never-made")
    assert one_error_line(missing, "images", "ls") == f'metafs: store "{missing}": not found'
    with EtcdClient(etcd_server.endpoints) as client:  # and it was not made
        assert client.range(b"never-made/", b"never-made0", count_only=True).count == 0
    # an etcd that does not answer: test_cli_store_errors.py
