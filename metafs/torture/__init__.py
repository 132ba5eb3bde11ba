"""The reliability battery (`scripts/torture`): real mounts, real SIGKILL, a real full tmpfs,
fuzzed operations, editors, signals, stale mounts and backups, each section counting what it
did and what went wrong. `--short` is the form the test suite runs."""

from __future__ import annotations

from collections.abc import Callable

from . import editors, fullfs, fuzz, lifecycle, storms
from .report import Report
from .rig import Rig

Section = tuple[str, Callable[[Rig, bool], Report], float]

# name, the section, its time budget in seconds in the short form (the full one gets 5x)
SECTIONS: list[Section] = [
    ("kill -9 storms", storms.kill_storms, 60),
    ("concurrent writers", storms.concurrent, 60),
    ("full filesystem", fullfs.full_disk, 60),
    ("fuzzed operations", fuzz.fuzz, 120),
    ("editors", editors.editors, 120),
    ("signals", lifecycle.signals, 60),
    ("stale mounts", lifecycle.stale_mounts, 60),
    ("backups during writes", storms.backups, 60),
]
