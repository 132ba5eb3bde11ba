"""The command line's verbs on a live node's metadata (`--containerd`), compared with ctr."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from cli_helpers import ROOT, env
from live_node import IMAGE, LiveNode, start_node


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[LiveNode]:
    node_gen = start_node(tmp_path_factory)
    node = next(node_gen)
    node.ctr("containers", "create", "--label", "env=dev", IMAGE, "web-1")
    node.ctr("containers", "create", IMAGE, "web-2")
    yield node
    yield from node_gen


def metafs(node: LiveNode, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metafs", "--containerd", "--root", str(node.root), "--state",
         str(node.state), "-n", node.namespace, *args],
        capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    "verb",
    [
        ("containers", "ls"),
        ("containers", "ls", "-q"),
        ("containers", "info", "web-1"),
        ("images", "ls", "-q"),
        ("namespaces", "ls"),
        ("leases", "ls"),
    ],
)
def test_verbs_print_what_ctr_prints(node: LiveNode, verb: tuple[str, ...]) -> None:
    done = metafs(node, *verb)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout == node.ctr(*verb)


def test_each_command_reads_the_current_state(node: LiveNode) -> None:
    node.ctr("containers", "label", "web-2", "team=core")
    assert metafs(node, "containers", "info", "web-2").stdout == node.ctr(
        "containers", "info", "web-2"
    )
    assert metafs(node, "containers", "ls", "-q", "labels.team==core").stdout == "web-2\n"


def test_a_change_is_refused_in_one_line(node: LiveNode) -> None:
    before = node.ctr("containers", "info", "web-1")
    done = metafs(node, "containers", "create", IMAGE, "web-3")  # made by ctr, not metafs
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "read-only" in done.stderr and "Traceback" not in done.stderr
    assert node.ctr("containers", "info", "web-1") == before


def test_no_metadata_there_is_one_line(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "metafs", "--containerd", "--root", str(tmp_path), "images", "ls"],
        capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == (
        f"metafs: containerd metadata {tmp_path}/io.containerd.metadata.v1.bolt/meta.db: "
        "not found\n"
    )


def test_reading_a_node_needs_root(node: LiveNode) -> None:
    """As another user, the node's metadata cannot be read: one line says so."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
         "metafs", "--containerd", "--root", str(node.root), "images", "ls"],
        capture_output=True, text=True, env={**env(), "HOME": "/tmp"}, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == (
        f"metafs: cannot read containerd's metadata {node.meta_db} (reading a node needs root): "
        "permission denied\n"
    )


@pytest.mark.parametrize(
    "verb",
    [
        ("images", "ls"),
        ("containers", "ls", "--format", "json"),
        ("snapshots", "ls"),
        ("content", "ls"),
        ("namespaces", "ls"),
        ("dump",),
    ],
)
def test_verbs_print_what_they_print_on_an_import(
    node: LiveNode, tmp_path, verb: tuple[str, ...]
) -> None:
    """The same output as on a store made by `metafs import` of the same meta.db."""
    store = tmp_path / "store"
    copy = tmp_path / "meta.db"
    copy.write_bytes(node.meta_db.read_bytes())  # containerd is idle here: a whole state
    imported = subprocess.run(
        [sys.executable, "-m", "metafs", "--store", str(store), "import", "-q", str(copy)],
        capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    on_store = subprocess.run(
        [sys.executable, "-m", "metafs", "--store", str(store), "-n", node.namespace, *verb],
        capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60,
    )  # fmt: skip
    live = metafs(node, *verb)
    assert live.returncode == 0 and live.stderr == "", live.stderr
    assert live.stdout
    if verb == ("content", "ls"):  # AGE is measured at each call: the two may be a second apart
        assert _without_ages(live.stdout) == _without_ages(on_store.stdout)
    else:
        assert live.stdout == on_store.stdout


def _without_ages(table: str) -> list[str]:
    """The lines of a `content ls` table with the AGE column's durations as AGE and the
    columns' padding (which follows the widest age) as one space."""
    ages = re.compile(
        r"\b(Less than a second|About an? (minute|hour)"
        r"|\d+ (second|minute|hour|day|week|month|year)s?)\b"
    )
    return [" ".join(ages.sub("AGE", line).split()) for line in table.splitlines()]
