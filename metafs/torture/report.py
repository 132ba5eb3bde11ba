"""What a section found: its figures, in the order it prints them, and its failures."""

from __future__ import annotations

from dataclasses import dataclass, field

SHOWN_FAILURES = 8  # per section; the rest are counted


@dataclass
class Report:
    title: str
    figures: dict[str, object] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""  # why a section did not run (skipped), if it did not
    notes: list[str] = field(default_factory=list)  # what is worth a look but not a failure

    def fail(self, what: str) -> None:
        self.failures.append(what)

    def count(self, name: str, by: int = 1) -> None:
        self.figures[name] = int(self.figures.get(name, 0)) + by  # type: ignore[call-overload]

    @property
    def ok(self) -> bool:
        return not self.failures

    def line(self) -> str:
        figures = ", ".join(f"{name} {_shown(value)}" for name, value in self.figures.items())
        status = "skipped: " + self.note if self.note else "ok" if self.ok else "FAILED"
        return f"{self.title}: {figures or '-'} ({self.seconds:.1f} s) {status}"

    def details(self) -> list[str]:
        shown = [f"  - {failure}" for failure in self.failures[:SHOWN_FAILURES]]
        shown += [f"  * {note}" for note in self.notes[:SHOWN_FAILURES]]
        if len(self.failures) > SHOWN_FAILURES:
            shown.append(f"  - ... and {len(self.failures) - SHOWN_FAILURES} more")
        return shown


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
