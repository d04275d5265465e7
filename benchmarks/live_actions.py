"""How many calls the Refresh button makes into Excel, on the S and M books.

``crmbook.xl.refresh()`` runs against a small stand-in for an xlwings book that holds the sheets
read from the file and counts every call that would change the workbook (the same calls xlwings
turns into COM calls on Windows or AppleScript on a Mac). xlwings' own remote engine, used by the
tests, gives the same counts but scans its whole payload for every range, which makes it far too
slow for the M book.

    python benchmarks/live_actions.py            # S and M
    python benchmarks/live_actions.py --sizes S
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import python_calamine as pc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import ensure_book  # noqa: E402

from crmbook import xl  # noqa: E402

TODAY = dt.date(2026, 11, 22)


class Calls(Counter):  # type: ignore[type-arg]
    pass


class Range:
    def __init__(self, sheet: Sheet, first: tuple[int, int], last: tuple[int, int]) -> None:
        self.sheet, self.first, self.last = sheet, first, last

    def options(self, **_: Any) -> Range:
        return self

    left = top = 0.0  # where a chart goes; any position will do here

    @property
    def value(self) -> list[list[Any]]:
        (r0, c0), (r1, c1) = self.first, self.last
        rows = self.sheet.values
        return [
            [(rows[r][c] if r < len(rows) and c < len(rows[r]) else None) for c in range(c0 - 1, c1)]
            for r in range(r0 - 1, r1)
        ]

    @value.setter
    def value(self, grid: Any) -> None:
        self.sheet.calls["write values"] += 1
        self.sheet.calls["cells written"] += sum(len(r) for r in grid) if isinstance(grid, list) else 1

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("color", "number_format", "column_width"):
            self.sheet.calls[name] += 1
        else:
            object.__setattr__(self, name, value)


class Chart:
    def __init__(self, calls: Calls) -> None:
        object.__setattr__(self, "calls", calls)

    def set_source_data(self, _range: Any) -> None:
        self.calls["chart source"] += 1

    def __setattr__(self, name: str, value: Any) -> None:
        self.calls[f"chart {name}"] += 1

    def delete(self) -> None:
        self.calls["delete chart"] += 1


class Charts(list):  # type: ignore[type-arg]
    def __init__(self, calls: Calls) -> None:
        super().__init__()
        self.calls = calls

    def add(self, *_: Any) -> Chart:
        self.calls["add chart"] += 1
        chart = Chart(self.calls)
        self.append(chart)
        return chart


class Sheet:
    def __init__(self, name: str, values: list[list[Any]], calls: Calls) -> None:
        self.name, self.values, self.calls = name, values, calls
        self.charts = Charts(calls)

    @property
    def used_range(self) -> Any:
        sheet = self

        class Used:
            @property
            def last_cell(self) -> Any:
                rows = len(sheet.values)
                cols = max((len(r) for r in sheet.values), default=0)
                return type("Cell", (), {"row": rows, "column": cols})()

        return Used()

    def range(self, first: Any, last: Any = None) -> Range:
        if isinstance(first, str):
            first = (1, 1)
        return Range(self, first, last or first)

    def clear(self) -> None:
        self.calls["clear sheet"] += 1

    @property
    def freeze_panes(self) -> Any:
        calls = self.calls
        return type("Panes", (), {"freeze_at": lambda _self, _cell: calls.update(["freeze panes"])})()

    @property
    def visible(self) -> bool:
        return True

    @visible.setter
    def visible(self, value: bool) -> None:
        self.calls["hide sheet"] += 1


class Sheets(list):  # type: ignore[type-arg]
    def __init__(self, items: list[Sheet], calls: Calls) -> None:
        super().__init__(items)
        self.calls = calls

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return next(s for s in self if s.name == key)
        return super().__getitem__(key)

    def add(self, name: str, after: Any = None) -> Sheet:
        self.calls["add sheet"] += 1
        sheet = Sheet(name, [], self.calls)
        self.append(sheet)
        return sheet


class App:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls
        self.status_bar: Any = None

    def alert(self, text: str, title: str = "") -> None:
        self.calls["message box"] += 1
        self.message = text


class Book:
    def __init__(self, path: Path) -> None:
        self.calls = Calls()
        wb = pc.CalamineWorkbook.from_path(str(path))
        self.sheets = Sheets(
            [
                Sheet(n, wb.get_sheet_by_name(n).to_python(skip_empty_area=False), self.calls)
                for n in wb.sheet_names
            ],
            self.calls,
        )
        self.app = App(self.calls)
        self.name = path.name
        self.fullname = str(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="S,M")
    args = parser.parse_args()
    for size in args.sizes.split(","):
        book = Book(ensure_book(size))
        started = time.perf_counter()
        result = xl.refresh(book, today=TODAY, now=dt.datetime(2026, 11, 22, 9))
        seconds = time.perf_counter() - started
        if result is None:
            raise SystemExit(f"{size}: {book.app.message}")
        calls = dict(book.calls)
        cells = calls.pop("cells written", 0)
        changed = len(result.plan.changeset.cell_writes)
        print(
            f"{size}: {result.actions} calls that change the workbook ({cells:,} cells written; "
            f"{changed:,} record-sheet cells changed) in {seconds:.1f} s: {calls}"
        )


if __name__ == "__main__":
    main()
