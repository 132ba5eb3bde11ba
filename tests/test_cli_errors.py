"""What a newcomer meets first: --version, the namespace options and variables, help examples
that run, usage errors, a pipe into head, and umount of what is not a metafs mount."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import env, fails, metafs, ok
from containerd_fixture import META_DB

import metafs as package
from metafs import Descriptor, Image, Images, Store


@pytest.fixture(scope="module")
def store(module_new_store) -> Path | str:
    path = module_new_store()
    ok(path, "import", "-q", str(META_DB))
    return path


def test_version():
    done = subprocess.run(
        [sys.executable, "-m", "metafs", "--version"], capture_output=True, text=True, env=env()
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"metafs {package.__version__}\n", "")
    assert re.fullmatch(r"\d+\.\d+\.\d+", package.__version__)


NAMESPACED = [
    ["images", "ls"],
    ["images", "rm", "x"],
    ["containers", "ls"],
    ["containers", "info", "x"],
    ["leases", "ls"],
    ["leases", "create"],
    ["snapshots", "ls"],
    ["content", "ls"],
    ["namespaces", "ls"],
    ["gc"],
    ["gc", "explain", "lease", "x"],
    ["dump"],
]


@pytest.mark.parametrize("args", NAMESPACED, ids=" ".join)
def test_a_namespace_containerd_refuses_is_an_error_at_once(store, args):
    line = fails(store, "-n", "bad ns", *args)
    assert line.startswith('metafs: namespace "bad ns" must match'), line
    line = fails(store, *args, "-n", "bad/ns")
    assert line.startswith('metafs: namespace "bad/ns" must match'), line


def test_a_bad_namespace_from_the_environment_is_refused_too(store):
    for var in ("METAFS_NAMESPACE", "CONTAINERD_NAMESPACE"):
        done = metafs(store, "images", "ls", extra_env={var: "no such ns!"})
        assert done.returncode == 1
        assert done.stderr.startswith('metafs: namespace "no such ns!" must match'), done.stderr


def test_mount_refuses_a_bad_namespace_before_mounting(store, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        for args in (["-n", "bad ns", "mount", str(mnt)], ["mount", "-n", "bad ns", str(mnt)]):
            done = metafs(store, *args)
            assert done.returncode == 1
            assert done.stderr.startswith('metafs: namespace "bad ns" must match'), done.stderr
            assert not os.path.ismount(mnt)
    finally:
        unmount(mnt)


def unmount(mnt: Path) -> None:
    """Unmount what a failing test mounted (the daemon then exits by itself)."""
    if os.path.ismount(mnt):
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)


def names(store: Path | str, *args: str, extra_env: dict[str, str] | None = None) -> list[str]:
    done = metafs(store, *args, extra_env=extra_env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout.splitlines()


def test_containerd_namespace_is_honoured_below_metafs_namespace_and_n(store):
    default = names(store, "images", "ls", "-q")
    team_b = names(store, "-n", "team-b", "images", "ls", "-q")
    assert default != team_b and team_b
    assert names(store, "images", "ls", "-q", extra_env={"CONTAINERD_NAMESPACE": "team-b"}) == (
        team_b
    )
    both = {"CONTAINERD_NAMESPACE": "team-b", "METAFS_NAMESPACE": "default"}
    assert names(store, "images", "ls", "-q", extra_env=both) == default
    explicit = {"CONTAINERD_NAMESPACE": "team-b", "METAFS_NAMESPACE": "team-b"}
    assert names(store, "-n", "default", "images", "ls", "-q", extra_env=explicit) == default


def test_global_options_after_the_command_mean_the_same(store):
    team_b = names(store, "-n", "team-b", "images", "ls", "-q")
    assert names(store, "images", "ls", "-q", "-n", "team-b") == team_b
    assert names(store, "images", "ls", "--namespace=team-b", "-q") == team_b
    done = subprocess.run(
        [sys.executable, "-m", "metafs", "images", "ls", "-q", "--store", str(store)],
        capture_output=True,
        text=True,
        env=env(),
    )
    assert done.stdout.splitlines() == names(store, "images", "ls", "-q")
    # the last one given wins; after `--` an argument is an argument
    assert names(store, "-n", "default", "images", "ls", "-q", "-n", "team-b") == team_b
    assert fails(store, "images", "ls", "--", "-n", "x").startswith('metafs: filter "-n"')


def test_gc_explain_usage_errors_are_one_clean_line(store):
    line = fails(store, "gc", "explain", "foo", "x", status=2)
    assert line == (
        "metafs: gc explain: argument KIND: invalid choice: 'foo' (choose from 'snapshot', "
        "'content', 'ingest', 'lease') (see 'metafs gc explain --help')"
    )
    line = fails(store, "gc", "explain", "snapshot", "overlayfs", status=2)
    assert line.startswith("metafs: gc explain snapshot: the following arguments are required")


def help_examples(group: str) -> list[list[str]]:
    text = ok(Path("/nonexistent"), group, "ls", "--help")
    examples = text.split("Examples:\n", 1)[1]
    return [shlex.split(line) for line in examples.split("   ") if line.strip()]


@pytest.mark.parametrize("group", ["images", "containers", "leases", "snapshots", "content"])
def test_every_filter_example_of_the_help_runs(store, group):
    examples = help_examples(group)
    assert len(examples) >= 2
    for example in examples:
        done = metafs(store, group, "ls", *example)
        assert (done.returncode, done.stderr) == (0, ""), (example, done.stderr)


def test_umount_of_what_is_not_a_metafs_mount(tmp_path):
    done = metafs(tmp_path, "umount", str(tmp_path))
    assert (done.returncode, done.stderr) == (1, f"metafs: {tmp_path} is not mounted\n")
    done = metafs(tmp_path, "umount", "/proc")
    assert (done.returncode, done.stderr) == (
        1,
        "metafs: /proc is a proc mount, not a metafs one\n",
    )


def test_mount_log_that_cannot_be_written_says_why(store, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    (tmp_path / "file").write_text("")
    log = tmp_path / "file" / "mount.log"
    try:
        done = metafs(store, "mount", "--log", str(log), str(mnt))
    finally:
        unmount(mnt)
    assert done.returncode == 1
    assert done.stderr == f"metafs: cannot write the log {log}: Not a directory\n"
    assert not os.path.ismount(mnt)
    # the default log, under $XDG_STATE_HOME, is checked as well
    try:
        done = metafs(store, "mount", str(mnt), extra_env={"XDG_STATE_HOME": str(log.parent)})
    finally:
        unmount(mnt)
    assert done.returncode == 1
    assert (
        done.stderr
        == f"metafs: cannot write the log {log.parent}/metafs/mount.log: Not a directory\n"
    )


def pipe_status(command: list[str], workdir: Path) -> tuple[int, str]:
    """Exit status of `command | head -1`, and what it printed on stderr."""
    script = f'{shlex.join(command)} 2>err | head -1 >/dev/null; echo "${{PIPESTATUS[0]}}"'
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env(), cwd=workdir
    )
    return int(done.stdout), (workdir / "err").read_text()


def test_a_pipe_into_head_exits_141_quietly_once_output_outgrows_the_pipe(new_store, tmp_path):
    """As docs/cli.md says: 141 when the reader went away before all was written (more than a
    pipe holds), 0 when everything fitted in the pipe; never a traceback."""
    store = new_store()
    with Store.open(store) as opened, opened.write() as tx:
        images = Images(tx, "default")
        target = Descriptor("application/vnd.oci.image.manifest.v1+json", "sha256:" + "a" * 64, 1)
        for i in range(2000):
            images.create(Image(f"example.com/image:{i}", target))
    base = [sys.executable, "-m", "metafs", "--store", str(store)]
    for args in (["images", "ls"], ["images", "ls", "--format", "json"], ["dump"]):
        assert pipe_status([*base, *args], tmp_path) == (141, ""), args
    assert pipe_status([*base, "images", "ls", "name==example.com/image:1"], tmp_path) == (0, "")


def test_the_command_of_containers_create_keeps_its_own_n(store):
    alpine = "docker.io/library/alpine:3.19"
    ok(store, "containers", "create", "-n", "default", alpine, "echo-1", "echo", "-n", "hi")
    info = json.loads(ok(store, "containers", "info", "echo-1"))
    assert info["Spec"]["process"]["args"] == ["echo", "-n", "hi"]
    ok(store, "containers", "rm", "echo-1")
