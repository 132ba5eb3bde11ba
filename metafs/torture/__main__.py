"""`scripts/torture` (`python -m metafs.torture`): the reliability battery. Needs root (it
mounts tmpfs filesystems). Each section prints a line of figures; the end, a table; the exit
status is 1 if any section failed."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

from . import SECTIONS
from .report import Report
from .rig import Rig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/torture", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the CI form: about a minute")
    parser.add_argument(
        "--only", default="", help="comma-separated section numbers or names (default: all)"
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("torture: run as root (it mounts tmpfs filesystems)", file=sys.stderr)
        return 2
    wanted = {w.strip() for w in args.only.split(",") if w.strip()}
    reports: list[Report] = []
    started = time.monotonic()
    rig = Rig()
    try:
        for number, (name, run, budget) in enumerate(SECTIONS, 1):
            if wanted and str(number) not in wanted and name not in wanted:
                continue
            began = time.monotonic()
            try:
                with rig.deadline(budget * (1 if args.short else 5)):
                    report = run(rig, args.short)
            except Exception as exc:  # a section that breaks is a failed section, not the end
                report = Report(name)
                report.fail(f"the section raised {type(exc).__name__}: {exc}")
                traceback.print_exc()
            finally:
                rig.release()
            report.seconds = time.monotonic() - began
            reports.append(report)
            print(f"{number}. {report.line()}", flush=True)
            for line in report.details():
                print(line, flush=True)
    finally:
        rig.close()
    print()
    print(table(reports, time.monotonic() - started))
    return 0 if all(r.ok for r in reports) else 1


def table(reports: list[Report], seconds: float) -> str:
    rows = ["| section | figures | failures | seconds |", "|---|---|--:|--:|"]
    for report in reports:
        figures = ", ".join(f"{k} {_cell(v)}" for k, v in report.figures.items())
        if report.note:
            figures = f"skipped: {report.note}"
        rows.append(
            f"| {report.title} | {figures} | {len(report.failures)} | {report.seconds:.0f} |"
        )
    failed = sum(not r.ok for r in reports)
    rows.append(f"\n{len(reports)} sections, {failed} failed, {seconds:.0f} s")
    return "\n".join(rows)


def _cell(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(main())
