"""The etcd engine on a real 3-member cluster: writers on different members, and a member lost
in the middle of a write storm."""

from __future__ import annotations

import threading
import time

from etcd_cluster import EtcdCluster

from metafs.errors import Conflict, MetafsError
from metafs.etcd.client import EtcdClient
from metafs.etcd.engine import EtcdEngine


def increment(engine: EtcdEngine, key: bytes) -> int:
    """Add one to the counter at `key`, re-running the transaction after a conflict; how many
    conflicts it met."""
    conflicts = 0
    while True:
        writer = engine.writer()
        try:
            writer.put(key, b"%d" % (int(writer.get(key) or b"0") + 1))
            writer.commit()
            return conflicts
        except Conflict:
            conflicts += 1
        finally:
            writer.abort()


def test_writers_on_different_members_lose_no_update(etcd_three: EtcdCluster):
    locator = etcd_three.locator("counter")
    EtcdEngine(locator, create=True).close()
    engines = [EtcdEngine(etcd_three.locator("counter", members=[i])) for i in range(3)]
    conflicts = [0] * 3
    errors: list[BaseException] = []
    rounds = 40

    def run(i: int) -> None:
        try:
            for _ in range(rounds):
                conflicts[i] += increment(engines[i], b"n")
        except BaseException as exc:  # reported below, not lost with the thread
            errors.append(exc)

    try:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        reader = engines[0].reader()
        assert reader.get(b"n") == b"%d" % (3 * rounds)
        reader.close()
    finally:
        for engine in engines:
            engine.close()
    assert sum(conflicts) > 0  # they did race: the guard, not luck, kept every update


def leader_index(cluster: EtcdCluster) -> int:
    ids = []
    for endpoint in cluster.endpoints:
        with EtcdClient([endpoint]) as client:
            status = client.status()
            ids.append((status.header.member_id, status.leader))
    leader = ids[0][1]
    return next(i for i, (member, _) in enumerate(ids) if member == leader)


def test_a_member_lost_during_a_write_storm_loses_no_acknowledged_write(
    etcd_three: EtcdCluster,
):
    locator = etcd_three.locator("storm")
    EtcdEngine(locator, create=True).close()
    acknowledged: list[set[bytes]] = [set() for _ in range(3)]
    failed: list[str] = []
    stop = threading.Event()

    def count() -> int:
        return sum(len(keys) for keys in acknowledged)

    def storm(i: int) -> None:
        engine = EtcdEngine(locator, retry_for=5.0)
        n = 0
        try:
            while not stop.is_set():
                key = b"w%d-%06d" % (i, n)
                n += 1
                writer = engine.writer()
                try:
                    writer.put(key, key)
                    writer.commit()
                    acknowledged[i].add(key)
                except Conflict:
                    pass  # raced another writer: not acknowledged, nothing applied
                except MetafsError as exc:
                    failed.append(str(exc))
                finally:
                    writer.abort()
        finally:
            engine.close()

    threads = [threading.Thread(target=storm, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        before = count()
        lost = leader_index(etcd_three)
        etcd_three.kill(lost)
        killed = time.monotonic()
        while time.monotonic() - killed < 10 and count() < before + 20:
            time.sleep(0.05)
        resumed = time.monotonic() - killed
        after_kill = count()
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        stop.set()
        if not etcd_three.members[lost].running():
            etcd_three.restart(lost)
    assert before > 20, "the storm did not get going"
    assert after_kill >= before + 20, f"writes did not go on without the member: {failed[:3]}"
    assert resumed < 6, f"writes resumed only {resumed:.1f} s after the member was lost"
    survivor = [i for i in range(3) if i != lost][0]
    engine = EtcdEngine(etcd_three.locator("storm", members=[survivor]))
    try:
        reader = engine.reader()
        stored = {key for key, _ in reader.items()}
        reader.close()
    finally:
        engine.close()
    for keys in acknowledged:
        assert keys <= stored, f"acknowledged but lost: {sorted(keys - stored)[:5]}"
