"""Any export `Table` (records/exports.py) as a CSV file for French spreadsheets or as an
XLSX workbook, both written row by row: memory stays flat whatever the number of rows.

CSV: api/exports.py's format (UTF-8 with BOM, `;`, CRLF, dd/mm/yyyy, `1234,50`).

XLSX: XlsxWriter in `constant_memory` mode, which flushes each row to a temporary file as
the next one starts (memory does not grow with the rows: bench/exports.py). Chosen over
openpyxl's write-only mode, as lean in memory, because it writes three times as fast
(82,740 cheque rows: 3.5 s against 10.2 s, openpyxl without lxml) and needs nothing but
itself (pure Python); the tests read its files back with openpyxl, an independent
implementation. The workbook is finished on disk (a zip's directory comes last), then
streamed: the file is unlinked as soon as it is open for reading, so nothing is left behind
even if the download stops half-way (a process killed while it writes the workbook leaves
its private folder in the system's temporary directory, as any temporary file).

Cells are typed: dates are real dates shown dd/mm/yyyy, amounts numbers in euros shown
`# ##0,00 €` (stored as the locale-neutral `#,##0.00 "€"`, which a French Excel or
LibreOffice shows with a space for thousands and a comma for decimals), whole numbers
numbers; the header row is bold, frozen and carries an autofilter.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import date
from typing import Any, BinaryIO

import anyio.to_thread
from xlsxwriter import Workbook

from api.exports import Cell, csv_chunks, fr_amount, fr_date
from records.exports import Column, Kind, Row

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_CONTENT = {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}
DATE_FORMAT = "dd/mm/yyyy"
MONEY_FORMAT = '#,##0.00\\ "€"'
FILE_CHUNK = 64 * 1024


# ---- CSV ----


def csv_cell(kind: Kind, value: object) -> Cell:
    if value is None:
        return None
    match kind:
        case Kind.DATE:
            assert isinstance(value, date)
            return fr_date(value)
        case Kind.MONEY:
            assert isinstance(value, int)
            return fr_amount(value)
        case Kind.YES_NO:
            return "oui" if value else "non"
        case Kind.INTEGER:
            assert isinstance(value, int)
            return value
    return str(value)


def csv_file(columns: Sequence[Column], rows: Iterable[Row]) -> Iterator[bytes]:
    """The CSV file of `rows`, in chunks (api.exports.csv_chunks)."""
    kinds = [c.kind for c in columns]
    cells = ([csv_cell(k, v) for k, v in zip(kinds, row, strict=True)] for row in rows)
    return csv_chunks([c.header for c in columns], cells)


# ---- XLSX ----


MAX_SHEET_ROWS = 1_048_575  # rows of data a sheet holds under its header (Excel's limit)


def write_xlsx(path: str, title: str, columns: Sequence[Column], rows: Iterable[Row]) -> int:
    """Write `rows` into the workbook `path`, in a sheet named `title` (then `title (2)`,
    `title (3)`... past MAX_SHEET_ROWS rows: never a row silently dropped); the row count."""
    workbook = Workbook(
        path,
        {
            "constant_memory": True,
            "tmpdir": os.path.dirname(path),
            "default_date_format": DATE_FORMAT,
        },
    )
    try:
        header = workbook.add_format({"bold": True, "bg_color": "#E8EEF4", "text_wrap": True})
        day = workbook.add_format({"num_format": DATE_FORMAT})
        money = workbook.add_format({"num_format": MONEY_FORMAT})
        kinds = [c.kind for c in columns]
        sheets: list[tuple[Any, int]] = []  # each sheet and its rows

        def new_sheet() -> Any:
            number = len(sheets) + 1
            name = title[:31] if number == 1 else f"{title[:24]} ({number})"
            sheet = workbook.add_worksheet(name)
            for i, column in enumerate(columns):
                sheet.set_column(i, i, column.width)
            sheet.set_row(0, 30)
            for i, column in enumerate(columns):
                sheet.write_string(0, i, column.header, header)
            sheet.freeze_panes(1, 0)
            sheets.append((sheet, 0))
            return sheet

        sheet, r, total = new_sheet(), 0, 0
        for row in rows:
            if r == MAX_SHEET_ROWS:
                sheets[-1] = (sheet, r)
                sheet, r = new_sheet(), 0
            r += 1
            total += 1
            for i, (kind, value) in enumerate(zip(kinds, row, strict=True)):
                if value is None:
                    continue
                match kind:
                    case Kind.DATE:
                        sheet.write_datetime(r, i, value, day)
                    case Kind.MONEY:
                        assert isinstance(value, int)
                        sheet.write_number(r, i, value / 100, money)
                    case Kind.INTEGER:
                        assert isinstance(value, int)
                        sheet.write_number(r, i, value)
                    case Kind.YES_NO:
                        sheet.write_string(r, i, "oui" if value else "non")
                    case _:
                        sheet.write_string(r, i, str(value))
        sheets[-1] = (sheet, r)
        for each, count in sheets:
            each.autofilter(0, 0, count, len(columns) - 1)
    finally:
        workbook.close()
    return total


def xlsx_path() -> str:
    """A fresh path in a private temporary folder, for one workbook."""
    folder = tempfile.mkdtemp(prefix="passnum-xlsx-")
    return os.path.join(folder, "export.xlsx")


def open_and_forget(path: str) -> tuple[BinaryIO, int]:
    """The finished workbook open for reading and its size; its file and folder are
    removed at once (the open handle keeps the content until it is closed)."""
    handle = open(path, "rb")  # noqa: SIM115 - closed by `file_chunks`
    size = os.fstat(handle.fileno()).st_size
    folder = os.path.dirname(path)
    for name in os.listdir(folder):
        os.unlink(os.path.join(folder, name))
    os.rmdir(folder)
    return handle, size


def discard(path: str) -> None:
    """Remove a workbook's folder after a failure."""
    folder = os.path.dirname(path)
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        os.unlink(os.path.join(folder, name))
    if os.path.isdir(folder):
        os.rmdir(folder)


async def file_chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    """The content of `handle` in chunks, read in a worker thread; closes it."""
    try:
        while chunk := await anyio.to_thread.run_sync(handle.read, FILE_CHUNK):
            yield chunk
    finally:
        handle.close()
