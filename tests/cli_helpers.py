"""Running `python -m metafs` against a store, and looking at the store. A store is where the
`new_store` fixture (conftest.py) put it: an LMDB directory (a Path) or an `etcd://` locator.

The commands run in subprocesses with PYTHONPATH set to this worktree, so the code under test
is the worktree's; TZ is UTC so local times print as ctr printed them for the fixture.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from metafs import Bucket, Store
from metafs.errors import NotFound

ROOT = Path(__file__).resolve().parents[1]

DIGEST = "sha256:77c508ee5a3a257a51d5640cc183eb15622e066838d22835ea36b11232590550"
OTHER_DIGEST = "sha256:" + "ab" * 32
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def env() -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("METAFS_", "CONTAINERD_"))}
    environ["PYTHONPATH"] = str(ROOT)
    environ["TZ"] = "UTC"
    return environ


def metafs(
    store: Where, *args: str, stdin: bytes | None = None, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `metafs --store STORE ARGS...`; stdout and stderr decoded as UTF-8."""
    environ = env()
    environ.update(extra_env or {})
    result = subprocess.run(
        [sys.executable, "-m", "metafs", "--store", str(store), *args],
        input=stdin,
        capture_output=True,
        env=environ,
        timeout=60,
    )
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode("utf-8", "surrogateescape"),
        result.stderr.decode("utf-8", "surrogateescape"),
    )


def ok(store: Where, *args: str, stdin: bytes | None = None) -> str:
    """Run a command that must succeed silently on stderr; return its stdout."""
    result = metafs(store, *args, stdin=stdin)
    assert result.returncode == 0, (args, result.stderr)
    assert result.stderr == "", (args, result.stderr)
    return result.stdout


def fails(store: Where, *args: str, status: int = 1, stdin: bytes | None = None) -> str:
    """Run a command that must fail with one `metafs: ...` line on stderr and leave the store
    exactly as it was; return that line."""
    before = contents(store)
    result = metafs(store, *args, stdin=stdin)
    assert result.returncode == status, (args, result.returncode, result.stdout, result.stderr)
    assert result.stdout == "", (args, result.stdout)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("metafs: "), (args, result.stderr)
    assert contents(store) == before, f"{args} changed the store"
    return lines[0]


def space_cells(text: str, headers: list[str]) -> list[list[str]]:
    """Cells of a space-padded table (ctr's, or ours) whose every cell is tab-terminated, so
    that it is one column block: cut at the header's column offsets."""
    lines = text.split("\n")[:-1]
    offsets, start = [], 0
    for name in headers:
        start = lines[0].index(name, start)
        offsets.append(start)
    bounds = list(zip(offsets, [*offsets[1:], None], strict=True))
    return [[line[a:b].rstrip(" ") for a, b in bounds] for line in lines]


Where = Path | str  # an LMDB directory, or an etcd:// locator


def exists(store: Where) -> bool:
    """Whether there is a store at `store`: its directory, or its prefix on etcd."""
    if isinstance(store, Path):
        return store.exists()
    try:
        Store.open(store, readonly=True).close()
    except NotFound:
        return False
    return True


Entry = tuple[tuple[bytes, ...], bytes | None]


def _walk(bucket: Bucket, path: tuple[bytes, ...]) -> Iterator[Entry]:
    for name, value in bucket.items():
        yield (*path, name), value
        if value is None:
            sub = bucket.bucket(name)
            assert sub is not None
            yield from _walk(sub, (*path, name))


def contents(store: Where) -> tuple[int, list[Entry]]:
    """The store's last transaction id (on etcd: the cluster's revision, which no other test
    moves while this one runs) and every bucket, key and value in it."""
    if isinstance(store, Path) and not (store / "data.mdb").exists():
        return (0, [])
    try:
        opened = Store.open(store, readonly=True)
    except NotFound:
        return (0, [])
    with opened, opened.read() as tx:
        return opened.generation(), list(_walk(tx.root(), ()))
