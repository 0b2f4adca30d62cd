"""Coordinators' downloads: every export as CSV or XLSX, and the programme report as PDF,
one service for `/api/v1/reports/...` and the page `/coordination/exports`.

Coordinators only (403 otherwise), within their scope (their EPCI or the whole programme)
and the overview's filters (api/reports.py parses them). No name or contact is exported
(records/exports.py): the files are meant for funders and the State.

An export is a `records.exports.Table` registered in `EXPORTS` (records.exports.TABLES:
journeys, cheques, sessions, statements, ledger entries); adding one is a `Table` (columns
and a row generator over `(session, ExportContext)`, as `records.exports.statement_rows`)
and its name in that tuple: the route, the page's links, CSV and XLSX follow.

CSV is streamed as the rows are read (one query fetched in batches, `Database.stream`);
XLSX is written row by row to a temporary file, then streamed (api/spreadsheets.py); the
PDF is a few pages whatever the size of the programme, built in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from enum import StrEnum
from typing import BinaryIO

import anyio.to_thread
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from api import access, reports
from api import programme_reads as reads
from api.auth import User
from api.deps import Database
from api.errors import not_found
from api.exports import CsvResponse, PdfResponse, attachment, pdf_download
from api.programme_report import ReportInput, render_report
from api.spreadsheets import (
    XLSX_MEDIA_TYPE,
    csv_file,
    discard,
    file_chunks,
    open_and_forget,
    write_xlsx,
    xlsx_path,
)
from domain import clock
from domain.stages import Role
from domain.validity import paris_today
from records import exports, ledger, programme_report
from records.coordination import OverviewFilter, ReferenceNames


def _registry(tables: Iterable[exports.Table]) -> dict[str, exports.Table]:
    return {t.name: t for t in tables}


EXPORTS: dict[str, exports.Table] = _registry(exports.TABLES)
EXPORT_PATTERN = "^(" + "|".join(EXPORTS) + ")$"  # the route's path parameter


class Format(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


def table(name: str) -> exports.Table:
    found = EXPORTS.get(name)
    if found is None:
        raise not_found("Export")
    return found


def filename(stem: str, extension: str) -> str:
    return f"{stem}-{paris_today().isoformat()}.{extension}"


async def context(db: Database, user: User, filters: OverviewFilter) -> exports.ExportContext:
    """What an export of `user` reads within; 403 unless a coordinator."""
    access.require_role(user, Role.COORDINATOR)
    scope = access.journey_scope(user)

    def read(session: Session) -> exports.ExportContext:
        programme = reads.programme(session, user.programme_code)
        return exports.ExportContext.read(session, programme, scope, filters)

    return await db.run(read)


def csv_stream(db: Database, t: exports.Table, ctx: exports.ExportContext) -> AsyncIterator[bytes]:
    """The CSV file, chunk by chunk, as its rows are read."""
    return db.stream(lambda session: csv_file(t.columns, t.rows(session, ctx)))


async def xlsx_file(
    db: Database, t: exports.Table, ctx: exports.ExportContext
) -> tuple[BinaryIO, int]:
    """The workbook, written to a temporary file: open for reading (already unlinked), and
    its size."""
    path = xlsx_path()
    try:
        await db.run(lambda session: write_xlsx(path, t.title, t.columns, t.rows(session, ctx)))
        return await anyio.to_thread.run_sync(open_and_forget, path)
    except BaseException:
        discard(path)
        raise


async def download(
    db: Database, user: User, name: str, fmt: Format, filters: OverviewFilter
) -> StreamingResponse:
    t = table(name)
    ctx = await context(db, user, filters)
    if fmt == Format.CSV:
        return CsvResponse(csv_stream(db, t, ctx), headers=attachment(filename(t.file_stem, "csv")))
    handle, size = await xlsx_file(db, t, ctx)
    return StreamingResponse(
        file_chunks(handle),
        media_type=XLSX_MEDIA_TYPE,
        headers={**attachment(filename(t.file_stem, "xlsx")), "Content-Length": str(size)},
    )


# ---- the programme report ----


def describe_filters(filters: OverviewFilter, names: ReferenceNames) -> list[str]:
    """The filters applied, in French, one per item."""

    def month(m: int) -> str:
        return f"{m % 100:02d}/{m // 100}"

    out: list[str] = []
    if filters.epci_id is not None:
        out.append("intercommunalité : " + names.epci.get(filters.epci_id, str(filters.epci_id)))
    if filters.reception_structure_id is not None:
        n = filters.reception_structure_id
        out.append("structure d'accueil : " + names.reception.get(n, str(n)))
    if filters.mediation_structure_id is not None:
        n = filters.mediation_structure_id
        out.append("structure de médiation : " + names.mediation.get(n, str(n)))
    if filters.millesime == 0:
        out.append("parcours sans carnet")
    elif filters.millesime is not None:
        out.append(f"carnets du millésime {filters.millesime}")
    if filters.from_month is not None and filters.to_month is not None:
        out.append(
            f"entrés dans le dispositif de {month(filters.from_month)} à {month(filters.to_month)}"
        )
    elif filters.from_month is not None:
        out.append(f"entrés dans le dispositif à partir de {month(filters.from_month)}")
    elif filters.to_month is not None:
        out.append(f"entrés dans le dispositif jusqu'à {month(filters.to_month)} inclus")
    return out


def _filtered(filters: OverviewFilter) -> bool:
    return filters != OverviewFilter()


async def programme_report_pdf(db: Database, user: User, filters: OverviewFilter) -> bytes:
    """The programme report of `user`'s scope under `filters`, as PDF bytes."""
    access.require_role(user, Role.COORDINATOR)
    scope = access.journey_scope(user)

    def read(session: Session) -> ReportInput:
        report = reports.overview(session, user, filters)
        ctx = exports.ExportContext(report.programme, scope, filters, report.names)
        whole = scope.everything and not _filtered(filters)
        return ReportInput(
            programme_name=report.programme.name,
            issuer_name=report.programme.issuer_name,
            scope_label=report.scope_label,
            filters=describe_filters(filters, report.names),
            overview=report.figures,
            figures=programme_report.report_figures(session, ctx),
            ledger=ledger.ledger_view(
                session,
                report.programme,
                epci_id=None if scope.everything else scope.epci_id,
                today=paris_today(),
            ),
            target_booklets=report.programme.target_booklets if whole else None,
            printed_at=clock.now(),
        )

    data = await db.run(read)
    return await anyio.to_thread.run_sync(render_report, data)


async def programme_report_download(
    db: Database, user: User, filters: OverviewFilter
) -> PdfResponse:
    content = await programme_report_pdf(db, user, filters)
    return pdf_download(filename("rapport-programme", "pdf"), content)
