"""The README's examples work exactly as shown: the Python example, and the shell session on
a real mount of the sample store."""

import contextlib
import io
import re
import subprocess
import sys

from conftest import ENV
from readme_session import README, console_session

from metafs import samples


def test_readme_python_example_prints_what_it_shows(tmp_path):
    text = README.read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert '"/tmp/metafs-example"' in code
    code = code.replace('"/tmp/metafs-example"', repr(str(tmp_path / "store")))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {})
    first, second = out.getvalue().splitlines()
    assert f"# {first}" in code
    assert f"# {second}" in code


def test_readme_shell_session_works_as_shown(mount_factory):
    """Every command of the README's session, on a mount of the sample store, prints exactly
    what the README shows (bash -c says "bash: line 1:" where an interactive bash says "bash:",
    and `ls` is given -C, as at a terminal)."""
    mnt, _store = mount_factory(fill=lambda store: samples.fill(store, "default"))
    steps = console_session()
    assert steps[0] == ("scripts/run", "...\nmetafs: mounted on /tmp/metafs\n...\n")
    assert steps[1] == ("cd /tmp/metafs", "")
    assert steps[-1] == ("cd / && metafs umount /tmp/metafs", "")
    for command, shown in steps[2:-1]:
        # at a terminal, ls prints columns; here its output is a pipe
        done = mnt.sh(re.sub(r"^ls(?! -1)", "COLUMNS=80 ls -C", command))
        printed = re.sub(r"^bash: line \d+: ", "bash: ", done.stdout + done.stderr, flags=re.M)
        assert printed == shown, command
        assert (done.returncode == 0) == ("error" not in shown and "not permitted" not in shown)
    umount = subprocess.run(
        [sys.executable, "-m", "metafs", "umount", str(mnt.path)],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    assert umount.stdout == umount.stderr == ""
    assert mnt.proc.wait(timeout=10) == 0
