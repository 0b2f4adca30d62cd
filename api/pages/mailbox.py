"""Administrators' view of the embedded SMTP sink: every mail the demo sent (`passnum up`).

Reads `notifications.sink`; a message's HTML is shown in a sandboxed iframe (no scripts,
no navigation of the page) whose document comes from `/administration/courriels/{id}/html`
with its own Content-Security-Policy (api.security_headers.MAIL_POLICY: the mail's inline
styles, nothing else, framed by passnum only); its text as text.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from api import access
from api.auth import CurrentUser
from api.constraints import MAX_PAGE, IdPath
from api.deps import State
from api.errors import ApiError
from api.mail_service import MailView, count_mails, list_mails, read_mail
from api.security_headers import MAIL_POLICY
from api.web import render
from domain import clock
from domain.rights import AuditAction
from domain.stages import Role
from records import audit

router = APIRouter(prefix="/administration/courriels", include_in_schema=False)
PAGE_SIZE = 50


@router.get("")
async def mailbox(
    request: Request,
    state: State,
    user: CurrentUser,
    page: Annotated[int, Query(le=MAX_PAGE)] = 1,
) -> HTMLResponse:
    access.require_role(user, Role.ADMINISTRATOR)
    page = max(page, 1)
    mails, total = await state.db.run(
        lambda s: (list_mails(s, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE), count_mails(s))
    )
    return render(
        request,
        "admin/mailbox.html",
        {
            "mails": mails,
            "total": total,
            "page": page,
            "has_next": page * PAGE_SIZE < total,
            "sink_enabled": state.settings.smtp_sink,
        },
    )


async def _read(state: State, user: CurrentUser, mail_id: int, *, logged: bool) -> MailView:
    """The mail; `logged`: its reading goes to the audit log (mails name people)."""
    access.require_role(user, Role.ADMINISTRATOR)
    now = clock.now()

    def read(session: Session) -> MailView | None:
        view = read_mail(session, mail_id)
        if view is not None and logged:
            audit.record(
                session,
                at=now,
                programme_code=user.programme_code,
                account_id=user.id,
                action=AuditAction.MAIL_READ,
                target=f"mail:{mail_id}",
            )
        return view

    view = await state.db.run(read, write=logged)
    if view is None:
        raise ApiError(404, "not_found", "Ce courriel n'existe pas dans la boîte locale.")
    return view


@router.get("/{mail_id}")
async def mail(request: Request, state: State, user: CurrentUser, mail_id: IdPath) -> HTMLResponse:
    return render(
        request, "admin/mail.html", {"mail": await _read(state, user, mail_id, logged=True)}
    )


@router.get("/{mail_id}/html")
async def mail_html(state: State, user: CurrentUser, mail_id: IdPath) -> HTMLResponse:
    """The mail's HTML part as its own document, for the mail page's sandboxed frame."""
    view = await _read(state, user, mail_id, logged=False)  # the page above logged it
    if view.html is None:
        raise ApiError(404, "not_found", "Ce courriel n'a pas de version mise en forme.")
    return HTMLResponse(
        view.html,
        headers={
            "Content-Security-Policy": MAIL_POLICY,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",  # personal data
        },
    )
