"""Administrators' view of the embedded SMTP sink: every mail the demo sent (`passnum up`).

Reads `notifications.sink`; a message's HTML is shown in a sandboxed iframe (no scripts,
no navigation of the page), its text as text.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api import access
from api.auth import CurrentUser
from api.deps import State
from api.errors import ApiError
from api.web import render
from domain.stages import Role
from notifications.sink import count_mails, list_mails, read_mail

router = APIRouter(prefix="/administration/courriels", include_in_schema=False)
PAGE_SIZE = 50


@router.get("")
async def mailbox(request: Request, state: State, user: CurrentUser, page: int = 1) -> HTMLResponse:
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


@router.get("/{mail_id}")
async def mail(request: Request, state: State, user: CurrentUser, mail_id: int) -> HTMLResponse:
    access.require_role(user, Role.ADMINISTRATOR)
    view = await state.db.run(lambda s: read_mail(s, mail_id))
    if view is None:
        raise ApiError(404, "not_found", "Ce courriel n'existe pas dans la boîte locale.")
    return render(request, "admin/mail.html", {"mail": view})
