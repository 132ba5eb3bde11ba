"""metafs.cli.tables against real Go text/tabwriter output (what ctr printed for the fixture)."""

from __future__ import annotations

import re

import pytest
from cli_helpers import space_cells
from containerd_fixture import EXPECTED
from hypothesis import given
from hypothesis import strategies as st

from metafs.cli.tables import _Layout, tabwrite

# (file, header names, tabwriter settings) for every space-padded table ctr printed.
SPACE_TABLES = [
    ("images-ls", ["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"], (1, 8, 1)),
    ("containers-ls", ["CONTAINER", "IMAGE", "RUNTIME"], (4, 8, 4)),
    ("leases-ls", ["ID", "CREATED AT", "LABELS"], (1, 8, 1)),
    ("snapshots-native-ls", ["KEY", "PARENT", "KIND"], (1, 8, 1)),
    ("snapshots-overlayfs-ls", ["KEY", "PARENT", "KIND"], (1, 8, 1)),
]


def space_table_cases() -> list[tuple[str, list[str], tuple[int, int, int]]]:
    cases = []
    for stem, headers, settings in SPACE_TABLES:
        for path in sorted(EXPECTED.glob(f"*.{stem}.txt")):
            cases.append((path.name, headers, settings))
    cases.append(("namespaces-ls.txt", ["NAME", "LABELS"], (1, 8, 1)))
    return cases


@pytest.mark.parametrize(("name", "headers", "settings"), space_table_cases())
def test_space_padded_tables_as_go_printed_them(name, headers, settings):
    expected = (EXPECTED / name).read_text(encoding="utf-8")
    cells = space_cells(expected, headers)
    text = "".join("".join(f"{cell}\t" for cell in row) + "\n" for row in cells)
    minwidth, tabwidth, padding = settings
    assert tabwrite(text, minwidth=minwidth, tabwidth=tabwidth, padding=padding) == expected


@pytest.mark.parametrize("name", [p.name for p in sorted(EXPECTED.glob("*.content-ls.txt"))])
def test_tab_padded_content_table_as_go_printed_it(name):
    expected = (EXPECTED / name).read_text(encoding="utf-8")
    rows = [re.split("\t+", line) for line in expected.split("\n")[:-1]]
    assert all(len(row) == 4 for row in rows)
    text = "".join("\t".join(row) + "\n" for row in rows)
    assert tabwrite(text, minwidth=1, tabwidth=8, padding=1, padchar="\t") == expected


def test_the_last_cell_of_a_line_is_not_a_column():
    assert tabwrite("a\tbbb\nccc\td\n", minwidth=1, tabwidth=8, padding=1) == "a   bbb\nccc d\n"


def test_column_blocks_are_sized_separately():
    # The line without tabs ends the first block of column 0; the next block is sized anew.
    text = "a\tb\t\nlonger\tc\t\nbreak\nx\ty\t\n"
    assert tabwrite(text, minwidth=1, tabwidth=8, padding=2) == (
        "a       b  \nlonger  c  \nbreak\nx  y  \n"
    )


def test_a_shorter_line_ends_the_blocks_of_columns_it_lacks():
    text = "a\tb\tc\t\naa\t\nx\tyyyy\tz\t\n"
    assert tabwrite(text, minwidth=1, tabwidth=8, padding=1) == ("a  b c \naa \nx  yyyy z \n")


def test_widths_count_characters_not_bytes():
    text = "héllo ✓\tx\t\nab\ty\t\n"
    assert tabwrite(text, minwidth=1, tabwidth=8, padding=1) == "héllo ✓ x \nab      y \n"


def test_minwidth_applies_to_every_column():
    assert tabwrite("a\tb\t\n", minwidth=4, tabwidth=8, padding=1) == "a   b   \n"


def test_tab_padding_rounds_up_to_tab_stops():
    text = "a\tb\nexactly8\tc\n"
    assert tabwrite(text, minwidth=1, tabwidth=8, padding=1, padchar="\t") == (
        "a\t\tb\nexactly8\tc\n"
    )


def test_text_without_a_final_newline_is_kept():
    assert tabwrite("a\tb\t\nc", minwidth=1, tabwidth=8, padding=1) == "a b \nc"


def block_by_block(text: str, minwidth: int, padding: int) -> str:
    """The general algorithm, column block by column block, without the rectangle shortcut."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    _Layout(lines, out, minwidth, 8, padding, " ").format([], 0, len(lines))
    return "".join(out)


cells = st.text(alphabet="ab é✓-=,", max_size=6)


@given(
    st.integers(1, 5).flatmap(
        lambda n: st.lists(st.lists(cells, min_size=n, max_size=n), min_size=1, max_size=6)
    ),
    st.sampled_from(["\n", "\t\n", ""]),
    st.integers(0, 4),
    st.integers(0, 3),
)
def test_a_rectangular_table_is_laid_out_as_block_by_block(rows, end, minwidth, padding):
    text = "".join("\t".join(row) + end for row in rows)
    expected = block_by_block(text, minwidth, padding)
    assert tabwrite(text, minwidth=minwidth, tabwidth=8, padding=padding) == expected
