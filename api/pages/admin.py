"""Administrators' space: structures and accounts (and their API tokens).

Placeholder landing page of the space (the web-app foundation); the space's pages go
here, their templates in api/templates/admin/.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api import access
from api.auth import CurrentUser
from api.deps import State
from api.pages import describe_scope
from api.web import render
from domain.stages import Role

router = APIRouter(prefix="/administration", include_in_schema=False)


@router.get("")
async def space(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
    access.require_role(user, Role.ADMINISTRATOR)
    return render(
        request,
        "space.html",
        {"space_title": "Administration", "scope_label": await describe_scope(state, user)},
    )
