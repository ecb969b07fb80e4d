"""The rows of `make bench` and the table they print as.

A section of the bench is a module with `measure() -> list[Figure]`; bench/__main__.py lists the sections, so
adding one is one line there. A figure with a budget is `ok` when its value is at most the budget and `MISSED`
otherwise (state every budget as an upper bound: "no reads" is `budget=0`); a figure without one is `info`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

WIDTH = 120
HEADINGS = ("figure", "value", "budget", "status", "note")


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str = ""
    budget: float | None = None
    note: str = ""
    digits: int | None = None  # decimals shown; by default none for whole numbers, two otherwise

    @property
    def met(self) -> bool | None:
        return None if self.budget is None else self.value <= self.budget + 1e-9

    @property
    def status(self) -> str:
        return {None: "info", True: "ok", False: "MISSED"}[self.met]

    def shown(self, number: float) -> str:
        digits = self.digits if self.digits is not None else (0 if float(number).is_integer() else 2)
        text = f"{number:,.{digits}f}"
        if self.unit == "$":
            return f"${text}"
        if self.unit in ("", "x"):
            return f"{text}{self.unit}"
        return f"{text} {self.unit}"

    def cells(self) -> tuple[str, str, str, str, str]:
        budget = "" if self.budget is None else f"<= {self.shown(self.budget)}"
        return (self.name, self.shown(self.value), budget, self.status, self.note)


def missed(figures: Iterable[Figure]) -> list[Figure]:
    return [figure for figure in figures if figure.met is False]


def render(figures: Iterable[Figure], width: int = WIDTH) -> str:
    """One line per figure, columns padded to their widest cell; the note is cut to keep every line within width."""
    rows = [HEADINGS, *(figure.cells() for figure in figures)]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = []
    for row in [rows[0], tuple("-" * w for w in widths) + ("----",), *rows[1:]]:
        line = " | ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + " | " + row[4]
        line = line.rstrip(" |") if not row[4] else line
        lines.append(line if len(line) <= width else line[: width - 3] + "...")
    return "\n".join(lines)
