"""CSV files for French spreadsheets, and the answers that carry downloads.

Excel and LibreOffice in French read a CSV as expected when it is UTF-8 *with* a byte
order mark (without it, Excel reads Windows-1252 and mangles accents), separated by `;`
(the comma is the decimal separator), dates dd/mm/yyyy, amounts `1234,50` (no currency
sign, no thousands separator: the cell stays a number), lines ended by CRLF.

    rows = ((fr_date(x.day), x.serial, fr_amount(x.cents)) for x in lines)
    return csv_download("releve-RB-2026-11-0003.csv", ["Date", "Chèque", "Montant (€)"], rows)

`csv_chunks` yields the file a few hundred rows at a time: an export of 90 000 rows is
streamed, never held whole in memory, when `rows` is itself a generator.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse

from domain.validity import format_date_fr

BOM = "\ufeff"
SEPARATOR = ";"
ROWS_PER_CHUNK = 500

Cell = str | int | None


def fr_date(day: date | datetime | None) -> str:
    """dd/mm/yyyy (Europe/Paris for instants); "" for none."""
    return "" if day is None else format_date_fr(day)


def fr_amount(cents: int) -> str:
    """1234,50: a number a French spreadsheet sums."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    return f"{sign}{euros},{rest:02d}"


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Iterator[bytes]:
    """The whole file, BOM and header first, in UTF-8 chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=SEPARATOR, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])
        pending += 1
        if pending >= ROWS_PER_CHUNK:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode()


def attachment(filename: str) -> dict[str, str]:
    """The Content-Disposition of a download named `filename` (RFC 6266, any characters)."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    return {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store",
    }


class CsvResponse(StreamingResponse):
    media_type = "text/csv; charset=utf-8"


class PdfResponse(Response):
    media_type = "application/pdf"


def csv_download(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Cell]]
) -> CsvResponse:
    return CsvResponse(csv_chunks(header, rows), headers=attachment(filename))


def pdf_download(filename: str, content: bytes) -> PdfResponse:
    return PdfResponse(content, headers=attachment(filename))


# What the OpenAPI document says of a download's success (routes' `responses=`).
CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}
PDF_CONTENT = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
