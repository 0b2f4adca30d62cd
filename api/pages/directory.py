"""Administrators' pages of the structures directory: add and edit a reception or mediation
structure (deactivate: untick « active »), a mediation structure's qualification history,
and the import of a file in the national *lieux de médiation numérique* schema: upload, a
dry run listing what would change, then confirm (the file travels in the confirmation form,
base64-encoded; the plan is computed again when applied). Services: `records.directory`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile

from api import access, idempotency
from api.auth import CurrentUser, User, now_utc
from api.constraints import LINE, IdPath
from api.deps import AppState, State
from api.errors import ApiError, not_found
from api.forms import Form, KeyedForm, fresh_key, read_form
from api.pages.submit import run
from api.web import render
from domain.directory import COLUMNS
from domain.needs import Theme
from records import directory
from records.models import Epci, MediationStructure, ReceptionStructure
from records.structures import StructureError

router = APIRouter(prefix="/administration", include_in_schema=False)
IMPORT_PREFIX = "/administration/structures/import"
THEME_OPTIONS = Theme.options()
KINDS = {"mediation": "structure de médiation", "reception": "structure d'accueil"}
Kind = Literal["mediation", "reception"]

Optional = Annotated[str, Field(max_length=300, pattern=LINE)] | None


class ReceptionForm(KeyedForm):
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=LINE)]
    kind: Annotated[str, Field(min_length=1, max_length=40, pattern=LINE)]
    epci_id: int = Field(ge=1, le=2**31 - 1)
    commune: Annotated[str, Field(min_length=1, max_length=120, pattern=LINE)]
    address: Optional = None
    postal_code: Annotated[str, Field(pattern=r"^\d{5}$")] | None = None
    insee_code: Annotated[str, Field(pattern=r"^(\d{5}|2[AB]\d{3})$")] | None = None
    siret: Annotated[str, Field(pattern=r"^\d{14}$")] | None = None
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = (
        None
    )
    phone: Annotated[str, Field(max_length=40, pattern=LINE)] | None = None
    opening_hours: Annotated[str, Field(max_length=500, pattern=LINE)] | None = None
    active: bool = False  # an unticked box sends nothing


class MediationForm(ReceptionForm):
    kind: str = ""  # reception structures only
    external_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$")] | None = None
    themes: list[Theme] = Field(min_length=1, max_length=len(Theme))
    capacity: int = Field(ge=0, le=10_000)
    aptic_qualified_from: date
    aptic_qualified_until: date | None = None


FIELDS: dict[str, tuple[str, ...]] = {
    "reception": directory.RECEPTION_FIELDS,
    "mediation": directory.MEDIATION_FIELDS,
}


def _form_model(kind: Kind) -> type[ReceptionForm]:
    return MediationForm if kind == "mediation" else ReceptionForm


def _values(kind: Kind, data: ReceptionForm) -> dict[str, Any]:
    values = {k: getattr(data, k) for k in FIELDS[kind]}
    if "themes" in values:
        values["themes"] = [Theme(t).value for t in values["themes"]]
    return values


def _initial(row: MediationStructure | ReceptionStructure) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for name, value in row.model_dump(exclude={"id", "programme_id"}).items():
        if isinstance(value, list):
            out[name] = [str(v) for v in value]
        elif isinstance(value, bool):
            out[name] = "on" if value else ""
        elif isinstance(value, date):
            out[name] = value.isoformat()
        else:
            out[name] = "" if value is None else str(value)
    return out


def _epci_options(session: Session, user: User) -> list[tuple[str, str]]:
    pid = directory.programme_id(session, user.programme_code)
    return [
        (str(e.id), e.name)
        for e in session.exec(
            select(Epci).where(Epci.programme_id == pid).order_by(col(Epci.name))
        ).all()
    ]


def _load(session: Session, user: User, kind: Kind, structure_id: int) -> Any:
    row: MediationStructure | ReceptionStructure | None
    if kind == "mediation":
        row = session.get(MediationStructure, structure_id)
    else:
        row = session.get(ReceptionStructure, structure_id)
    if row is None or row.programme_id != directory.programme_id(session, user.programme_code):
        raise not_found("Structure")
    return row


async def _render_form(
    request: Request,
    state: AppState,
    user: User,
    kind: Kind,
    form: Form[Any],
    *,
    structure_id: int | None,
    status: int = 200,
) -> HTMLResponse:
    def read(session: Session) -> dict[str, Any]:
        history = []
        if kind == "mediation" and structure_id is not None:
            history = directory.qualification_history(session, structure_id)
        return {"epcis": _epci_options(session, user), "history": history}

    found = await state.db.run(read)
    return render(
        request,
        "admin/structure_form.html",
        {
            **found,
            "form": form,
            "kind": kind,
            "kind_label": KINDS[kind],
            "structure_id": structure_id,
            "themes": THEME_OPTIONS,
        },
        status_code=status,
    )


def _refusal(err: StructureError) -> ApiError:
    return ApiError(
        422, "invalid_structure", err.message, [{"field": err.field, "message": err.message}]
    )


@router.get("/structures/nouvelle/{kind}")
async def new_structure(
    request: Request, state: State, user: CurrentUser, kind: Kind
) -> HTMLResponse:
    access.require_admin(user)
    form: Form[Any] = Form.blank({**fresh_key(), "active": "on"})
    return await _render_form(request, state, user, kind, form, structure_id=None)


@router.post("/structures/nouvelle/{kind}")
async def create_structure(
    request: Request, state: State, user: CurrentUser, kind: Kind
) -> Response:
    access.require_admin(user)
    form = await read_form(request, _form_model(kind))

    async def action(data: ReceptionForm) -> None:
        def write(session: Session) -> None:
            digest = hashlib.sha256(data.model_dump_json().encode()).hexdigest()
            first = idempotency.claim(
                session,
                scope=f"structure-page:{user.id}",
                key=str(data.form_id),
                fingerprint=digest,
            )
            if not first:
                return  # a double submit: created once
            try:
                directory.create_structure(
                    session,
                    user.programme_code,
                    kind,
                    _values(kind, data),
                    at=now_utc(),
                    account_id=user.id,
                    source="page",
                    idempotency_key=str(data.form_id),
                )
            except StructureError as err:
                raise _refusal(err) from None

        await state.db.run(write, write=True)

    sent = await run(form, action, done="/administration/structures?fait=ajoutee")
    if isinstance(sent, Response):
        return sent
    return await _render_form(request, state, user, kind, form, structure_id=None, status=sent)


@router.get("/structures/{kind}/{structure_id}/fiche")
async def edit_structure(
    request: Request, state: State, user: CurrentUser, kind: Kind, structure_id: IdPath
) -> HTMLResponse:
    access.require_admin(user)
    row = await state.db.run(lambda s: _load(s, user, kind, structure_id))
    form: Form[Any] = Form.blank({**fresh_key(), **_initial(row)})
    return await _render_form(request, state, user, kind, form, structure_id=structure_id)


@router.post("/structures/{kind}/{structure_id}/fiche")
async def update_structure(
    request: Request, state: State, user: CurrentUser, kind: Kind, structure_id: IdPath
) -> Response:
    """Saving the same form twice changes nothing the second time (the values are set, not
    added): no form id claim needed."""
    access.require_admin(user)
    await state.db.run(lambda s: _load(s, user, kind, structure_id))  # 404 first
    form = await read_form(request, _form_model(kind))

    async def action(data: ReceptionForm) -> None:
        def write(session: Session) -> None:
            row = _load(session, user, kind, structure_id)
            try:
                directory.update_structure(
                    session,
                    user.programme_code,
                    row,
                    _values(kind, data),
                    at=now_utc(),
                    account_id=user.id,
                    source="page",
                )
            except StructureError as err:
                raise _refusal(err) from None

        await state.db.run(write, write=True)

    sent = await run(form, action, done="/administration/structures?fait=fiche")
    if isinstance(sent, Response):
        return sent
    return await _render_form(
        request, state, user, kind, form, structure_id=structure_id, status=sent
    )


# ---- import ----


def _import_page(
    request: Request,
    *,
    plan: directory.ImportPlan | None = None,
    lines: list[str] | None = None,
    content: str = "",
    fmt: str = "csv",
    applied: bool = False,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "admin/structures_import.html",
        {
            "plan": plan,
            "lines": lines or [],
            "content": content,
            "fmt": fmt,
            "applied": applied,
            "error": error,
            "columns": COLUMNS,
        },
        status_code=status,
    )


@router.get("/structures/import")
async def import_form(request: Request, user: CurrentUser) -> HTMLResponse:
    access.require_admin(user)
    return _import_page(request)


async def _plan(
    state: AppState, user: User, content: bytes, fmt: str, *, dry_run: bool
) -> directory.ImportPlan:
    def work(session: Session) -> directory.ImportPlan:
        return directory.import_file(
            session,
            user.programme_code,
            content,
            fmt,
            dry_run=dry_run,
            at=now_utc(),
            account_id=user.id,
        )

    return await state.db.run(work, write=not dry_run)


@router.post("/structures/import")
async def import_dry_run(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
    """The uploaded file's dry run: what would change, or every wrong row."""
    access.require_admin(user)
    form = await request.form()
    upload = form.get("fichier")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _import_page(request, error="Choisissez un fichier CSV ou JSON.", status=422)
    content = await upload.read()
    fmt = "json" if upload.filename.lower().endswith(".json") else "csv"
    plan = await _plan(state, user, content, fmt, dry_run=True)
    return _import_page(
        request,
        plan=plan,
        lines=directory.report_lines(plan, dry_run=True),
        content=base64.b64encode(content).decode() if not plan.errors else "",
        fmt=fmt,
        status=422 if plan.errors else 200,
    )


@router.post("/structures/import/confirmer")
async def import_confirm(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
    """Apply the file the dry run showed (all or nothing; a second confirmation changes
    nothing: the import is idempotent)."""
    access.require_admin(user)
    form = await request.form()
    fmt = "json" if form.get("format") == "json" else "csv"
    try:
        content = base64.b64decode(str(form.get("contenu", "")), validate=True)
    except binascii.Error:
        content = b""
    if not content:
        return _import_page(
            request, error="Le fichier n'a pas été transmis : recommencez.", status=422
        )
    plan = await _plan(state, user, content, fmt, dry_run=False)
    return _import_page(
        request,
        plan=plan,
        lines=directory.report_lines(plan, dry_run=False),
        fmt=fmt,
        applied=not plan.errors,
        status=422 if plan.errors else 200,
    )
