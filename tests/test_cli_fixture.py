"""Import the real containerd meta-small.db and compare every ctr output recorded for it.

Each file in meta-small.expected/ (except the dump, the command list and the digests) is what
ctr printed for one namespace; metafs must print the same bytes. The only differences allowed
are the columns listed in EXCEPTIONS, each compared by its own rule rather than skipped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_helpers import ok, space_cells
from containerd_fixture import EXPECTED, META_DB

from metafs import Store
from metafs.importer import import_bolt

NOT_CTR_OUTPUT = {"bolt-dump.txt", "commands.txt", "image-digests.json"}
DIGESTS = json.loads((EXPECTED / "image-digests.json").read_text())

# Columns where ctr reads what meta.db does not hold, and how metafs's value is checked instead.
EXCEPTIONS = {
    "images-ls": {
        # ctr: manifest + config + layers of the default platform, summed from content blobs
        "SIZE": lambda ours, ctr: ours == f"{DIGESTS['manifest_size']:.1f} B",
        # ctr: platforms read from the manifest/index blobs
        "PLATFORMS": lambda ours, ctr: ours == "-",
    },
    "content-ls": {
        # relative to the moment the command runs
        "AGE": lambda ours, ctr: (
            re.fullmatch(
                r"Less than a second|1 second|\d+ (seconds|minutes|hours|days|weeks|months|years)"
                r"|About an? (minute|hour)",
                ours,
            )
            is not None
        ),
        # ctr 1.6 prints content labels in Go map order (random); metafs sorts them
        "LABELS": lambda ours, ctr: sorted(ours.split(",")) == sorted(ctr.split(",")),
    },
}

SPACE_HEADERS = {
    "images-ls": ["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"],
}


def command(name: str) -> tuple[str, list[str]]:
    """(kind of output, metafs arguments) for one expected file."""
    if name.startswith("namespaces-ls"):
        return "exact", ["namespaces", "ls", *(["-q"] if "-q" in name else [])]
    namespace, what = name.split(".", 1)
    args = ["-n", namespace]
    if what.startswith("containers-info."):
        return "exact", [*args, "containers", "info", what.removeprefix("containers-info.")[:-5]]
    what = what.removesuffix(".txt")
    if what.startswith("snapshots-"):
        snapshotter = what.removeprefix("snapshots-").removesuffix("-ls")
        return "exact", [*args, "snapshots", "--snapshotter", snapshotter, "ls"]
    group, verb = what.split("-", 1)
    quiet = ["-q"] if verb.endswith("-q") else []
    kind = what if what in EXCEPTIONS else "exact"
    return kind, [*args, group, "ls", *quiet]


CASES = sorted(p.name for p in EXPECTED.iterdir() if p.name not in NOT_CTR_OUTPUT)


def test_every_expected_file_is_compared():
    kinds = {command(name)[0] for name in CASES}
    assert kinds == {"exact", "images-ls", "content-ls"}
    assert len(CASES) == 31


@pytest.fixture(scope="module")
def store(module_new_store) -> Path | str:
    path = module_new_store()
    with Store.open(path) as opened:
        import_bolt(opened, META_DB)
    return path


def tab_cells(text: str) -> list[list[str]]:
    return [re.split("\t+", line) for line in text.split("\n")[:-1]]


def compare_cells(kind: str, ours: list[list[str]], ctr: list[list[str]]) -> None:
    assert len(ours) == len(ctr) and ours[0] == ctr[0]
    header = ctr[0]
    for row_ours, row_ctr in zip(ours[1:], ctr[1:], strict=True):
        assert len(row_ours) == len(row_ctr) == len(header)
        for column, a, b in zip(header, row_ours, row_ctr, strict=True):
            rule = EXCEPTIONS[kind].get(column)
            if rule is None:
                assert a == b, (column, a, b)
            else:
                assert rule(a, b), (column, a, b)


@pytest.mark.parametrize("name", CASES)
def test_metafs_prints_what_ctr_printed(store, name):
    kind, args = command(name)
    ctr = (EXPECTED / name).read_text(encoding="utf-8")
    ours = ok(store, *args)
    if kind == "exact":
        assert ours == ctr
    elif kind in SPACE_HEADERS:
        headers = SPACE_HEADERS[kind]
        compare_cells(kind, space_cells(ours, headers), space_cells(ctr, headers))
    else:
        compare_cells(kind, tab_cells(ours), tab_cells(ctr))
