"""The console blocks of the README, as the tests that run them read them."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def console_session(heading: str | None = None) -> list[tuple[str, str]]:
    """(command, what it prints) of each `$ ` line of the first console block of the README,
    or of the first one after `heading` (a whole heading line, such as "## A live node")."""
    text = README.read_text()
    if heading is not None:
        text = text.split(f"{heading}\n", 1)[1]
    block = text.split("```console\n", 1)[1].split("```", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return [(command, "".join(f"{line}\n" for line in out)) for command, out in steps]
