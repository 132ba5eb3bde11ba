"""The command line's write verbs on etcd run a transaction that raced another process's commit
again (`Store.update`): many `metafs images label` processes at once all succeed and lose no
label; a verb that is not idempotent (tag, create) is applied once and prints once; one that
loses every run fails with one line and changes nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from cli_helpers import env
from containerd_fixture import META_DB
from etcd_cluster import EtcdCluster
from mount_helpers import NS, image, make_image

from metafs import Store
from metafs.cli import main
from metafs.containers import Containers
from metafs.content import Content
from metafs.images import Images
from metafs.importer import ATTEMPTS as IMPORT_ATTEMPTS
from metafs.leases import Leases
from metafs.store import ATTEMPTS, Txn

APP = "example.com/app:1"  # its target: mount_helpers.DIGEST_A
BLOB_1 = "sha256:" + "1" * 64
BLOB_2 = "sha256:" + "2" * 64


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


class Race:
    """Another writer on the same store (a second client, as another host would be) commits
    `change` just before each of the command's first `times` commits, so that each of those
    is refused: a real race, made deterministic. `runs` counts the command's transactions."""

    def __init__(self, monkeypatch, locator: str, change: Callable[[Txn], object], times: int):
        self.other = Store.open(locator)
        self.runs = 0
        real = Txn._run_before_commit

        def before_commit(tx: Txn) -> None:
            real(tx)
            if tx.store is self.other:
                return
            self.runs += 1
            if self.runs <= times:
                with self.other.write() as theirs:
                    change(theirs)

        monkeypatch.setattr(Txn, "_run_before_commit", before_commit)

    def close(self) -> None:
        self.other.close()


def run(capfd, locator: str, *argv: str) -> tuple[int, str, str]:
    """`metafs --store LOCATOR ARGV...` in this process (where the race is set up): status,
    stdout, stderr."""
    status = main(["--store", locator, *argv])
    out, err = capfd.readouterr()
    return status, out, err


@pytest.fixture
def locator(etcd_server: EtcdCluster, etcd_prefix: str, monkeypatch) -> str:
    monkeypatch.delenv("METAFS_NAMESPACE", raising=False)
    monkeypatch.delenv("CONTAINERD_NAMESPACE", raising=False)
    locator = etcd_server.locator(etcd_prefix)
    with Store.open(locator, create=True) as store:
        make_image(store, APP, {"env": "test"})
    return locator


def label(key: str, value: str) -> Callable[[Txn], object]:
    """Another writer's change: set a label of APP."""
    return lambda tx: Images(tx, NS).set_label(APP, key, value)


def test_images_tag_that_raced_a_label_change_copies_the_new_labels_once(
    locator: str, capfd, monkeypatch
):
    """`images tag` is not idempotent (a second create of DST fails): its first run is
    refused whole, the second copies the image as the other writer left it, and DST is
    printed once."""
    race = Race(monkeypatch, locator, label("raced", "yes"), times=1)
    try:
        assert run(capfd, locator, "images", "tag", APP, "example.com/app:2") == (
            0,
            "example.com/app:2\n",
            "",
        )
        assert race.runs == 2
    finally:
        race.close()
    with Store.open(locator) as store:
        copy = image(store, "example.com/app:2")
    assert copy is not None and copy.labels == {"env": "test", "raced": "yes"}


def test_containers_create_that_raced_is_applied_once_with_what_the_image_has_now(
    locator: str, capfd, monkeypatch
):
    race = Race(monkeypatch, locator, label("tier", "web"), times=2)
    try:
        assert run(capfd, locator, "containers", "create", APP, "web-1") == (0, "", "")
        assert race.runs == 3
    finally:
        race.close()
    with Store.open(locator) as store, store.read() as tx:
        containers = list(Containers(tx, NS).list())
    assert [(c.id, c.labels) for c in containers] == [("web-1", {"env": "test", "tier": "web"})]


def test_leases_create_that_raced_makes_one_lease_with_the_id_it_prints(
    locator: str, capfd, monkeypatch
):
    race = Race(monkeypatch, locator, label("raced", "yes"), times=1)
    try:
        status, out, err = run(capfd, locator, "leases", "create")
        assert race.runs == 2
    finally:
        race.close()
    assert (status, err) == (0, "")
    with Store.open(locator) as store, store.read() as tx:
        assert list(Leases(tx, NS).ids()) == [out.strip()]


def test_images_rm_that_raced_prints_each_name_once(locator: str, capfd, monkeypatch):
    race = Race(monkeypatch, locator, label("raced", "yes"), times=1)
    try:
        assert run(capfd, locator, "images", "rm", APP, APP) == (0, f"{APP}\n", "")
        assert race.runs == 2
    finally:
        race.close()
    with Store.open(locator) as store:
        assert image(store, APP) is None


def test_gc_that_raced_prints_what_its_last_run_removed(locator: str, capfd, monkeypatch):
    """The other writer adds an unreferenced blob record while gc's first run collects the
    first one: the refused run removed nothing, the second removes both, printed once."""
    with Store.open(locator) as store, store.write() as tx:
        Content(tx, NS).create(BLOB_1, 10)
    race = Race(monkeypatch, locator, lambda tx: Content(tx, NS).create(BLOB_2, 20), times=1)
    try:
        status, out, err = run(capfd, locator, "gc")
        assert race.runs == 2
    finally:
        race.close()
    assert (status, err) == (0, "")
    assert out == f"default content {BLOB_1}\ndefault content {BLOB_2}\n"
    with Store.open(locator) as store, store.read() as tx:
        assert list(Content(tx, NS).digests()) == []


def test_import_that_raced_runs_again_whole_and_leaves_what_the_file_has(
    locator: str, capfd, monkeypatch, tmp_path
):
    """An import replaces what it copies: run again after another writer's commit, it leaves
    the store as an import into an untouched one does (the other's image is replaced)."""
    race = Race(monkeypatch, locator, label("raced", "yes"), times=1)
    try:
        status, out, err = run(capfd, locator, "import", str(META_DB))
        assert race.runs == 2
    finally:
        race.close()
    assert (status, err) == (0, "")
    assert out.startswith("imported ") and out.count("\n") == 1
    lmdb = str(tmp_path / "lmdb")
    assert run(capfd, lmdb, "import", str(META_DB))[1] == out.replace(locator, lmdb)
    assert run(capfd, locator, "dump") == run(capfd, lmdb, "dump")


def test_a_command_that_loses_every_run_fails_with_one_line_and_changes_nothing(
    locator: str, capfd, monkeypatch
):
    race = Race(monkeypatch, locator, label("raced", "yes"), times=ATTEMPTS)
    try:
        status, out, err = run(capfd, locator, "images", "label", APP, "mine=1")
        assert race.runs == ATTEMPTS
    finally:
        race.close()
    assert (status, out) == (1, "")
    assert err == (
        f'metafs: store "{locator}": another writer committed during each of the {ATTEMPTS} '
        "runs of this change, which changed nothing: conflict, try again\n"
    )
    with Store.open(locator) as store:
        found = image(store, APP)
    assert found is not None and found.labels == {"env": "test", "raced": "yes"}


def test_on_lmdb_a_write_verb_runs_once(tmp_path, capfd, monkeypatch):
    """LMDB has one writer at a time: the command's transaction never meets another's."""
    where = str(tmp_path / "store")
    with Store.open(where) as store:
        make_image(store, APP, {"env": "test"})
    runs = []
    real = Txn._run_before_commit
    monkeypatch.setattr(Txn, "_run_before_commit", lambda tx: runs.append(1) or real(tx))
    assert run(capfd, where, "images", "tag", APP, "example.com/app:2")[0] == 0
    assert runs == [1]


def test_an_import_that_loses_every_run_gives_up_after_a_few(locator: str, capfd, monkeypatch):
    """A run of a big import takes seconds, and any commit meanwhile refuses it: it gives up
    after importer.ATTEMPTS runs, not 64, and leaves the store as the other writer left it."""
    race = Race(monkeypatch, locator, label("raced", "yes"), times=IMPORT_ATTEMPTS)
    try:
        status, out, err = run(capfd, locator, "import", str(META_DB))
        assert race.runs == IMPORT_ATTEMPTS < ATTEMPTS
    finally:
        race.close()
    assert (status, out) == (1, "")
    assert err.count("\n") == 1
    assert f"during each of the {IMPORT_ATTEMPTS} runs of this change, which changed" in err
    with Store.open(locator) as store, store.read() as tx:
        assert [image.name for image in Images(tx, NS).list()] == [APP]
