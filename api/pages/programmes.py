"""Administrators' page of the programmes: the list (period, serial prefix, target, budget)
and the creation of one from a programme file (docs/programme-file.md): upload, a dry run
listing what would be created or every error by line, then confirm (the file travels in
the confirmation form, base64-encoded, and is checked again when applied, as the
structures import does). Services: `records.programmes`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field
from sqlmodel import Session
from starlette.datastructures import UploadFile

from api import access, idempotency
from api.auth import CurrentUser, User, now_utc
from api.deps import AppState, State
from api.forms import Form, KeyedForm, fresh_key, read_form
from api.pages.admin import Done
from api.pages.submit import run
from api.routes.programmes import MAX_BODY_BYTES, code_taken, refused
from api.web import render
from records import programmes
from records.programme_file import CODE_LOC, FileError, ProgrammeFileError, locate, parse

router = APIRouter(prefix="/administration", include_in_schema=False)
PREFIX = "/administration/programmes"
MAX_FORM_BYTES = MAX_BODY_BYTES * 2  # the file, base64-encoded in the confirmation form
DONE_MESSAGES = {"cree": "Le programme est créé."}


class ConfirmForm(KeyedForm):
    contenu: Annotated[str, Field(min_length=4, max_length=MAX_FORM_BYTES)]


async def _page(
    request: Request,
    state: AppState,
    user: User,
    *,
    lines: list[str] | None = None,
    errors: list[FileError] | None = None,
    confirm: Form[ConfirmForm] | None = None,
    error: str | None = None,
    done: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    codes = user.programme_codes
    found = await state.db.run(lambda db: programmes.list_programmes(db, codes))
    return render(
        request,
        "admin/programmes.html",
        {
            "programmes": found,
            "lines": lines or [],
            "errors": errors or [],
            "confirm": confirm,
            "error": error,
            "done": done,
        },
        status_code=status,
    )


@router.get("/programmes")
async def programmes_page(
    request: Request, state: State, user: CurrentUser, fait: Done = None
) -> HTMLResponse:
    access.require_admin(user)
    return await _page(request, state, user, done=DONE_MESSAGES.get(fait or ""))


@router.post("/programmes")
async def dry_run(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
    """The uploaded file's dry run: what would be created, or every error by line."""
    access.require_admin(user)
    form = await request.form()
    upload = form.get("fichier")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _page(request, state, user, error="Choisissez un fichier JSON.", status=422)
    content = await upload.read()
    try:
        spec = parse(content)
    except ProgrammeFileError as err:
        return await _page(request, state, user, errors=err.errors, status=422)

    def check(session: Session) -> None:
        programmes.check_code_free(session, spec)

    try:
        await state.db.run(check)
    except programmes.ProgrammeCodeTaken as err:
        taken = locate(content, CODE_LOC, err.message)
        return await _page(request, state, user, errors=[taken], status=409)
    confirm: Form[ConfirmForm] = Form.blank(
        {**fresh_key(), "contenu": base64.b64encode(content).decode()}
    )
    return await _page(request, state, user, lines=programmes.plan_lines(spec), confirm=confirm)


@router.post("/programmes/confirmer")
async def confirm(request: Request, state: State, user: CurrentUser) -> Response:
    """Create the programme the dry run showed, all or nothing; a double submit creates it
    once (the form's id is claimed)."""
    access.require_admin(user)
    form = await read_form(request, ConfirmForm)

    async def action(data: ConfirmForm) -> None:
        try:
            content = base64.b64decode(data.contenu, validate=True)
            spec = parse(content)
        except binascii.Error:
            content, spec = b"", None
        except ProgrammeFileError as err:
            raise refused(err) from None
        if spec is None:
            raise refused(ProgrammeFileError([FileError(1, "", "fichier non transmis")]))

        def write(session: Session) -> None:
            digest = hashlib.sha256(content).hexdigest()
            first = idempotency.claim(
                session,
                scope=f"programme-page:{user.id}",
                key=str(data.form_id),
                fingerprint=digest,
            )
            if not first:
                return  # a double submit: created once
            try:
                programmes.create_programme(
                    session,
                    spec,
                    at=now_utc(),
                    account_id=user.id,
                    audit_programme_code=user.programme_code,
                )
            except programmes.ProgrammeCodeTaken as err:
                raise code_taken(err, content) from None

        await state.db.run(write, write=True)

    sent = await run(form, action, done=f"{PREFIX}?fait=cree")
    if isinstance(sent, Response):
        return sent
    return await _page(
        request, state, user, error=" ".join(m for _, m in form.summary), status=sent
    )
