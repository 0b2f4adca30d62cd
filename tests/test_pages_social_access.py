"""The access matrix of the social worker's pages: every route x every role x own scope /
other scope / anonymous, with real accounts signed in through the login form.

Anonymous visitors are sent to the login page; other roles get the 403 page (the space is
reserved to social workers); a social worker of another structure gets 404 for a journey
page and 403 for a change to it; and nothing changes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Mapping

import pytest_asyncio

from tests.fixtures.access import ANON, Caller, settle, signed_in_callers, snapshot
from tests.fixtures.api import Stack

FORM_ID = re.compile(r'name="form_id" value="([^"]+)"')
PERSON: dict[str, object] = {
    "person.first_name": "Marcel",
    "person.last_name": "Bras",
    "person.commune": "Rodez",
    "person.preferred_channel": "POST",
    "consent": "on",
}
STEPS: dict[
    str, dict[str, object]
] = {  # journey page -> what the rightful social worker posts there
    "diagnostic": {"tool": "PIX", "autonomy": "NONE", "needs": ["SMARTPHONE"]},
    "carnet": {},
    "mediation": {},  # the structure is added once known
}


@pytest_asyncio.fixture
async def callers(api_stack: Stack) -> AsyncIterator[dict[str, Caller]]:
    # Every signed-in page carries the session's token (the 403 page too).
    async with signed_in_callers(api_stack, "/accompagnement") as out:
        yield out


def expected_status(who: str, *, allowed: set[str], journey: bool, write: bool) -> int:
    if who == ANON:
        return 303  # to the login page
    if who in allowed:
        return 200
    if who.startswith("sw"):
        return (403 if write else 404) if journey else 200
    return 403  # the space is reserved to social workers


async def check_reads(stack: Stack, callers: dict[str, Caller], jid: str | None) -> None:
    if jid is not None:
        await settle(stack, jid)
    before = snapshot(stack, jid)
    paths = ["/accompagnement", "/accompagnement/orienter"]
    if jid is not None:
        base = f"/accompagnement/parcours/{jid}"
        paths += [base, *(f"{base}/{step}" for step in (*STEPS, "bordereau"))]
    for path in paths:
        journey = "/parcours/" in path
        for who, caller in callers.items():
            r = await caller.client.get(path)
            expected = expected_status(who, allowed={"sw"}, journey=journey, write=False)
            assert r.status_code == expected, (who, path, r.status_code)
            if expected == 303:
                assert r.headers["location"].startswith("/connexion?suivant=%2Faccompagnement")
            elif expected != 200:
                assert "<h1>" in r.text and r.headers["content-type"].startswith("text/html")
    # The list shows a journey to its structure's social workers only.
    if jid is not None:
        own = await callers["sw"].client.get("/accompagnement")
        other = await callers["sw_other"].client.get("/accompagnement")
        assert jid in own.text and jid not in other.text and "Marcel Bras" not in other.text
    assert snapshot(stack, jid) == before


async def check_writes(
    stack: Stack,
    callers: dict[str, Caller],
    path: str,
    data: Mapping[str, object],
    jid: str | None,
) -> None:
    """Everyone but the rightful social worker posts `data` to `path`: refused, no change."""
    if jid is not None:
        await settle(stack, jid)
    before = snapshot(stack, jid)
    for who, caller in callers.items():
        if who == "sw" or (jid is None and who == "sw_other"):
            continue  # the rightful caller (a referral is everyone's own structure)
        r = await caller.post(path, data)
        expected = expected_status(who, allowed=set(), journey=jid is not None, write=True)
        assert r.status_code == expected, (who, path, r.status_code)
        if expected == 303:
            assert r.headers["location"].startswith("/connexion")
    assert snapshot(stack, jid) == before, f"POST {path} changed something"


async def test_social_pages_by_role_and_scope(api_stack: Stack, callers: dict[str, Caller]) -> None:
    stack = api_stack
    sw = callers["sw"]
    await check_reads(stack, callers, None)

    await check_writes(stack, callers, "/accompagnement/orienter", PERSON, None)
    r = await sw.post("/accompagnement/orienter", PERSON)
    assert r.status_code == 303, r.text
    jid = re.findall(r"/parcours/([0-9a-f-]{36})", r.headers["location"])[0]
    base = f"/accompagnement/parcours/{jid}"
    await check_reads(stack, callers, jid)

    STEPS["mediation"] = {"mediation_structure_id": stack.people["med"].mediation_structure_id}
    for step, data in STEPS.items():
        await check_writes(stack, callers, f"{base}/{step}", data, jid)
        r = await sw.post(f"{base}/{step}", data)
        assert r.status_code == 303, (step, r.text)
    await check_reads(stack, callers, jid)

    # A journey that does not exist: 404 for reads and changes alike.
    missing = f"/accompagnement/parcours/{uuid.uuid4()}"
    before = snapshot(stack, jid)
    assert (await sw.client.get(missing)).status_code == 404
    for step, data in STEPS.items():
        assert (await sw.post(f"{missing}/{step}", data)).status_code == 404, step
    assert snapshot(stack, jid) == before
