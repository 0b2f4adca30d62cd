"""api/spreadsheets.py on its own: typed cells in both formats, the CSV written as the rows
come (never gathered first), an XLSX past a sheet's rows going on in a second sheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from api import spreadsheets
from records.exports import Column, Kind, Row

COLUMNS = (
    Column("Jour", Kind.DATE),
    Column("Montant (€)", Kind.MONEY),
    Column("Nombre", Kind.INTEGER),
    Column("Bloqué", Kind.YES_NO),
    Column("Libellé"),
)
ROWS: list[Row] = [
    (date(2026, 1, 31), 123450, 7, True, "Décazeville ; « test »"),
    (None, -5, 0, False, None),
    (date(2027, 12, 1), 1000, 10, False, 'guillemets "doubles"'),
]


def test_csv_cells() -> None:
    body = b"".join(spreadsheets.csv_file(COLUMNS, iter(ROWS)))
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert text.splitlines()[0] == "Jour;Montant (€);Nombre;Bloqué;Libellé"
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))[1:]
    assert rows == [
        ["31/01/2026", "1234,50", "7", "oui", "Décazeville ; « test »"],
        ["", "-0,05", "0", "non", ""],
        ["01/12/2027", "10,00", "10", "non", 'guillemets "doubles"'],
    ]


def test_csv_is_written_as_the_rows_come(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first chunks leave before the rows are all read: a source that fails after
    1,200 rows has already given two chunks of 500 rows."""

    def rows() -> Iterator[Row]:
        for n in range(1_200):
            yield (date(2026, 1, 1), n, n, False, "x")
        raise RuntimeError("the source failed")

    chunks = spreadsheets.csv_file(COLUMNS, rows())
    first, second = next(chunks), next(chunks)
    assert first.count(b"\r\n") == 501 and second.count(b"\r\n") == 500  # header + 500
    with pytest.raises(RuntimeError):
        next(chunks)


def test_xlsx_cells_and_sheets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spreadsheets, "MAX_SHEET_ROWS", 2)
    path = str(tmp_path / "t.xlsx")
    assert (
        spreadsheets.write_xlsx(path, "Un titre de plus de trente et un caractères", COLUMNS, ROWS)
        == 3
    )
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == [
        "Un titre de plus de trente et u",
        "Un titre de plus de tren (2)",
    ]
    first, second = (workbook[name] for name in workbook.sheetnames)
    for sheet in (first, second):
        assert [c.value for c in sheet[1]] == [c.header for c in COLUMNS]
        assert sheet.freeze_panes == "A2"
    values = [list(r) for r in first.iter_rows(min_row=2)] + [
        list(r) for r in second.iter_rows(min_row=2)
    ]
    assert len(values) == 3
    day, money, count, stalled, label = values[0]
    assert isinstance(day.value, datetime) and day.value.date() == date(2026, 1, 31)
    assert day.number_format == "dd/mm/yyyy"
    assert money.value == 1234.5 and money.number_format == '#,##0.00\\ "€"'
    assert count.value == 7 and stalled.value == "oui" and label.value == "Décazeville ; « test »"
    assert values[1][0].value is None and values[1][1].value == -0.05
    assert values[2][0].value.date() == date(2027, 12, 1)  # type: ignore[union-attr]
