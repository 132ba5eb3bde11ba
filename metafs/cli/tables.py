"""Column layout exactly as Go's `text/tabwriter` prints it, so tables match ctr byte for byte.

ctr writes its tables as tab-separated text through a tabwriter; `tabwrite` takes the same text
and the same four settings. The rules reproduced here (for the flags ctr uses, i.e. none):

- a line is split into cells at tabs; a cell *terminated* by a tab belongs to a column, the text
  after a line's last tab does not (so `"a\\tb\\t\\n"` pads `b`, `"a\\tb\\n"` does not);
- a column block is a run of consecutive lines that all have a cell in that column; its width is
  the widest cell plus `padding`, at least `minwidth`, and each block is sized on its own;
- widths count characters (Go counts UTF-8 runes), not bytes;
- with `padchar` '\\t' the cell width is rounded up to a multiple of `tabwidth` and the padding
  is written as tabs (`ctr content ls`); otherwise as that many `padchar`s (the other tables).
"""

from __future__ import annotations


def tabwrite(text: str, *, minwidth: int, tabwidth: int, padding: int, padchar: str = " ") -> str:
    lines = [line.split("\t") for line in text.split("\n")]
    body = lines[:-1] if lines[-1] == [""] else lines  # the lines before a final newline
    if padchar != "\t" and len({len(line) for line in body}) == 1:
        # every line has the same number of cells, as in every table ctr prints: each column
        # is one block
        text = _write_rectangle(body, minwidth, padding, padchar)
        return text + "\n" if body is not lines else text
    out: list[str] = []
    layout = _Layout(lines, out, minwidth, tabwidth, padding, padchar)
    layout.format([], 0, len(lines))
    return "".join(out)


def _write_rectangle(body: list[list[str]], minwidth: int, padding: int, padchar: str) -> str:
    """`tabwrite` of lines that all have the same number of cells, a column at a time."""
    columns = list(zip(*body, strict=True))
    widths = [max(minwidth, max(map(len, column)) + padding) for column in columns[:-1]]
    padded = [
        [cell.ljust(width, padchar) for cell in column]
        for column, width in zip(columns[:-1], widths, strict=True)
    ]
    padded.append(list(columns[-1]))
    return "\n".join(map("".join, zip(*padded, strict=True)))


class _Layout:
    def __init__(
        self,
        lines: list[list[str]],
        out: list[str],
        minwidth: int,
        tabwidth: int,
        padding: int,
        padchar: str,
    ) -> None:
        self.lines = lines
        self.out = out
        self.minwidth = minwidth
        self.tabwidth = tabwidth
        self.padding = padding
        self.padchar = padchar

    def format(self, widths: list[int], line0: int, line1: int) -> None:
        """Size the column `len(widths)` block by block, recursing into the columns right of it."""
        column = len(widths)
        lines = self.lines
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            self.write_lines(widths, line0, this)
            line0 = this
            width = self.minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + self.padding)
                this += 1
            widths.append(width)
            self.format(widths, line0, this)
            widths.pop()
            line0 = this
        self.write_lines(widths, line0, line1)

    def write_lines(self, widths: list[int], line0: int, line1: int) -> None:
        out, last = self.out, len(self.lines) - 1
        ncols = len(widths)
        for i in range(line0, line1):
            line = self.lines[i]
            for j, cell in enumerate(line):
                out.append(cell if j >= ncols else self.pad(cell, widths[j]))
            if i != last:
                out.append("\n")

    def pad(self, cell: str, width: int) -> str:
        if self.padchar != "\t":
            return cell.ljust(width, self.padchar)
        tw = self.tabwidth
        if tw == 0:
            return cell
        width = -(-width // tw) * tw
        return cell + "\t" * -(-(width - len(cell)) // tw)
