"""Editors and tools that write side files or replace a file by renaming one over it, on
labels and fields (issue 19.5): each must succeed, store the value, and leave no side file
behind as a label or anywhere in a listing."""

from __future__ import annotations

import itertools
import shlex
import shutil
import textwrap

import pytest
from mount_helpers import container, drop_kernel_caches, image, make_container, make_image

_counter = itertools.count()
LABELS = {"env": "prod"}
SIZE = "1234"

needs_vim = pytest.mark.skipif(shutil.which("vim") is None, reason="vim is not installed")


@pytest.fixture(scope="module")
def env(mount_factory):
    return mount_factory()


@pytest.fixture
def img(env):
    """A fresh image: (its name, its directory in the mount)."""
    name = f"edit-{next(_counter)}:1"
    make_image(env[1], name, dict(LABELS))
    return name, f"images/{name}"


def unchanged_but(store, name: str, **labels: str) -> None:
    """The image's labels are its first ones and `labels`, nothing else (no side file); its
    labels/ directory lists exactly those."""
    assert image(store, name).labels == {**LABELS, **labels}


def nothing_left(mnt, directory: str) -> None:
    listed = mnt.sh(f"ls -A {directory} {directory}/labels", check=True).stdout.split()
    assert not [n for n in listed if "~" in n or n.startswith((".", "sed", "tmp", "4913"))]


@needs_vim
@pytest.mark.parametrize(
    "vim",
    [
        "vim -u DEFAULTS -es",  # swap file, writebackup: defaults
        "vim -u DEFAULTS -n -es",  # no swap file
        "vim -u DEFAULTS -c 'set backup backupskip=' -es",  # a backup kept: NAME~
        "vim -u DEFAULTS </dev/null",  # the normal mode, no terminal
    ],
)
def test_vim_with_its_defaults_on_labels_and_fields(env, img, vim):
    mnt, store = env
    name, d = img
    for path, old, new in ((f"{d}/labels/env", "prod", "staging"), (f"{d}/size", SIZE, "42")):
        result = mnt.sh(f"{vim} -c '%s/{old}/{new}/' -c 'wq' {path} >/dev/null")
        assert result.returncode == 0, result.stderr
        assert mnt.sh(f"cat {path}", check=True).stdout == new + "\n"
    assert image(store, name).target.size == 42
    assert image(store, name).labels == {"env": "staging"}
    if "backup" not in vim:
        nothing_left(mnt, d)
    else:  # the backups are scratch files: readable, never labels, gone with rm
        assert mnt.sh(f"cat {d}/labels/env~ {d}/size~", check=True).stdout == f"prod\n{SIZE}\n"
        mnt.sh(f"rm {d}/labels/env~ {d}/size~", check=True)
        assert mnt.sh(f"stat {d}/labels/env~").returncode == 1
        nothing_left(mnt, d)


NANO = r"""
import os, pty, select, sys, time
text, path, options = sys.argv[1], sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm"
    os.execvp("nano", ["nano", "--ignorercfiles", *options, path])
screen = b""
def expect(what):
    global screen
    end = time.monotonic() + 20
    while what not in screen and time.monotonic() < end:
        if select.select([fd], [], [], 0.05)[0]:
            screen += os.read(fd, 65536)
    assert what in screen, (what, screen[-300:])
    screen = b""
expect(b"Help")
if os.environ.get("MEANWHILE"):  # another change while nano has the file open, a second
    time.sleep(1.1)  # later than what it saw (nano compares whole seconds), and one past
    os.system(os.environ["MEANWHILE"])
    time.sleep(1.1)  # the kernel's attribute cache
os.write(fd, text.encode() + b"\x0f")  # type at the start, ^O
expect(b"Write")
os.write(fd, b"\r")
expect(b"Wrote")
os.write(fd, b"\x18")  # ^X
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


@pytest.mark.skipif(shutil.which("nano") is None, reason="nano is not installed")
@pytest.mark.parametrize("options", ["", "-B --locking"])  # a backup NAME~, a lock .NAME.swp
def test_nano_through_a_terminal_on_labels_and_fields(env, img, tmp_path, options):
    mnt, store = env
    name, d = img
    driver = tmp_path / "nano.py"
    driver.write_text(NANO)
    for path in (f"{d}/labels/env", f"{d}/size"):
        result = mnt.sh(f"python3 {driver} 9 {path} {options}")
        assert result.returncode == 0, result.stderr
    assert image(store, name).labels == {"env": "9prod"}
    assert image(store, name).target.size == int("9" + SIZE)
    if options:
        assert mnt.sh(f"cat {d}/labels/env~", check=True).stdout == "prod\n"
        mnt.sh(f"rm {d}/labels/env~ {d}/size~", check=True)
    nothing_left(mnt, d)


@pytest.mark.skipif(shutil.which("nano") is None, reason="nano is not installed")
def test_nano_saves_without_asking_after_another_file_of_the_object_changed(env, img, tmp_path):
    """nano asks "File was modified since you opened it" if the file's mtime grew: a write to
    another label or field of the same object (here, by another process) must not move it."""
    mnt, store = env
    name, d = img
    driver = tmp_path / "nano.py"
    driver.write_text(NANO)
    for path, other in ((f"{d}/labels/env", "a"), (f"{d}/size", "b")):
        meanwhile = f"echo {other} > {d}/labels/{other}"
        result = mnt.sh(f"MEANWHILE={shlex.quote(meanwhile)} python3 {driver} 9 {path}")
        assert result.returncode == 0, result.stderr
    assert image(store, name).labels == {"env": "9prod", "a": "a", "b": "b"}
    assert image(store, name).target.size == int("9" + SIZE)


def test_sed_in_place_on_labels_and_fields(env, img):
    mnt, store = env
    name, d = img
    mnt.sh(f"sed -i 's/prod/dev/' {d}/labels/env && sed -i 's/1234/77/' {d}/size", check=True)
    assert image(store, name).labels == {"env": "dev"}
    assert image(store, name).target.size == 77
    refused = mnt.sh(f"sed -i 's/77/seventy/' {d}/size")  # a bad value: refused at the rename
    assert refused.returncode != 0 and "Invalid argument" in refused.stderr
    assert image(store, name).target.size == 77
    assert mnt.sh(f"sed -i 's/x/y/' {d}/createdat").returncode != 0  # read-only: refused
    unchanged_but(store, name, env="dev")
    nothing_left(mnt, d)


def test_python_atomic_save_on_labels_and_fields(env, img):
    mnt, store = env
    name, d = img
    script = textwrap.dedent(
        """
        import os, sys, tempfile

        def save(path, text):
            with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(path), delete=False) as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.replace(f.name, path)
            except OSError as exc:
                os.unlink(f.name)
                print(exc.strerror, file=sys.stderr)
                return 1
            return 0

        sys.exit(sum(save(p, t) for p, t in zip(sys.argv[1::2], sys.argv[2::2])) * 3)
        """
    )
    run = f"python3 -c '{script}' "
    mnt.sh(run + f"{d}/labels/env saved {d}/labels/new fresh {d}/mediatype text/x", check=True)
    assert image(store, name).labels == {"env": "saved", "new": "fresh"}
    assert image(store, name).target.media_type == "text/x"
    result = mnt.sh(run + f"{d}/digest not-a-digest")
    assert result.returncode == 3 and "Invalid argument" in result.stderr
    assert image(store, name).target.digest.startswith("sha256:")
    nothing_left(mnt, d)


def test_cp_and_tee_on_labels_and_fields(env, img, tmp_path):
    mnt, store = env
    name, d = img
    (tmp_path / "value").write_text("copied\n")
    mnt.sh(f"cp {tmp_path / 'value'} {d}/labels/env && echo 55 | tee {d}/size", check=True)
    assert image(store, name).labels == {"env": "copied"}
    assert image(store, name).target.size == 55
    nothing_left(mnt, d)


def test_a_container_spec_edited_in_place(env):
    mnt, store = env
    make_container(store, "edited")
    d = "containers/edited"
    mnt.sh(f"sed -i 's/sh/bash/' {d}/spec", check=True)
    assert b'"bash"' in container(store, "edited").spec.value
    assert mnt.sh(f"sed -i 's/{{/[/' {d}/spec").returncode != 0  # not a JSON object
    assert b'"bash"' in container(store, "edited").spec.value


def test_side_files_are_scratch_files_not_labels(env, img):
    """Held in memory: readable and writable at any offset, never listed, never stored, and
    a side file's name of a label that exists is that label."""
    mnt, store = env
    name, d = img
    script = f"""
    printf 'abcdef' > {d}/labels/.x.swp
    printf 'XY' | dd of={d}/labels/.x.swp bs=1 seek=2 conv=notrunc status=none
    cat {d}/labels/.x.swp; echo
    echo kept > {d}/labels/x~ && cat {d}/labels/x~
    echo beside > {d}/tmpabcd1234 && cat {d}/tmpabcd1234
    ls -A {d}/labels {d} | tr '\\n' ' '
    """
    out = mnt.sh(script, check=True).stdout
    assert out.startswith("abXYef\nkept\nbeside\n")
    assert ".x.swp" not in out and "x~" not in out and "tmpabcd" not in out
    unchanged_but(store, name)
    mnt.sh(f"mv {d}/labels/x~ {d}/labels/.x.swp", check=True)  # side file to side file
    assert mnt.sh(f"cat {d}/labels/.x.swp", check=True).stdout == "kept\n"
    mnt.sh(f"rm {d}/labels/.x.swp {d}/tmpabcd1234", check=True)
    assert mnt.sh(f"cat {d}/labels/.x.swp").returncode == 1
    unchanged_but(store, name)
    # vim's probe, made with O_EXCL, is refused: vim then writes in place
    probe = "python3 -c 'import os; os.open(\"{}/4913\", os.O_CREAT | os.O_EXCL | os.O_WRONLY)'"
    assert "Operation not permitted" in mnt.sh(probe.format(d + "/labels")).stderr
    mnt.sh(f"echo probe > {d}/labels/4913", check=True)  # without O_EXCL: a label
    assert image(store, name).labels["4913"] == "probe"
    # a scratch file stays in its directory (EXDEV: mv copies it, then removes it)
    mnt.sh(f"echo moved > {d}/labels/y~ && mv {d}/labels/y~ {d}/labels/../tmpzzzzzzzz", check=True)
    mnt.sh(f"rm {d}/tmpzzzzzzzz", check=True)


def test_a_scratch_file_lasts_until_removed_and_goes_with_its_object(env, img):
    mnt, store = env
    name, d = img
    mnt.sh(f"echo kept > {d}/labels/env~ && echo too > {d}/sedabc123", check=True)
    drop_kernel_caches()  # the kernel forgets them: they are kept all the same
    assert mnt.sh(f"cat {d}/labels/env~ {d}/sedabc123", check=True).stdout == "kept\ntoo\n"
    mnt.sh(f"mv {d} {d}-moved && cat {d}-moved/labels/env~ && mv {d}-moved {d}", check=True)
    mnt.sh(f"rmdir {d} && mkdir {d}", check=True)
    assert mnt.sh(f"cat {d}/labels/env~").returncode == 1
    assert mnt.sh(f"cat {d}/sedabc123").returncode == 1


def test_hidden_temp_files_beside_fields_are_scratch_files(env, img):
    """An atomic save with a temp file of the tool's own name (`mkstemp(prefix=".NAME")`,
    rsync's `.NAME.XXXXXX`) beside a field: nothing but a scratch file can be new there, so a
    hidden name is one; in labels/ a hidden name stays a label's (issue 19)."""
    mnt, store = env
    name, d = img
    script = textwrap.dedent(
        """
        import os, sys, tempfile

        path, text = sys.argv[1:3]
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path), dir=os.path.dirname(path))
        os.write(fd, text.encode())
        os.close(fd)
        os.replace(tmp, path)
        """
    )
    mnt.sh(f"python3 -c '{script}' {d}/mediatype text/hidden", check=True)
    assert image(store, name).target.media_type == "text/hidden"
    out = mnt.sh(f"echo x > {d}/.size.tmp && cat {d}/.size.tmp && ls -A {d}", check=True).stdout
    assert out.startswith("x\n") and ".size" not in out
    mnt.sh(f"rm {d}/.size.tmp", check=True)
    assert mnt.sh(f"echo x > {d}/notes").returncode != 0  # a name that is not hidden: EPERM
    mnt.sh(f"echo dotted > {d}/labels/.hidden", check=True)
    unchanged_but(store, name, **{".hidden": "dotted"})
    assert not [n for n in mnt.sh(f"ls -A {d}", check=True).stdout.split() if n[0] == "."]
