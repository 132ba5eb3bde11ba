"""Private etcd members for the tests: free loopback ports, a temporary data directory each,
started as child processes and stopped by PID. Never a system etcd (port 2379 is not used).

`EtcdCluster(tmp, size)` starts `size` members forming one cluster and waits until every member
answers `/health`; `stop()` ends them all. `kill(i)` / `restart(i)` let fault tests lose and
bring back one member with its data.
"""

from __future__ import annotations

import itertools
import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# metafs imports a containerd database in one transaction: raise etcd's per-request limits
# (defaults 128 operations and 1.5 MiB) as docs/etcd.md tells users to
MAX_TXN_OPS = 100_000
MAX_REQUEST_BYTES = 64 << 20
_prefixes = itertools.count()


def free_ports(count: int) -> list[int]:
    """Ports the kernel has just handed out and released: free unless something else takes
    one in the instant before etcd binds it (then the start fails and is retried)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def etcd_binary() -> str | None:
    return shutil.which("etcd")


class Member:
    def __init__(self, name: str, data_dir: Path, client_port: int, peer_port: int) -> None:
        self.name = name
        self.data_dir = data_dir
        self.client_port = client_port
        self.peer_port = peer_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.with_name(name + ".log")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def start(self, initial_cluster: str, token: str) -> None:
        client_url = f"http://{self.endpoint}"
        command = [
            etcd_binary() or "etcd",
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={initial_cluster}",
            f"--initial-cluster-token={token}",
            "--initial-cluster-state=new",
            f"--max-txn-ops={MAX_TXN_OPS}",
            f"--max-request-bytes={MAX_REQUEST_BYTES}",
            "--logger=zap",
            "--log-outputs=stderr",
            "--log-level=warn",
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def healthy(self) -> bool:
        try:
            url = f"http://{self.endpoint}/health"
            with urllib.request.urlopen(url, timeout=1) as answer:
                return json.loads(answer.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """End this member by its PID and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class EtcdCluster:
    """`size` etcd members on loopback, one cluster, in directory `base`."""

    def __init__(self, base: Path, size: int = 1, timeout: float = 30.0) -> None:
        if etcd_binary() is None:
            raise RuntimeError("etcd is not installed: run scripts/install-etcd")
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        ports = free_ports(2 * size)
        self.members = [
            Member(f"m{i}", base / f"m{i}.etcd", ports[2 * i], ports[2 * i + 1])
            for i in range(size)
        ]
        self.initial_cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        self.token = f"metafs-test-{ports[0]}"
        try:
            for member in self.members:
                member.start(self.initial_cluster, self.token)
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    @property
    def endpoints(self) -> list[str]:
        return [member.endpoint for member in self.members]

    def locator(self, prefix: str = "", members: list[int] | None = None) -> str:
        """`etcd://HOST:PORT,.../PREFIX` for the store factory."""
        chosen = self.members if members is None else [self.members[i] for i in members]
        hosts = ",".join(member.endpoint for member in chosen)
        return f"etcd://{hosts}" + (f"/{prefix}" if prefix else "")

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        pending = [m for m in self.members if m.running()]
        while pending:
            for member in pending:
                if not member.running():
                    raise RuntimeError(f"etcd {member.name} exited: {member.log.read_text()}")
            pending = [m for m in pending if not m.healthy()]
            if pending and time.monotonic() > deadline:
                names = ", ".join(m.name for m in pending)
                raise RuntimeError(f"etcd {names} not healthy after {timeout} s")
            if pending:
                time.sleep(0.05)

    def kill(self, index: int) -> None:
        """Lose member `index` at once (SIGKILL), as a crashed host."""
        self.members[index].stop(signal.SIGKILL)

    def restart(self, index: int) -> None:
        """Start member `index` again on its data directory (it rejoins the cluster)."""
        member = self.members[index]
        member.start(self.initial_cluster, self.token)
        self.wait_healthy()

    def stop(self) -> None:
        for member in self.members:
            member.stop()


# -- pytest fixtures; a test module imports the ones it uses --


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """One private etcd member for the whole session; tests keep apart by key prefix."""
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd"), 1)
    yield cluster
    cluster.stop()


def new_prefix() -> str:
    """A key prefix no other test uses, for a store of its own on the shared member."""
    return f"test{next(_prefixes)}"


@pytest.fixture
def etcd_prefix() -> str:
    """A key prefix no other test uses, for a store of its own on the shared member."""
    return new_prefix()


@pytest.fixture(scope="module")
def etcd_three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """A 3-member cluster for the fault tests."""
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd3"), 3)
    yield cluster
    cluster.stop()
