"""A new collection is one view and one line in the table: a read-only `jobs/` view, written
here, whose data comes from a callable (as a `tasks/` view's will), mounted for real beside the
store's views.

```
jobs/<id>/pid status          from the source, read when asked
jobs/<id>/labels/<key>        two named subdirectories holding the same keys
jobs/<id>/extensions/<key>
```

Run as a script (`python test_mount_views.py STORE MOUNTPOINT`), this file serves that mount.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mount_helpers import eventually

from metafs import buckets as B
from metafs.errors import NotFound
from metafs.fs.view import (
    ENTRY,
    FILE,
    OBJECT,
    SUBDIR,
    TOP,
    Context,
    Stat,
    View,
    after_in,
    classify,
)
from metafs.fs.view import (
    Path as TreePath,
)

Jobs = dict[str, dict[str, dict[str, str] | str]]


class JobsView(View):
    """jobs/: read-only, from `source()`, which gives {id: {"pid": .., "status": ..,
    "labels": {..}, "extensions": {..}}}."""

    subdirs = ("labels", "extensions")
    fixed = ("pid", "status", "labels", "extensions")  # inode numbers without nodes

    def __init__(self, context: Context, source: Callable[[], Jobs]) -> None:
        super().__init__(context)
        self.source = source

    def stat(self, path: TreePath) -> Stat | None:
        kind = classify(path, self)
        if kind == TOP:
            return Stat(True, mtime=self.started)
        job = self.source().get(path[1])
        if job is None:
            return None
        if kind in (OBJECT, SUBDIR):
            return Stat(True, mtime=self.started)
        if kind not in (FILE, ENTRY):
            return None
        text = self._text(job, path[2:])
        return None if text is None else Stat(False, len(text), mtime=self.started)

    def entries(
        self, path: TreePath, after: str | None = None
    ) -> Iterator[tuple[str, Stat | None]]:
        kind = classify(path, self)
        jobs = self.source()
        if kind == TOP:
            names = sorted(jobs, key=B.enc)
        elif path[1] not in jobs:
            raise NotFound("/".join(path))
        elif kind == OBJECT:
            names = ["extensions", "labels", "pid", "status"]
        else:
            names = sorted(jobs[path[1]][path[2]], key=B.enc)
        for name in after_in(names, after):
            yield name, self.stat((*path, name))

    def read(self, path: TreePath) -> bytes:
        job = self.source().get(path[1]) if classify(path, self) in (FILE, ENTRY) else None
        text = self._text(job, path[2:]) if job is not None else None
        if text is None:
            raise NotFound("/".join(path))
        return text

    @staticmethod
    def _text(job: dict, sub: TreePath) -> bytes | None:
        value = job.get(sub[0])
        if len(sub) == 2 and isinstance(value, dict):
            value = value.get(sub[1])
        return None if not isinstance(value, str) else B.enc(value) + b"\n"


def source_file(store: Path) -> Path:
    return store.parent / "jobs.json"


def serve(store: Path, mountpoint: Path, *options: str) -> int:
    from metafs.fs import daemon
    from metafs.fs.views import STORE_VIEWS

    def jobs() -> Jobs:
        return json.loads(source_file(store).read_text())

    views = {**STORE_VIEWS, "jobs": lambda context: JobsView(context, jobs)}  # the one line
    opts = daemon.MountOptions(
        store, mountpoint, readonly="--read-only" in options, debug=True, views=views
    )
    return daemon.serve(opts)


JOBS: Jobs = {
    "web": {"pid": "41", "status": "running", "labels": {"x": "label"}, "extensions": {"x": "ext"}},
    "db": {"pid": "42", "status": "paused", "labels": {}, "extensions": {}},
}


def start(mount_factory, *options: str):
    mnt, store = mount_factory(serve=[sys.executable, __file__, *options])
    source_file(mnt.store_dir).write_text(json.dumps(JOBS))  # read when asked: none yet
    return mnt, store


@pytest.fixture(scope="module")
def env(mount_factory):
    return start(mount_factory)


def test_a_new_view_is_listed_and_read(env):
    mnt, _ = env
    root = mnt.sh("ls").stdout.split()
    assert root == ["containers", "content", "images", "jobs", "leases", "snapshots"]
    assert mnt.sh("ls jobs").stdout.split() == ["db", "web"]
    assert mnt.sh("ls jobs/web").stdout.split() == ["extensions", "labels", "pid", "status"]
    assert mnt.sh("cat jobs/web/pid jobs/db/status").stdout == "41\npaused\n"
    assert mnt.sh("grep -r . jobs | sort").stdout.splitlines() == [
        "jobs/db/pid:42",
        "jobs/db/status:paused",
        "jobs/web/extensions/x:ext",
        "jobs/web/labels/x:label",
        "jobs/web/pid:41",
        "jobs/web/status:running",
    ]
    assert mnt.sh("cat jobs/nope/pid").returncode != 0


def test_a_name_in_two_named_subdirectories_is_two_files(env):
    mnt, _ = env
    assert mnt.sh("cat jobs/web/labels/x jobs/web/extensions/x").stdout == "label\next\n"
    inodes = mnt.sh("stat -c %i jobs/web/labels/x jobs/web/extensions/x").stdout.split()
    assert len(set(inodes)) == 2


def test_what_the_source_gives_now_shows(env):
    mnt, _ = env
    changed = {**JOBS, "db": {**JOBS["db"], "status": "running"}}
    source_file(mnt.store_dir).write_text(json.dumps(changed))
    try:
        eventually(lambda: mnt.sh("cat jobs/db/status").stdout, "running\n", timeout=2.0)
    finally:
        source_file(mnt.store_dir).write_text(json.dumps(JOBS))


@pytest.mark.parametrize(
    "script",
    [
        "echo 7 > jobs/web/pid",
        "echo v > jobs/web/labels/new",
        "echo v > jobs/web/labels/x",
        "mkdir jobs/new",
        "rmdir jobs/web",
        "rm jobs/web/labels/x",
        "mv jobs/web jobs/web2",
        "setfattr -n user.k -v v jobs/web",
    ],
)
def test_every_change_is_refused(env, script):
    mnt, _ = env
    result = mnt.sh(script)
    assert result.returncode != 0
    assert "Operation not permitted" in result.stderr, result.stderr
    assert mnt.sh("cat jobs/web/pid jobs/web/labels/x").stdout == "41\nlabel\n"


def test_on_a_read_only_mount_changes_are_refused_as_such(mount_factory):
    mnt, _ = start(mount_factory, "--read-only")
    assert mnt.sh("cat jobs/web/status").stdout == "running\n"
    result = mnt.sh("echo 7 > jobs/web/pid")
    assert "Read-only file system" in result.stderr, result.stderr


if __name__ == "__main__":
    sys.exit(serve(Path(sys.argv[-2]), Path(sys.argv[-1]), *sys.argv[1:-2]))
