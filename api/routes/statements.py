"""JSON API: reimbursement statements (contre-paiement): lists and details in scope, the
CSV and PDF documents, and a programme coordinator's validation and payment."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api import schemas as s
from api.auth import CurrentUser
from api.constraints import LINE, MAX_ID, MAX_OFFSET, IdPath, IdQuery
from api.deps import IdempotencyKey, State
from api.errors import ApiError, error_responses
from api.exports import (
    CSV_CONTENT,
    PDF_CONTENT,
    CsvResponse,
    PdfResponse,
    csv_download,
    pdf_download,
)
from api.statement_documents import CSV_HEADER, csv_rows, shown_serial
from api.statement_service import StatementService
from domain.months import month_label
from domain.statements import StatementStatus
from records.statements import StatementFilter, StatementRow

router = APIRouter(prefix="/api/v1", tags=["reimbursement statements"])

READ_ERRORS = error_responses(401, 403, 404, 422)
CHANGE_ERRORS = error_responses(
    401,
    403,
    404,
    409,
    422,
    descriptions={409: "Action impossible dans l'état du relevé (ou clé d'idempotence réutilisée)"},
)
MONTH = r"^20\d{2}-(0[1-9]|1[0-2])$"  # 2000-01 to 2099-12


# ---- answers and bodies ----


class StatementOut(BaseModel):
    id: int
    number: str = Field(description="Numéro du relevé, unique dans le programme (RB-2026-11-0003)")
    mediation_structure_id: int
    mediation_structure_name: str
    month: date = Field(description="Premier jour du mois du relevé")
    month_label: str = Field(description="Le mois en français (novembre 2026)")
    status: StatementStatus
    status_label: str
    issuer_name: str
    cheque_count: int
    total_cents: int
    built_at: datetime
    validated_at: datetime | None
    validated_by: int | None
    paid_on: date | None
    payment_reference: str | None


class StatementLineOut(BaseModel):
    serial: str = Field(description="Numéro du chèque (16 chiffres)")
    display: str = Field(description="Numéro tel qu'imprimé (012-2026-000123-04-7)")
    session_day: date
    amount_cents: int


class StatementDetail(StatementOut):
    lines: list[StatementLineOut]


class StatementList(BaseModel):
    items: list[StatementOut]
    page: s.Page


class ValidateIn(s.Strict):
    """What the coordinator checked: if given and the statement changed since (late
    entries added), the validation is refused (409 statement_changed)."""

    expected_cheque_count: int | None = Field(default=None, ge=0, le=MAX_ID)
    expected_total_cents: int | None = Field(default=None, ge=0, le=MAX_ID)


class PaymentIn(s.Strict):
    paid_on: date = Field(description="Date du paiement (entre la validation et aujourd'hui)")
    reference: str = Field(
        min_length=1, max_length=100, pattern=LINE, description="Référence du virement ou mandat"
    )


def statement_out(row: StatementRow) -> StatementOut:
    st = row.statement
    assert st.id is not None
    status = StatementStatus(st.status)
    return StatementOut(
        id=st.id,
        number=st.number,
        mediation_structure_id=st.mediation_structure_id,
        mediation_structure_name=row.structure_name,
        month=st.month,
        month_label=month_label(st.month),
        status=status,
        status_label=status.label,
        issuer_name=st.issuer_name,
        cheque_count=st.cheque_count,
        total_cents=st.total_cents,
        built_at=st.built_at,
        validated_at=st.validated_at,
        validated_by=st.validated_by,
        paid_on=st.paid_on,
        payment_reference=st.payment_reference,
    )


def parse_month(text: str | None) -> date | None:
    if text is None:
        return None
    if not re.match(MONTH, text):
        raise ApiError(422, "invalid_month", "Un mois au format AAAA-MM est attendu.")
    return date(int(text[:4]), int(text[5:7]), 1)


# ---- routes (the documents before the detail: `{id}.csv` would match `{id}`) ----


@router.get("/statements", responses=error_responses(401, 403, 422))
async def list_statements(
    state: State,
    user: CurrentUser,
    month: Annotated[
        str | None, Query(pattern=MONTH, description="Mois du relevé (AAAA-MM)")
    ] = None,
    mediation_structure_id: IdQuery = None,
    status: StatementStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> StatementList:
    """Reimbursement statements in your scope, newest month first: a mediator's structure,
    a coordinator's EPCI or the whole programme."""
    found = await StatementService(state).list(
        user,
        StatementFilter(
            month=parse_month(month), mediation_structure_id=mediation_structure_id, status=status
        ),
        limit=limit,
        offset=offset,
    )
    return StatementList(
        items=[statement_out(r) for r in found.rows],
        page=s.Page(total=found.total, limit=limit, offset=offset),
    )


@router.get(
    "/statements/{statement_id}.csv",
    response_class=CsvResponse,
    responses={200: {"content": CSV_CONTENT, "description": "Le relevé en CSV"}, **READ_ERRORS},
)
async def statement_csv(statement_id: IdPath, state: State, user: CurrentUser) -> CsvResponse:
    """The statement as CSV for French spreadsheets (UTF-8 with BOM, `;`, dd/mm/yyyy,
    amounts 10,00), one line per cheque and a total line."""
    doc = await StatementService(state).document(user, statement_id)
    return csv_download(f"{doc.filename_stem}.csv", CSV_HEADER, csv_rows(doc))


@router.get(
    "/statements/{statement_id}.pdf",
    response_class=PdfResponse,
    responses={200: {"content": PDF_CONTENT, "description": "Le relevé en PDF"}, **READ_ERRORS},
)
async def statement_pdf(statement_id: IdPath, state: State, user: CurrentUser) -> PdfResponse:
    """The printable statement (PDF, French)."""
    service = StatementService(state)
    doc = await service.document(user, statement_id)
    return pdf_download(f"{doc.filename_stem}.pdf", await service.pdf(doc))


@router.get("/statements/{statement_id}", responses=READ_ERRORS)
async def read_statement(statement_id: IdPath, state: State, user: CurrentUser) -> StatementDetail:
    """A statement with each cheque (serial, session day, amount)."""
    doc = await StatementService(state).document(user, statement_id)
    row = StatementRow(doc.statement, doc.structure_name, 0)
    return StatementDetail(
        **statement_out(row).model_dump(),
        lines=[
            StatementLineOut(
                serial=line.serial,
                display=shown_serial(line.serial),
                session_day=line.session_day,
                amount_cents=line.amount_cents,
            )
            for line in doc.lines
        ],
    )


@router.post("/statements/{statement_id}/validate", responses=CHANGE_ERRORS)
async def validate_statement(
    statement_id: IdPath,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
    body: ValidateIn | None = None,
) -> StatementOut:
    """Validate a DRAFT statement (it becomes ISSUED, to be paid). Coordination of the
    whole programme only."""
    row = await StatementService(state).validate(
        user,
        statement_id,
        key=key,
        expected_cheque_count=body.expected_cheque_count if body else None,
        expected_total_cents=body.expected_total_cents if body else None,
    )
    return statement_out(row)


@router.post("/statements/{statement_id}/payment", responses=CHANGE_ERRORS)
async def record_statement_payment(
    statement_id: IdPath,
    body: PaymentIn,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
) -> StatementOut:
    """Record the payment of an ISSUED statement (date, reference): it becomes PAID and its
    cheques REIMBURSED. Coordination of the whole programme only."""
    row = await StatementService(state).record_payment(
        user, statement_id, key=key, paid_on=body.paid_on, reference=body.reference
    )
    return statement_out(row)
