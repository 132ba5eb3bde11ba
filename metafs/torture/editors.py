"""5. Editors on a label and on a field: each must exit 0, leave the edited value in the store,
and leave no side file behind (as a label, or as a file where the tree has none). vim and nano
are driven through a pseudo-terminal, as a user would; an editor that is not installed is
counted as skipped."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

from .report import Report
from .rig import Rig, add_objects, env

ESC, ENTER = b"\x1b", b"\r"
CTRL_K, CTRL_O, CTRL_X = b"\x0b", b"\x0f", b"\x18"


def terminal(
    argv: list[str], keys: list[bytes | float], cwd: Path, timeout: float = 30
) -> tuple[int, str]:
    """Run `argv` on a pseudo-terminal (80x24), typing `keys` one chunk at a time (a number:
    that many seconds idle): its exit status (-9 if it had to be killed) and what it showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child
        try:
            os.chdir(cwd)
            os.execvpe(argv[0], argv, {**env(), "TERM": "xterm", "HOME": HOME[0]})
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    shown = bytearray()
    answered = 0  # what was shown up to the last answered prompt
    pending = list(keys)
    deadline = time.monotonic() + timeout
    next_key = time.monotonic() + 0.5  # let it draw its screen first
    status = None
    try:
        while status is None:
            now = time.monotonic()
            if now > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return -9, shown.decode(errors="replace")
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                with contextlib.suppress(OSError):  # EIO once the child has closed its side
                    shown += os.read(fd, 65536)
                for prompt, answer in PROMPTS.items():
                    if prompt in shown[answered:]:
                        os.write(fd, answer)
                        answered = len(shown)
                        PROMPTED.append(prompt.decode())
            if pending and now >= next_key:
                key = pending.pop(0)
                if isinstance(key, float):
                    next_key = now + key
                    continue
                os.write(fd, key)
                next_key = now + 0.15
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(code)
    finally:
        os.close(fd)
    return status, shown.decode(errors="replace")


def run(command: str, cwd: Path) -> tuple[int, str]:
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env={**env(), "HOME": HOME[0]},
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.returncode, done.stdout + done.stderr


ATOMIC_SAVE = """
import os, sys, tempfile
path, value = sys.argv[1], sys.argv[2]
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
with os.fdopen(fd, "w") as out:
    out.write(value + "\\n")
    out.flush()
    os.fsync(out.fileno())
os.replace(tmp, path)
"""

# A prompt an editor may stop at, and the answer typed: nano asks before saving over a file
# whose mtime grew since it opened it. Each answered prompt is counted as a failure: a file's
# mtime moves only when its value changes (views/objects.py), and no one else writes here.
PROMPTS = {b"modified since you opened it": b"y"}
PROMPTED: list[str] = []

# what vim and nano show when a write fails, even if they exit 0
COMPLAINTS = ("E297", "E514", "E212", "E667", "Error writing", "Write error")
HOME = ["/"]  # the editors' home directory, outside the mount: set by editors()

Editor = Callable[[Path, str], tuple[int, str]]


IDLE = [0.0]  # seconds idle after an edit in vim: past 'updatetime' (4 s) vim writes its swap


def vim_keys(value: str) -> list[bytes | float]:
    return [b"gg", b"dG", b"i", value.encode(), ESC, IDLE[0], b":wq", ENTER]


EDITORS: dict[str, tuple[str, Editor]] = {
    # name: (the program it needs, how it sets FILE to VALUE)
    "vim (defaults)": (
        "vim",
        lambda f, v: terminal(
            ["vim", "-u", "DEFAULTS", "-i", "NONE", f.name], vim_keys(v), f.parent
        ),
    ),
    "vim -n": (
        "vim",
        lambda f, v: terminal(
            ["vim", "-u", "DEFAULTS", "-i", "NONE", "-n", f.name], vim_keys(v), f.parent
        ),
    ),
    "vim -es": (
        "vim",
        lambda f, v: run(
            f"vim -u DEFAULTS -i NONE -es -c '%d' -c 'call setline(1, \"{v}\")' -c wq {f.name}",
            f.parent,
        ),
    ),
    "nano": (
        "nano",
        lambda f, v: terminal(
            ["nano", "--ignorercfiles", f.name],
            [CTRL_K, v.encode(), CTRL_O, ENTER, CTRL_X],
            f.parent,
        ),
    ),
    "sed -i": ("sed", lambda f, v: run(f"sed -i 's|.*|{v}|' {f.name}", f.parent)),
    "python atomic save": (
        sys.executable,
        lambda f, v: run(
            f"{shlex.quote(sys.executable)} -c {shlex.quote(ATOMIC_SAVE)} {f.name} {v}", f.parent
        ),
    ),
    "cp": (
        "cp",
        lambda f, v: run(f"printf '%s\\n' {v} > $HOME/src; cp $HOME/src {f.name}", f.parent),
    ),
    "tee": ("tee", lambda f, v: run(f"echo {v} | tee {f.name} >/dev/null", f.parent)),
}


def editors(rig: Rig, short: bool) -> Report:
    report = Report("editors")
    store = rig.store()
    add_objects(store, images=("ed:1",))
    from ..images import Images
    from ..store import Store

    with Store.open(store) as opened, opened.write() as tx:
        Images(tx, "default").set_label("ed:1", "note", "old")
    daemon = rig.mount(store)
    home = rig.path("home")
    home.mkdir()
    HOME[0] = str(home)
    IDLE[0] = 0.0 if short else 4.5
    obj = daemon.mountpoint / "images" / "ed:1"
    fields = sorted(os.listdir(obj))
    report.figures = {"cases": 0, "ok": 0, "failed": 0, "skipped": 0}
    results: list[str] = []
    for n, (name, (program, edit)) in enumerate(EDITORS.items()):
        if shutil.which(program) is None:
            report.count("skipped", 2)
            results.append(f"{name}: not installed")
            continue
        for target in ("label", "field"):
            report.count("cases")
            time.sleep(1.0)  # another process's change shows within a second (docs/mount.md)
            value = f"v{n}{target}" if target == "label" else f"application/x-{n}"
            path = obj / "labels" / "note" if target == "label" else obj / "mediatype"
            PROMPTED.clear()
            try:
                status, shown = edit(path, value)
            except Exception as exc:
                status, shown = -1, f"{type(exc).__name__}: {exc}"
            time.sleep(0.1)  # a value written without a newline is stored at release
            problems = _check(store, obj, fields, target, value, status)
            problems += [f"it showed {m!r}" for m in COMPLAINTS if m in shown]
            if PROMPTED:  # answered, so that the case ends; but the user should not be asked
                report.count("mtime changed while open (nano asked)")
                problems.append(f"it asked {PROMPTED[0]!r}")
            if problems:
                report.count("failed")
                tail = " ".join(shown.split())[-160:]
                report.fail(f"{name} on a {target}: {'; '.join(problems)} [{tail}]")
                _tidy(store, obj)
            else:
                report.count("ok")
    if (stopped := daemon.stop()) != 0:
        report.fail(f"the daemon exited {stopped}")
    return report


def _check(
    store: Path, obj: Path, fields: list[str], target: str, value: str, status: int
) -> list[str]:
    from ..images import Images
    from ..store import Store

    problems = []
    if status != 0:
        problems.append(f"exit status {status}")
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        image = Images(tx, "default").get("ed:1")
    stored = image.labels.get("note") if target == "label" else image.target.media_type
    if stored != value:
        problems.append(f"stored {stored!r}, not {value!r}")
    others = sorted(set(image.labels) - {"note"})
    if others:
        problems.append(f"side files left as labels: {others}")
    listed = sorted(os.listdir(obj))
    if listed != fields:
        problems.append(f"the object lists {sorted(set(listed) - set(fields))}")
    return problems


def _tidy(store: Path, obj: Path) -> None:
    """Remove what a failed case left, so that the next case starts clean."""
    from ..images import Images
    from ..store import Store

    with Store.open(store) as opened, opened.write() as tx:
        images = Images(tx, "default")
        for key in set(images.get("ed:1").labels) - {"note"}:
            images.set_label("ed:1", key, "")
    with contextlib.suppress(OSError):
        for name in os.listdir(obj / "labels"):
            if name != "note":
                os.unlink(obj / "labels" / name)
