"""Reimbursement statements' pages: the coordinators' (`/coordination/releves`: list with
filters, a statement, "Valider", "Enregistrer le paiement", "Mettre à jour le brouillon")
and the mediators' (`/mediation/releves`: their structure's statements, read only), each
with the statement's CSV and PDF.

Access is api/access.py's (through api/statement_service.py): a mediator reads their
structure's statements, a coordinator those in scope; only the coordination of the whole
programme changes them. Each change's form carries a UUID (`form_id`), the change's
idempotency key: a double submit changes nothing; a success redirects (303).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field

from api import access
from api.auth import CurrentUser, User
from api.constraints import LINE, MAX_ID, MAX_PAGE, IdPath, parse_id
from api.deps import AppState, State
from api.errors import ApiError
from api.exports import csv_download, pdf_download
from api.forms import Form, KeyedForm, fresh_key, read_form
from api.pages import submit
from api.statement_documents import CSV_HEADER, csv_rows, shown_serial
from api.statement_service import StatementService
from api.web import render
from domain.months import month_label
from domain.stages import Role
from domain.statements import StatementStatus
from domain.validity import paris_today
from records.statements import StatementFilter

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25

DONE_MESSAGES = {
    "valide": "Le relevé est validé : il peut être payé à la structure.",
    "paiement": "Le paiement est enregistré : les chèques du relevé sont remboursés.",
    "actualise": "Le brouillon est à jour : il comprend les chèques enregistrés depuis.",
    "inchange": "Le brouillon était déjà à jour : aucun chèque arrivé depuis.",
}
FIELD_LABELS = {
    "paid_on": "Date du paiement",
    "payment_reference": "Référence du paiement",
    "cheque_count": "Nombre de chèques",
    "total_cents": "Montant",
}


class ValidateForm(KeyedForm):
    """What the coordinator saw: refused if the draft changed since (late entries)."""

    cheque_count: int = Field(ge=0, le=MAX_ID)
    total_cents: int = Field(ge=0, le=MAX_ID)


class PaymentForm(KeyedForm):
    paid_on: date
    payment_reference: str = Field(min_length=1, max_length=100, pattern=LINE)


def _space(user: User, role: Role) -> str:
    access.require_role(user, role)
    return "/coordination" if role == Role.COORDINATOR else "/mediation"


def _month(text: str | None) -> date | None:
    if not text or len(text) != 7 or text[4] != "-" or not text.replace("-", "").isdigit():
        return None
    year, month = int(text[:4]), int(text[5:])
    return date(year, month, 1) if 2000 <= year <= 2100 and 1 <= month <= 12 else None


# ---- the list ----


async def _list(
    request: Request,
    state: AppState,
    user: User,
    role: Role,
    mois: str | None,
    structure: str | None,
    etat: str | None,
    page: str | None,
) -> HTMLResponse:
    space = _space(user, role)
    status = etat if etat in StatementStatus.table() else None
    filters = StatementFilter(
        month=_month(mois),
        mediation_structure_id=parse_id(structure) if role == Role.COORDINATOR else None,
        status=StatementStatus(status) if status else None,
    )
    number = min(max(parse_id(page) or 1, 1), MAX_PAGE)
    found = await StatementService(state).list(
        user, filters, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )
    chosen = {
        "mois": f"{filters.month:%Y-%m}" if filters.month else "",
        "structure": str(filters.mediation_structure_id or ""),
        "etat": status or "",
    }

    def link(to_page: int) -> str:
        return "?" + urlencode({k: v for k, v in {**chosen, "page": str(to_page)}.items() if v})

    return render(
        request,
        f"{space.strip('/')}/statements.html",
        {
            "rows": found.rows,
            "total": found.total,
            "form": Form.blank(chosen),
            "months": [(f"{m:%Y-%m}", month_label(m)) for m in found.months],
            "structures": sorted(found.structures.items(), key=lambda item: item[1]),
            "statuses": StatementStatus.options(),
            "status_labels": StatementStatus.table(),
            "month_label": month_label,
            "page": number,
            "pages": max(1, -(-found.total // PAGE_SIZE)),
            "previous_link": link(number - 1) if number > 1 else None,
            "next_link": link(number + 1) if number * PAGE_SIZE < found.total else None,
            "space": space,
            "nav": "statements",
        },
    )


@router.get("/coordination/releves")
async def coordination_list(
    request: Request,
    state: State,
    user: CurrentUser,
    mois: Annotated[str | None, Query(max_length=7)] = None,
    structure: Annotated[str | None, Query(max_length=12)] = None,
    etat: Annotated[str | None, Query(max_length=8)] = None,
    page: Annotated[str | None, Query(max_length=6)] = None,
) -> HTMLResponse:
    return await _list(request, state, user, Role.COORDINATOR, mois, structure, etat, page)


@router.get("/mediation/releves")
async def mediation_list(
    request: Request,
    state: State,
    user: CurrentUser,
    mois: Annotated[str | None, Query(max_length=7)] = None,
    etat: Annotated[str | None, Query(max_length=8)] = None,
    page: Annotated[str | None, Query(max_length=6)] = None,
) -> HTMLResponse:
    return await _list(request, state, user, Role.MEDIATOR, mois, None, etat, page)


# ---- documents (before the statement's page: `{id}.csv` would match `{id}`) ----


async def _csv(state: AppState, user: User, role: Role, statement_id: int) -> Response:
    _space(user, role)
    doc = await StatementService(state).document(user, statement_id)
    return csv_download(f"{doc.filename_stem}.csv", CSV_HEADER, csv_rows(doc))


async def _pdf(state: AppState, user: User, role: Role, statement_id: int) -> Response:
    _space(user, role)
    service = StatementService(state)
    doc = await service.document(user, statement_id)
    return pdf_download(f"{doc.filename_stem}.pdf", await service.pdf(doc))


@router.get("/coordination/releves/{statement_id}.csv")
async def coordination_csv(statement_id: IdPath, state: State, user: CurrentUser) -> Response:
    return await _csv(state, user, Role.COORDINATOR, statement_id)


@router.get("/coordination/releves/{statement_id}.pdf")
async def coordination_pdf(statement_id: IdPath, state: State, user: CurrentUser) -> Response:
    return await _pdf(state, user, Role.COORDINATOR, statement_id)


@router.get("/mediation/releves/{statement_id}.csv")
async def mediation_csv(statement_id: IdPath, state: State, user: CurrentUser) -> Response:
    return await _csv(state, user, Role.MEDIATOR, statement_id)


@router.get("/mediation/releves/{statement_id}.pdf")
async def mediation_pdf(statement_id: IdPath, state: State, user: CurrentUser) -> Response:
    return await _pdf(state, user, Role.MEDIATOR, statement_id)


# ---- a statement ----


async def _page(
    request: Request,
    state: AppState,
    user: User,
    role: Role,
    statement_id: int,
    *,
    done: str | None = None,
    validate_form: Form[Any] | None = None,
    payment_form: Form[Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    space = _space(user, role)
    doc = await StatementService(state).document(user, statement_id)
    st = doc.statement
    if validate_form is None:
        validate_form = Form.blank(
            {
                **fresh_key(),
                "cheque_count": str(st.cheque_count),
                "total_cents": str(st.total_cents),
            }
        )
    if payment_form is None:
        payment_form = Form.blank({**fresh_key(), "paid_on": f"{paris_today():%d/%m/%Y}"})
    return render(
        request,
        f"{space.strip('/')}/statement.html",
        {
            "doc": doc,
            "st": st,
            "lines": [
                {
                    "n": n,
                    "serial": shown_serial(line.serial),
                    "day": line.session_day,
                    "amount": line.amount_cents,
                    "late": line.session_day < st.month,
                }
                for n, line in enumerate(doc.lines, start=1)
            ],
            "manage": access.may_manage_statements(user),
            "validate_form": validate_form,
            "payment_form": payment_form,
            "field_labels": FIELD_LABELS,
            "done": done,
            "error": error,
            "space": space,
            "nav": "statements",
        },
        status_code=status_code,
    )


@router.get("/coordination/releves/{statement_id}")
async def coordination_statement(
    request: Request,
    state: State,
    user: CurrentUser,
    statement_id: IdPath,
    fait: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    return await _page(
        request, state, user, Role.COORDINATOR, statement_id, done=DONE_MESSAGES.get(fait or "")
    )


@router.get("/mediation/releves/{statement_id}")
async def mediation_statement(
    request: Request, state: State, user: CurrentUser, statement_id: IdPath
) -> HTMLResponse:
    return await _page(request, state, user, Role.MEDIATOR, statement_id)


def _done(statement_id: int, what: str) -> str:
    return f"/coordination/releves/{statement_id}?fait={what}"


async def _may_change(state: AppState, user: User, statement_id: int) -> None:
    """403/404 before the form is read (bad input from outside the scope is refused too)."""
    _space(user, Role.COORDINATOR)
    await StatementService(state).row_for_change(user, statement_id)


@router.post("/coordination/releves/{statement_id}/valider")
async def validate(
    request: Request, state: State, user: CurrentUser, statement_id: IdPath
) -> Response:
    await _may_change(state, user, statement_id)
    form = await read_form(request, ValidateForm)

    async def validate_it(data: ValidateForm) -> None:
        await StatementService(state).validate(
            user,
            statement_id,
            key=str(data.form_id),
            expected_cheque_count=data.cheque_count,
            expected_total_cents=data.total_cents,
        )

    sent = await submit.run(form, validate_it, done=_done(statement_id, "valide"))
    if isinstance(sent, RedirectResponse):
        return sent
    return await _page(
        request, state, user, Role.COORDINATOR, statement_id, validate_form=form, status_code=sent
    )


@router.post("/coordination/releves/{statement_id}/paiement")
async def record_payment(
    request: Request, state: State, user: CurrentUser, statement_id: IdPath
) -> Response:
    await _may_change(state, user, statement_id)
    form = await read_form(request, PaymentForm)

    async def pay(data: PaymentForm) -> None:
        await StatementService(state).record_payment(
            user,
            statement_id,
            key=str(data.form_id),
            paid_on=data.paid_on,
            reference=data.payment_reference,
        )

    sent = await submit.run(form, pay, done=_done(statement_id, "paiement"))
    if isinstance(sent, RedirectResponse):
        return sent
    return await _page(
        request, state, user, Role.COORDINATOR, statement_id, payment_form=form, status_code=sent
    )


@router.post("/coordination/releves/{statement_id}/actualiser")
async def refresh(
    request: Request, state: State, user: CurrentUser, statement_id: IdPath
) -> Response:
    """Build the draft again (late entries): naturally idempotent, no form key needed."""
    _space(user, Role.COORDINATOR)
    try:
        built = await StatementService(state).refresh(user, statement_id)
    except ApiError as err:
        if err.status != 409:
            raise
        return await _page(
            request, state, user, Role.COORDINATOR, statement_id, error=err.message, status_code=409
        )
    return submit.see(_done(statement_id, "actualise" if built.cheques else "inchange"))
