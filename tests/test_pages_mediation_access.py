"""The access matrix of the mediators' pages: every /mediation route x every role x own
scope / other scope / anonymous, each caller signed in through the login form.

Anonymous visitors are sent to the login page; other roles get the French 403 page; a
mediator of another structure gets 404 for a journey's page and 403 for a change to it;
a form posted without its CSRF token is refused; and nothing changes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest_asyncio

from records import models
from tests.fixtures.access import ANON, EVERYONE, sign_in
from tests.fixtures.api import Stack
from tests.fixtures.database import count
from tests.test_pages_mediation import oriented_journey, session_data, state_of

MEDIATORS = {"med", "med_other"}
SPACE_PAGES = (
    "/mediation",
    "/mediation/orientations",
    "/mediation/beneficiaires",
    "/mediation/cheques",
    "/mediation/cheque",
)


@pytest_asyncio.fixture
async def clients(api_stack: Stack) -> AsyncIterator[dict[str, tuple[httpx.AsyncClient, str]]]:
    """One client per caller, signed in (but the anonymous one), with its CSRF token."""
    async with AsyncExitStack() as stack:
        out: dict[str, tuple[httpx.AsyncClient, str]] = {}
        for who in EVERYONE:
            http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=api_stack.base_url, timeout=30)
            )
            token = "" if who == ANON else await sign_in(api_stack, http, who, "/")
            out[who] = (http, token)
        yield out


def totals(stack: Stack) -> dict[str, int]:
    return {
        "journeys": count(stack.sessions, models.Journey),
        "log": count(stack.sessions, models.TransitionLog),
        "sessions": count(stack.sessions, models.TrainingSession),
        "orientations": count(stack.sessions, models.Orientation),
        "assessments": count(stack.sessions, models.Assessment),
    }


def expect_refused(r: httpx.Response, who: str, status: int) -> None:
    if who == ANON:
        assert r.status_code == 303, (who, r.status_code)
        assert r.headers["location"].startswith("/connexion?suivant="), r.headers
        return
    assert r.status_code == status, (who, r.request.url, r.status_code, r.text[:300])
    assert '<html lang="fr">' in r.text
    assert ("Accès refusé" if status == 403 else "Page introuvable") in r.text


async def test_mediation_pages_by_role_and_scope(
    api_stack: Stack, clients: dict[str, tuple[httpx.AsyncClient, str]]
) -> None:
    stack = api_stack
    jid, serials = await oriented_journey(stack, "Josette")
    base = f"/mediation/parcours/{jid}"
    before_all = (totals(stack), state_of(stack, jid))

    # ---- the space's own pages: mediators only ----
    for path in SPACE_PAGES:
        for who in EVERYONE:
            http, _ = clients[who]
            r = await http.get(path)
            if who in MEDIATORS:
                assert r.status_code == 200, (who, path, r.text[:300])
            else:
                expect_refused(r, who, 403)
    # Own scope / other scope: only J's structure lists it.
    for who in MEDIATORS:
        page = await clients[who][0].get("/mediation/orientations")
        assert ("Josette" in page.text) == (who == "med"), who

    # ---- a journey's pages: read 404 / write 403 outside scope ----
    reads = [f"{base}/refuser", f"{base}/seance", f"{base}/diagnostic-sortie"]
    for path in reads:
        for who in EVERYONE:
            r = await clients[who][0].get(path)
            if who == "med":
                assert r.status_code == 200, (path, r.text[:300])
            else:
                expect_refused(r, who, 404 if who == "med_other" else 403)

    async def writes(who: str, token: str) -> list[tuple[str, dict[str, Any]]]:
        form = {"csrf_token": token, "form_id": "3f0e4c52-8d0b-4f7e-9a51-2b1c9d7e6a10"}
        page = (await clients["med"][0].get(f"{base}/seance")).text
        session = {**session_data(stack, page, ["0000000000000000"]), "csrf_token": token}
        serial_only = {**session_data(stack, page, serials[1:3]), "csrf_token": token}
        return [
            (f"{base}/seance", serial_only),
            (f"{base}/seance/verifier", serial_only),
            (f"{base}/accepter", form),
            (f"{base}/refuser", {**form, "decline_reason": "NO_CAPACITY"}),
            (f"{base}/seance", session),
            (f"{base}/seance", {**session, "action": "ajouter", "serial": serials[0][:-1]}),
            (f"{base}/seance/verifier", session),
            (f"{base}/diagnostic-sortie", {**form, "tool": "PIX", "autonomy": "AUTONOMOUS"}),
        ]

    for who in EVERYONE:
        if who == "med":
            continue
        http, token = clients[who]
        for path, data in await writes(who, token):
            expect_refused(await http.post(path, data=data), who, 403)
    # The right mediator without the CSRF token: refused too.
    for path, data in await writes("med", ""):
        r = await clients["med"][0].post(
            path, data={k: v for k, v in data.items() if k != "csrf_token"}
        )
        assert r.status_code == 403 and "formulaire a expiré" in r.text, (path, r.text[:300])
    assert (totals(stack), state_of(stack, jid)) == before_all, (
        "a refused request changed something"
    )

    # ---- the rightful mediator accepts and logs a session; its receipt is theirs ----
    http, token = clients["med"]
    r = await http.post(
        f"{base}/accepter",
        data={"csrf_token": token, "form_id": "9b2f7f4e-1c1e-4c55-8f43-0d5a3c6f2e11"},
    )
    assert r.status_code == 303
    form_page = (await http.get(f"{base}/seance")).text
    r = await http.post(
        f"{base}/seance", data=session_data(stack, form_page, stack.lines(serials[:1]))
    )
    assert r.status_code == 303, r.text
    receipt = r.headers["location"]
    after = (totals(stack), state_of(stack, jid))
    for who in EVERYONE:
        r = await clients[who][0].get(receipt)
        if who == "med":
            assert r.status_code == 200
        else:
            expect_refused(r, who, 404 if who == "med_other" else 403)
    # Another structure's mediator still cannot act on J without one of its cheques, nor
    # with its serials alone (serials are sequential: only the printed code proves it).
    http, token = clients["med_other"]
    for path, data in await writes("med_other", token):
        expect_refused(await http.post(path, data=data), "med_other", 403)
    assert (totals(stack), state_of(stack, jid)) == after
