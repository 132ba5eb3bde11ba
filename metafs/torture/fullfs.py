"""3. A store on a full filesystem (a small tmpfs): writes through the mount are refused with
ENOSPC, all of them from the first refusal on, every `rm` of a label still succeeds, and
writes work again once space is freed outside the store."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from ..engines.lmdb import REFILL_MARGIN, RESERVE_SIZE
from .report import Report
from .rig import Rig, add_objects, image_labels

NO_SPACE = "No space left on device"
VALUE = "v" * 1500


def fill(labels: Path, limit: int = 20000) -> tuple[int, str]:
    """Write labels k1, k2, ... until a write fails: how many were written, and its error."""
    script = (
        f"cd {shlex.quote(str(labels))} && for i in $(seq 1 {limit}); do "
        f"echo {VALUE} > k$i || {{ echo $((i-1)) >&3; exit 0; }}; done; echo {limit} >&3"
    )
    done = subprocess.run(
        ["bash", "-c", "{ " + script + "; } 3>&1"], capture_output=True, text=True, timeout=300
    )
    return int(done.stdout.strip() or 0), done.stderr.strip()


def full_disk(rig: Rig, short: bool) -> Report:
    report = Report("full filesystem")
    fs = rig.small_fs("3m" if short else "8m")
    filler = fs / "filler"
    # someone else's file, freed later: room for the reserve and writes to resume
    filler.write_bytes(b"f" * (RESERVE_SIZE + REFILL_MARGIN))
    store = rig.store(where=fs / "store")
    add_objects(store, images=("full:1",))
    daemon = rig.mount(store)
    labels = daemon.mountpoint / "images" / "full:1" / "labels"
    written, error = fill(labels)
    errors = [error]
    report.figures["labels until full"] = written
    if NO_SPACE not in error:
        report.fail(f"the write that filled the disk failed with {error!r}, not ENOSPC")
    # From the first refusal on, every write that adds data is refused until space is freed
    # outside the store (engines/lmdb.py): small values too, which would fit in the pages
    # the refused commit wrote. Go on until ten writes in a row are refused: none may be
    # accepted, each refused with ENOSPC, and what was accepted must be in the store.
    script = (
        f"cd {shlex.quote(str(labels))} && f=0; for i in $(seq 1 2000); do "
        f"if ((i % 2)); then v=s; else v={VALUE}; fi; "
        f"if echo $v > more$i; then echo more$i; f=0; else f=$((f+1)); "
        "[ $f -ge 10 ] && exit 0; fi; done; exit 1"
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)
    refusals = done.stderr.strip().splitlines()
    errors += refusals
    report.figures["accepted after a refusal"] = len(done.stdout.split())
    if done.stdout.split():
        report.fail(f"{len(done.stdout.split())} writes accepted after the first refusal")
    report.figures["ENOSPC refusals"] = sum(NO_SPACE in e for e in [error, *refusals])
    if done.returncode != 0 or any(NO_SPACE not in e for e in refusals):
        report.fail(f"writes on the full disk were not refused with ENOSPC: {refusals[:3]}")
    want = {f"k{i}" for i in range(1, written + 1)} | set(done.stdout.split())
    have = set(image_labels(store, "full:1")["full:1"])
    if have != want:
        report.fail(f"the store holds {len(have)} labels, {len(want)} were acknowledged")
    written = len(want)
    removed = failed = 0
    for path in sorted(labels.iterdir()):
        done = subprocess.run(["rm", str(path)], capture_output=True, text=True)
        removed += done.returncode == 0
        errors.append(done.stderr)
        if done.returncode != 0:
            failed += 1
            if failed <= 3:
                report.fail(f"rm {path.name} on the full disk: {done.stderr.strip()}")
    report.figures["rm ok"] = removed
    report.figures["rm failed"] = failed
    if removed != written:
        report.fail(f"{removed} labels removed, {written} written")
    filler.unlink()
    again, error = fill(labels, limit=50)
    errors.append(error)
    report.figures["writes after freeing"] = again
    if again != 50:
        report.fail(f"after freeing space, {again} of 50 writes worked: {error}")
    # a draft image (mkdir: no target yet) rewrites its whole record on each label write
    draft = daemon.mountpoint / "images" / "draft:1"
    draft.mkdir()
    drafted, error = fill(draft / "labels")
    errors.append(error)
    report.figures["draft labels until full"] = drafted
    if NO_SPACE not in error:
        report.fail(f"the draft's write that filled the disk failed with {error!r}, not ENOSPC")
    for command in (["rmdir", str(draft)], ["bash", "-c", f"rm {shlex.quote(str(labels))}/*"]):
        done = subprocess.run(command, capture_output=True, text=True)
        errors.append(done.stderr)
        if done.returncode != 0:
            report.fail(f"{command[0]} on the full disk: {done.stderr.strip()}")
    report.figures["EIO"] = sum("Input/output error" in e for e in errors)
    if (status := daemon.stop()) != 0:
        report.fail(f"the daemon exited {status}")
    report.figures["daemon errors logged"] = len(daemon.errors())
    return report
