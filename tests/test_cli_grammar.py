"""The committed grammar table (metafs/cli/grammar.py) is what scripts/grammar reads off the
argparse parsers now: a parser changed without running scripts/grammar fails here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_grammar_table_is_current(tmp_path: Path) -> None:
    made = tmp_path / "grammar.py"
    # a namespace in the environment must not leak into the table: it is read at run time
    env = {**os.environ, "METAFS_NAMESPACE": "elsewhere", "CONTAINERD_SNAPSHOTTER": "native"}
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "grammar"), str(made)],
        check=True,
        timeout=120,
        env=env,
    )
    assert made.read_text() == (ROOT / "metafs" / "cli" / "grammar.py").read_text(), (
        "metafs/cli/grammar.py is out of date: run scripts/grammar"
    )
