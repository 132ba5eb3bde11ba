"""A private containerd for the live tests: its own root, state, sockets and config in a temp dir.

`LiveNode` writes a config (gRPC and ttrpc sockets under its base dir, the CRI and the snapshotters
we do not use disabled), starts `containerd`, waits for the socket, and `ctr` runs against it. The
image is built here from Debian's `busybox-static` as an OCI layout tar (no registry) and
imported with `ctr images import`. The socket is `<state>/containerd.sock`, where metafs
looks by default. Tasks run with `--runc-root` and `--fifo-dir` under the base
dir, in a namespace of their own, so nothing is shared with another containerd on the machine
(the shims' sockets are the exception: containerd 1.6 puts them in /run/containerd/s, named by
a hash of our socket path).

`stop()` deletes every task (killed first) and container of its namespaces, stops containerd by
its PID, and checks that no shim of ours is left.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BUSYBOX = Path("/bin/busybox")
IMAGE = "docker.io/library/busybox:live"
DISABLED = (
    "io.containerd.grpc.v1.cri",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.internal.v1.opt",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
)


def have_containerd() -> str | None:
    """Why the live tests cannot run here, or None."""
    for tool in ("containerd", "ctr", "runc", "containerd-shim-runc-v2"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/install-containerd)"
    if not BUSYBOX.exists():
        return "busybox-static is not installed (scripts/install-containerd)"
    if os.geteuid() != 0:
        return "a containerd with tasks needs root"
    return None


def _blob(blobs: dict[str, bytes], data: bytes, media_type: str) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def _layer() -> bytes:
    """/bin/busybox and the applets the tests call as symlinks to it."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("bin", "tmp", "proc", "dev", "sys", "etc"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        data = BUSYBOX.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in ("sh", "sleep", "true", "cat"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return out.getvalue()


def build_image_tar(path: Path, name: str = IMAGE) -> Path:
    """An OCI image layout tar of one busybox image for this machine, named `name`."""
    blobs: dict[str, bytes] = {}
    layer = _layer()
    layer_desc = _blob(blobs, layer, "application/vnd.oci.image.layer.v1.tar")
    config = {
        "architecture": "amd64" if os.uname().machine == "x86_64" else "arm64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
    }
    config_desc = _blob(
        blobs, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer_desc],
    }
    manifest_desc = _blob(
        blobs, json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json"
    )
    manifest_desc["annotations"] = {"io.containerd.image.name": name}
    manifest_desc["platform"] = {"architecture": config["architecture"], "os": "linux"}
    index = {"schemaVersion": 2, "manifests": [manifest_desc]}
    files = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps(index).encode(),
        **{f"blobs/sha256/{d.removeprefix('sha256:')}": data for d, data in blobs.items()},
    }
    with tarfile.open(path, "w") as tar:
        for file_name, data in files.items():
            info = tarfile.TarInfo(file_name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


class LiveNode:
    """One private containerd, started in `base`."""

    def __init__(self, base: Path, namespace: str) -> None:
        self.base = base
        self.namespace = namespace
        self.root = base / "root"
        self.state = base / "state"
        self.runc_root = base / "runc"
        self.fifo_dir = base / "fifo"
        self.address = str(self.state / "containerd.sock")  # the default for --state
        self.meta_db = self.root / "io.containerd.metadata.v1.bolt" / "meta.db"
        self.log_path = base / "containerd.log"
        config = base / "config.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{self.root}"\n'
            f'state = "{self.state}"\n'
            f"disabled_plugins = {json.dumps(list(DISABLED))}\n"
            f'[grpc]\n  address = "{self.address}"\n'
            f'[ttrpc]\n  address = "{self.address}.ttrpc"\n'
            '[debug]\n  address = ""\n  level = "info"\n'
            '[metrics]\n  address = ""\n'
        )
        self.namespaces = {namespace}
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["containerd", "--config", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"containerd did not start: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        if not os.path.exists(self.address):
            return False
        done = subprocess.run(
            ["ctr", "--address", self.address, "version"], capture_output=True, timeout=10
        )
        return done.returncode == 0

    def ctr(self, *args: str, namespace: str | None = None, check: bool = True) -> str:
        """Run ctr against this containerd; its stdout."""
        ns = namespace or self.namespace
        self.namespaces.add(ns)
        done = subprocess.run(
            ["ctr", "--address", self.address, "--namespace", ns, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {done.returncode} {done.stderr.strip()}")
        return done.stdout

    def import_image(self, name: str = IMAGE) -> str:
        tar = build_image_tar(self.base / "image.tar", name)
        self.ctr("images", "import", str(tar))
        return name

    def run(self, container_id: str, *command: str, image: str = IMAGE, **labels: str) -> None:
        """`ctr run -d` a task with runc's state and the fifos under this node's base dir."""
        flags = [f"--label={k}={v}" for k, v in labels.items()]
        self.ctr(
            "run",
            "-d",
            "--runc-root",
            str(self.runc_root),
            "--fifo-dir",
            str(self.fifo_dir),
            *flags,
            image,
            container_id,
            *command,
        )

    def shim_pids(self) -> list[int]:
        """The shims serving this containerd (their command line names our socket)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            shim = cmdline[0].endswith(b"containerd-shim-runc-v2")
            if shim and self.address.encode() in cmdline:
                pids.append(int(entry.name))
        return pids

    def clean(self, namespace: str) -> None:
        """Kill and delete every task, then delete every container of `namespace`."""
        for task in self.ctr("tasks", "ls", "-q", namespace=namespace, check=False).split():
            self.ctr("tasks", "kill", "-s", "KILL", task, namespace=namespace, check=False)
        for task in self.ctr("tasks", "ls", "-q", namespace=namespace, check=False).split():
            for _ in range(100):
                self.ctr("tasks", "delete", "-f", task, namespace=namespace, check=False)
                if task not in self.ctr("tasks", "ls", "-q", namespace=namespace, check=False):
                    break
                time.sleep(0.05)
        for container in self.ctr("containers", "ls", "-q", namespace=namespace).split():
            self.ctr("containers", "rm", container, namespace=namespace, check=False)

    def stop(self) -> list[str]:
        """Clean every namespace used, stop containerd by PID; what was left behind, if anything."""
        left: list[str] = []
        if self.proc.poll() is None:
            for ns in sorted(self.namespaces):
                try:
                    self.clean(ns)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    left.append(f"cleaning {ns}: {exc}")
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        for pid in self.shim_pids():
            left.append(f"shim {pid} still runs")
            os.kill(pid, signal.SIGKILL)
        return left


def start_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    """A fixture body: a LiveNode with the busybox image imported, stopped and checked after."""
    reason = have_containerd()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("ctrd")
    node = LiveNode(base, f"metafs-live-{os.getpid()}-{base.name}")  # cgroups are shared
    try:
        node.import_image()
        yield node
    finally:
        left = node.stop()
        assert not left, left


class LiveMount:
    """`metafs mount --containerd [--read-only]` of a node's namespace, in the foreground,
    stopped with `fusermount3 -u -z` (even after a failure)."""

    def __init__(self, node: LiveNode, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        path.mkdir(exist_ok=True)
        self.log = path.with_name(path.name + ".log")
        self._log = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        root = Path(__file__).resolve().parents[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("METAFS_", "CONTAINERD_"))}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "metafs",
                "mount",
                "--containerd",
                "--root",
                str(node.root),
                "--state",
                str(node.state),
                "-n",
                node.namespace,
                "--foreground",
                "--debug",
                *(["--read-only"] if read_only else []),
                str(path),
            ],
            env={**env, "PYTHONPATH": str(root)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while not os.path.ismount(path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the mount did not come up: {self.log.read_text()}")
            time.sleep(0.02)

    def sh(self, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", script], cwd=self.path, capture_output=True, text=True, timeout=30
        )

    def stop(self) -> list[str]:
        """Unmount, wait for the daemon; what went wrong, if anything."""
        if os.path.ismount(self.path):
            subprocess.run(["fusermount3", "-u", "-z", str(self.path)], capture_output=True)
        try:
            status = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        self._log.close()
        text = self.log.read_text()
        bad = [line for line in text.splitlines() if "Traceback" in line or " ERROR " in line]
        return bad + ([f"the daemon exited {status}"] if status else [])


def mounted(node: LiveNode, path: Path) -> Iterator[LiveMount]:
    """A fixture's body: a live mount of `node` at `path`, stopped afterwards, failing the
    test if its daemon logged an error or exited badly."""
    mount = LiveMount(node, path)
    try:
        yield mount
    finally:
        problems = mount.stop()
    assert not problems, problems
