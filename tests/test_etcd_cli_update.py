"""The command line's write verbs on etcd run a transaction that raced another process's commit
again (`Store.update`): many `metafs images label` processes at once all succeed and lose no
label; a verb that is not idempotent (tag, create) is applied once and prints once; one that
loses every run fails with one line and changes nothing."""

from __future__ import annotations

import subprocess
import sys

from cli_helpers import env
from etcd_cluster import EtcdCluster
from mount_helpers import image, make_image

from metafs import Store

APP = "example.com/app:1"


def test_concurrent_label_commands_all_succeed_and_lose_no_label(
    etcd_server: EtcdCluster, etcd_prefix: str
):
    """Two scripts of 30 `images label` each, every command started at once, each setting its
    own key on one image: every command exits 0 and every label is there afterwards."""
    locator = etcd_server.locator(etcd_prefix)
    with Store.open(locator, create=True) as store:
        make_image(store, APP, {"env": "test"})
    wanted = {f"{script}{n}": f"v{n}" for script in "ab" for n in range(30)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "metafs",
                "--store",
                locator,
                "images",
                "label",
                APP,
                f"{k}={v}",
            ],
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k, v in wanted.items()
    ]
    failed = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        if proc.returncode != 0 or err:
            failed.append((proc.returncode, err.strip()))
    with Store.open(locator) as store:
        found = image(store, APP)
    assert found is not None
    missing = {k: v for k, v in wanted.items() if found.labels.get(k) != v}
    assert (len(failed), failed[:3]) == (0, [])
    assert missing == {}
    assert found.labels == {"env": "test", **wanted}
