"""`Store.update` on etcd: a write transaction that raced another commit is run again on a
fresh snapshot, applied once, and never over a value it did not see; the mount's writes go
through it, so two mounts on different members writing one object lose nothing and fail
nothing, and a write right after another process's commit (that the watch has not told yet)
succeeds."""

from __future__ import annotations

import subprocess

import pytest
from conftest import ENV, Mount
from etcd_cluster import EtcdCluster
from mount_helpers import image, make_image

from metafs import Store
from metafs.errors import Conflict
from metafs.etcd.client import EtcdClient
from metafs.images import Images
from metafs.store import Txn


@pytest.fixture
def locator(etcd_server: EtcdCluster, etcd_prefix: str) -> str:
    return etcd_server.locator(etcd_prefix)


def _counter(store: Store) -> dict[bytes, bytes]:
    with store.read() as tx:
        bucket = tx.bucket(b"t")
        assert bucket is not None
        return {key: value for key, value in bucket.items() if value is not None}


def test_an_update_that_raced_a_commit_runs_again_and_is_applied_once(locator: str):
    """Another host commits between the update's read and its commit: the first run is
    refused whole, the second reads that commit, and only the second run's change is
    applied (its log entry once, the counter moved by one over the other's)."""
    with Store.open(locator, create=True) as mine, Store.open(locator) as other:
        with mine.write() as tx:
            tx.create_buckets(b"t").put(b"n", b"0")
        runs: list[int] = []

        def change(tx: Txn) -> int:
            bucket = tx.bucket(b"t")
            assert bucket is not None
            n = int(bucket.get(b"n") or b"")
            runs.append(n)
            if len(runs) == 1:  # the race: another writer commits after this run read
                with other.write() as theirs:
                    counter = theirs.bucket(b"t")
                    assert counter is not None
                    counter.put(b"n", b"%d" % (n + 1))
                    counter.put(b"log-%d" % (n + 1), b"other")
            bucket.put(b"n", b"%d" % (n + 1))
            bucket.put(b"log-%d" % (n + 1), b"mine")
            return n + 1

        assert mine.update(change) == 2
        assert runs == [0, 1]
        assert _counter(other) == {b"n": b"2", b"log-1": b"other", b"log-2": b"mine"}


def test_an_update_that_always_races_fails_clearly_and_changes_nothing(locator: str):
    with Store.open(locator, create=True) as mine, Store.open(locator) as other:
        with mine.write() as tx:
            tx.create_buckets(b"t").put(b"n", b"0")
        runs = []

        def change(tx: Txn) -> None:
            runs.append(1)
            assert tx.bucket(b"t") is not None  # read: then another writer commits
            with other.write() as theirs:
                theirs.create_buckets(b"t").put(b"n", b"%d" % len(runs))
            tx.create_buckets(b"t").put(b"n", b"mine")

        with pytest.raises(Conflict) as refused:
            mine.update(change, attempts=3)
        assert len(runs) == 3
        assert "another writer committed" in str(refused.value)
        assert _counter(mine) == {b"n": b"3"}


def test_an_update_after_a_read_costs_one_round_trip(locator: str, monkeypatch):
    """A mount's `echo > labels/KEY` on an object it has just looked up: the update begins
    on what the lookup read and sends only its commit."""
    with Store.open(locator, create=True) as store:
        make_image(store, "example.com/app:1", {"env": "test"})
        with store.read() as tx:
            assert Images(tx, "default").get("example.com/app:1").labels == {"env": "test"}
        calls: list[str] = []
        client = store.engine.client  # type: ignore[attr-defined]
        for name in ("range", "txn"):
            real = getattr(client, name)
            monkeypatch.setattr(
                client, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k)
            )
        store.update(lambda tx: Images(tx, "default").set_label("example.com/app:1", "env", "x"))
        assert calls == ["txn"]
        assert image(store, "example.com/app:1").labels == {"env": "x"}


APP = "images/example.com%2Fapp:1"


class Shell:
    """One bash in a mount, run line by line: a line sent right after the test commits runs
    within microseconds (no process to start), before the mount's watch may tell it."""

    def __init__(self, mount: Mount) -> None:
        script = 'while IFS= read -r line; do eval "$line" 2>&1; echo "status $?"; done'
        self.proc = subprocess.Popen(
            ["bash", "-c", script],
            cwd=mount.path,
            env=ENV,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, line: str) -> str:
        """What `line` printed; it must succeed."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = []
        while not (answer := self.proc.stdout.readline()).startswith("status "):
            out.append(answer)
        assert answer == "status 0\n", (line, out)
        return "".join(out)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def leader_first(cluster: EtcdCluster) -> list[int]:
    """The members' indexes, the leader's first."""
    for i, endpoint in enumerate(cluster.endpoints):
        with EtcdClient([endpoint]) as client:
            status = client.status()
        if status.leader == status.header.member_id:
            return [i] + [j for j in range(len(cluster.members)) if j != i]
    raise AssertionError("no leader")


def test_a_mount_writes_right_after_another_processs_commit(tmp_path):
    """Another process commits a label through the leader, and at once the mount writes the
    same image through a follower, whose watch tells it of that commit only once the
    follower has applied it: the mount's write, begun on what it read before, is refused and
    run again on what the other committed, which it keeps. A rename of a label is not
    idempotent: run twice it would fail, over stale labels it would drop the other's. (The
    follower's watch is fast: a few of the 40 writes meet the race; the two-mount test below
    meets it dozens of times.)"""
    name = "example.com/app:1"
    cluster = EtcdCluster(tmp_path / "etcd", 3)
    mount = shell = None
    try:
        leader, follower, _ = leader_first(cluster)
        with Store.open(cluster.locator("soon", members=[leader]), create=True) as other:
            make_image(other, name, {"env": "test", "w": "-1"})
            locator = cluster.locator("soon", members=[follower])
            mount = Mount(locator, tmp_path / "mnt")  # type: ignore[arg-type]
            shell = Shell(mount)
            for i in range(20):
                assert shell.run(f"cat {APP}/labels/w") == f"{i - 1}\n"
                with other.write() as tx:
                    Images(tx, "default").set_label(name, f"other{i}", "x")
                shell.run(f"echo {i} > {APP}/labels/w")
                with other.write() as tx:
                    Images(tx, "default").set_label(name, f"more{i}", "x")
                source = "env" if i == 0 else f"m{i - 1}"
                shell.run(f"mv {APP}/labels/{source} {APP}/labels/m{i}")
            labels = image(other, name).labels
        others = {f"{kind}{i}": "x" for kind in ("other", "more") for i in range(20)}
        assert labels == {"m19": "test", "w": "19", **others}
    finally:
        if shell is not None:
            shell.close()
        if mount is not None:
            assert mount.stop() == 0
        cluster.stop()
    assert not mount.unexpected_errors()


def test_two_mounts_on_two_members_writing_one_image_lose_nothing(tmp_path):
    """Two mounts, through different members of a 3-member cluster, each set 60 labels of the
    same image as fast as bash goes: every write succeeds (a raced one is run again) and
    every label is there afterwards."""
    cluster = EtcdCluster(tmp_path / "etcd", 3)
    mounts: list[Mount] = []
    try:
        with Store.open(cluster.locator("race"), create=True) as store:
            make_image(store, "example.com/app:1", {"env": "test"})
        for i in (0, 1):
            locator = cluster.locator("race", members=[i])
            mounts.append(Mount(locator, tmp_path / f"mnt{i}"))  # type: ignore[arg-type]
        loop = 'for i in $(seq 60); do echo "$i" > "$1/labels/$2$i" || exit 1; done'
        writers = [
            subprocess.Popen(
                ["bash", "-c", loop, "race", APP, side],
                cwd=mount.path,
                env=ENV,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for mount, side in zip(mounts, "ab", strict=True)
        ]
        for writer in writers:
            out, err = writer.communicate(timeout=120)
            assert writer.returncode == 0 and not err, err
        refused = sum(m.log.read_text().count("refused: committed at") for m in mounts)
        assert refused > 0  # the writers did meet, and the writes refused were run again
        with Store.open(cluster.locator("race", members=[2])) as store:
            labels = image(store, "example.com/app:1").labels
        expected = {f"{side}{i}": str(i) for side in "ab" for i in range(1, 61)}
        assert labels == {"env": "test", **expected}
    finally:
        for mount in mounts:
            assert mount.stop() == 0
            assert not mount.unexpected_errors()
        cluster.stop()


def test_an_update_on_a_compacted_snapshot_runs_again(locator: str, etcd_server: EtcdCluster):
    """The first run begins on what a reader read; etcd compacts that revision away (after
    writes elsewhere in the cluster, so the watch tells nothing): the run's next read fails,
    and the update runs again on a fresh snapshot."""
    from metafs.etcd.proto import etcd_pb2 as pb

    with Store.open(locator, create=True) as store:
        with store.write() as tx:
            tx.create_buckets(b"t").put(b"n", b"0")
        with store.read() as tx:
            assert tx.bucket(b"t") is not None
        with EtcdClient(etcd_server.endpoints) as client:
            put = pb.RequestOp(request_put=pb.PutRequest(key=b"elsewhere", value=b"x"))
            revision = client.txn([], [put]).header.revision
            client.compact(revision)
        runs = []

        def change(tx: Txn) -> None:
            runs.append(1)
            bucket = tx.bucket(b"t")
            assert bucket is not None
            assert bucket.get(b"m") is None  # not read before: read at the revision
            bucket.put(b"n", b"%d" % (int(bucket.get(b"n") or b"") + 1))

        store.update(change)
        assert len(runs) == 2
        assert _counter(store) == {b"n": b"1"}
