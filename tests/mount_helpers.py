"""Objects the mount tests put into a store, and how they read them back."""

from __future__ import annotations

import fcntl
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from metafs import (
    AnyValue,
    Container,
    Containers,
    Descriptor,
    Image,
    Images,
    Runtime,
    Store,
)
from metafs.codec import SPEC_TYPE_URL

NS = "default"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SPEC = b'{"ociVersion":"1.1.0","process":{"args":["sh"]}}'


def make_image(store: Store, name: str, labels: dict[str, str] | None = None) -> Image:
    with store.write() as tx:
        target = Descriptor(MANIFEST, DIGEST_A, 1234)
        return Images(tx, NS).create(Image(name, target, labels or {}))


def image(store: Store, name: str) -> Image | None:
    """The image or draft called `name`, as the store holds it now."""
    with store.read() as tx:
        images = Images(tx, NS)
        if images.exists(name):
            return images.get(name)
        return images.draft(name) if images.is_draft(name) else None


def make_container(store: Store, cid: str, **fields) -> Container:
    fields.setdefault("runtime", Runtime("io.containerd.runc.v2"))
    fields.setdefault("spec", AnyValue(SPEC_TYPE_URL, SPEC))
    with store.write() as tx:
        return Containers(tx, NS).create(Container(cid, **fields))


def container(store: Store, cid: str) -> Container | None:
    with store.read() as tx:
        containers = Containers(tx, NS)
        return containers.get(cid) if containers.exists(cid) else None


# Inode numbers hold while the kernel holds an entry; once it forgets one (drop_caches,
# memory reclaim) a name may get a new number, as FUSE allows. drop_caches acts on every mount
# of the machine (the tests of other worktrees write it too), so a test comparing numbers
# across a moment repeats its comparison until no drop happened meanwhile (/proc/vmstat
# counts them); the metafs tests that drop take this lock exclusively, those that compare
# share it, so that they do not starve each other.
CACHES_LOCK = "/tmp/metafs-tests-kernel-caches.lock"
_T = TypeVar("_T")


def _drops() -> int:
    with open("/proc/vmstat") as vmstat:
        return next(int(line.split()[1]) for line in vmstat if line.startswith("drop_slab "))


@contextmanager
def _shared_lock() -> Iterator[None]:
    with open(CACHES_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield


def while_kernel_holds(action: Callable[[], _T], attempts: int = 30) -> _T:
    """The result of `action()` in a run during which nothing dropped the kernel's caches."""
    for _ in range(attempts):
        with _shared_lock():
            before = _drops()
            result = action()
            if _drops() == before:
                return result
        time.sleep(0.1)
    raise AssertionError(f"the kernel's caches were dropped during each of {attempts} runs")


def drop_kernel_caches() -> None:
    """Make the kernel forget every unused entry and inode, of every mount."""
    with open(CACHES_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open("/proc/sys/vm/drop_caches", "w") as caches:
            caches.write("2\n")


def listing(mnt, *dirs: str) -> dict[str, tuple[str, int]]:
    """`find DIRS` in the mount: every path under them, with its type (`d`, `f`) and st_size."""
    result = mnt.sh(
        "find " + " ".join(shlex.quote(d) for d in dirs) + r" -printf '%y %s %p\0'", check=True
    )
    found = {}
    for entry in result.stdout.split("\0")[:-1]:
        kind, size, path = entry.split(" ", 2)
        found[path] = (kind, int(size))
    return found


def texts(mnt, *dirs: str, exclude: str = "") -> dict[str, str]:
    """`grep -r` in the mount: the text of every non-empty file under DIRS (each file ends in a
    newline), except files named `exclude`."""
    option = f"--exclude={shlex.quote(exclude)} " if exclude else ""
    quoted = " ".join(shlex.quote(d) for d in dirs)
    result = mnt.sh(f"grep -raZ {option}'' {quoted}", check=True)
    found: dict[str, str] = {}
    for line in result.stdout.split("\n")[:-1]:
        path, text = line.split("\0", 1)
        found[path] = found.get(path, "") + text + "\n"
    return found


def eventually(read, expected, timeout: float = 1.0) -> float:
    """How long `read()` took to return `expected` (the mount shows another's change within a
    second: the kernel caches entries and attributes for 0.9 s); fails after `timeout`."""
    start = time.monotonic()
    while (value := read()) != expected:
        assert time.monotonic() - start < timeout, (value, expected)
        time.sleep(0.02)
    return time.monotonic() - start


def why_chains(text: str) -> list[list[str]]:
    """The chains of a `why` file, each the list of what it passes through (no reasons)."""
    found: list[list[str]] = [[]]
    for line in text.splitlines()[1:]:
        if not line:
            found.append([])
        else:
            found[-1].append(line.strip().removeprefix("-> ").rsplit("  (", 1)[0])
    return found if found != [[]] else []
