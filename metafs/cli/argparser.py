"""The argparse parser class of the command line: help, usage and usage errors.

A valid command line of a one-shot command is parsed without argparse (`matcher`); this is
for the rest, and for the table the matcher reads (scripts/grammar).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line on stderr (`metafs: ...`), exit status 2."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("metafs").strip()
        prefix = f"metafs: {where}: " if where else "metafs: "
        self.exit(2, f"{prefix}{message} (see '{self.prog} --help')\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes one for every add_argument, and without a width it imports shutil
        # (with bz2, lzma, fnmatch: 2 ms) for shutil.get_terminal_size
        make: Callable[..., argparse.HelpFormatter] = self.formatter_class  # all take a width
        return make(prog=self.prog, width=help_width())


def help_width() -> int:
    """The width argparse gives help without a `width`: the terminal's (`$COLUMNS`, else
    stdout's, else 80 columns) less 2, as `shutil.get_terminal_size` finds it."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0 and sys.__stdout__ is not None:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (ValueError, OSError):  # stdout closed, detached, or not a terminal
            columns = 0
    return (columns or 80) - 2
