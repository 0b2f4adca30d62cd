"""Mail on the journey pages: the printable letter and the journey link mails carry, for
every role x own scope / other scope / anonymous; the mail block of the social worker's
and the coordinator's journey pages (letters to print, failed deliveries and why); and
anonymisation erasing the person from what was mailed, end to end on the real stack."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime

import pytest_asyncio
from sqlmodel import col, select
from temporalio.testing import ActivityEnvironment

from activities.journey_records import JourneyActivities
from domain.contracts import AnonymiseRequest
from notifications.journal import letters_for
from records import models
from tests.fixtures.access import ANON, Caller, settle, signed_in_callers, snapshot
from tests.fixtures.api import Stack

NO_EMAIL = {
    "person.first_name": "Marcel",
    "person.last_name": "Bras",
    "person.commune": "Rodez",
    "person.postal_address": "4 place d'Armes\n12000 Rodez",
    "person.preferred_channel": "POST",
    "consent": "on",
}
WITH_EMAIL = {
    **NO_EMAIL,
    "person.first_name": "Odette",
    "person.email": "odette.bras@example.org",
    "person.preferred_channel": "EMAIL",
}
SEES_NEW_JOURNEY = {"sw", "coord_epci", "coord_all"}  # a referral, before any orientation


@pytest_asyncio.fixture
async def callers(api_stack: Stack) -> AsyncIterator[dict[str, Caller]]:
    async with signed_in_callers(api_stack, "/compte/notifications") as out:
        yield out


async def refer(stack: Stack, sw: Caller, person: Mapping[str, object]) -> str:
    r = await sw.post("/accompagnement/orienter", person)
    assert r.status_code == 303, r.text
    jid = re.findall(r"/parcours/([0-9a-f-]{36})", r.headers["location"])[0]
    await settle(stack, jid)
    return jid


async def mails_settled(stack: Stack, jid: str, count: int) -> list[models.MailDelivery]:
    """Wait until the journey's deliveries (sent to the local mailbox) are all final."""
    for _ in range(500):
        with stack.sessions() as s:
            rows = list(
                s.exec(
                    select(models.MailDelivery)
                    .where(models.MailDelivery.journey_id == jid)
                    .order_by(col(models.MailDelivery.id))
                ).all()
            )
        if len(rows) >= count and all(r.status not in ("PENDING", "QUEUED") for r in rows):
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(f"deliveries of {jid} not settled")


def letter_ids(stack: Stack, jid: str) -> tuple[int, int]:
    """(the person's notice: a letter, the referrer's notice: none)."""
    with stack.sessions() as s:
        (letter,) = letters_for(s, jid)
        referrer = s.exec(
            select(models.NotificationOutbox).where(
                models.NotificationOutbox.journey_id == jid,
                models.NotificationOutbox.recipient == "REFERRER",
            )
        ).one()
        assert referrer.id is not None
        return letter.outbox_id, referrer.id


def expect(who: str, allowed: set[str]) -> int:
    if who == ANON:
        return 303  # to the login page
    return 200 if who in allowed else 404


async def check_letter_and_link(
    stack: Stack, callers: dict[str, Caller], jid: str, letter: int, allowed: set[str]
) -> None:
    before = snapshot(stack, jid)
    for who, caller in callers.items():
        r = await caller.client.get(f"/parcours/{jid}/lettres/{letter}")
        assert r.status_code == expect(who, allowed), (who, r.status_code)
        if who == ANON:
            assert r.headers["location"].startswith("/connexion?suivant=%2Fparcours")
        elif who in allowed:
            assert "@media print" in r.text and "Marcel Bras" in r.text
            assert "4 place d&#39;Armes" in r.text and r.headers["cache-control"] == "no-store"
        else:
            assert "Marcel" not in r.text and "<h1>" in r.text  # the French 404 page
        link = await caller.client.get(f"/parcours/{jid}")
        status = 303 if who in allowed or who == ANON else 404
        assert link.status_code == status, (who, link.status_code)
    assert snapshot(stack, jid) == before


async def test_letters_and_journey_links_by_role_and_scope(
    api_stack: Stack, callers: dict[str, Caller]
) -> None:
    stack = api_stack
    sw = callers["sw"]
    jid = await refer(stack, sw, NO_EMAIL)
    await mails_settled(stack, jid, 2)  # without e-mail: both go to the referrer
    letter, referrer_notice = letter_ids(stack, jid)
    await check_letter_and_link(stack, callers, jid, letter, SEES_NEW_JOURNEY)

    # Each role is sent on to its own journey page.
    where = {
        who: (await callers[who].client.get(f"/parcours/{jid}")).headers["location"]
        for who in SEES_NEW_JOURNEY
    }
    assert where == {
        "sw": f"/accompagnement/parcours/{jid}",
        "coord_epci": f"/coordination/parcours/{jid}",
        "coord_all": f"/coordination/parcours/{jid}",
    }
    # Not a letter: a professional's notice, an unknown one, one of another journey.
    other = await refer(stack, sw, {**NO_EMAIL, "person.first_name": "Paul"})
    for path in (
        f"/parcours/{jid}/lettres/{referrer_notice}",
        f"/parcours/{jid}/lettres/{letter + 10_000}",
        f"/parcours/{other}/lettres/{letter}",
        f"/parcours/{uuid.uuid4()}/lettres/{letter}",
    ):
        r = await sw.client.get(path)
        assert r.status_code == 404, (path, r.status_code)

    # Oriented to the demo mediator's structure: its mediators see the letter too.
    base = f"/accompagnement/parcours/{jid}"
    steps: dict[str, dict[str, object]] = {
        "diagnostic": {"tool": "PIX", "autonomy": "NONE", "needs": ["SMARTPHONE"]},
        "carnet": {},
        "mediation": {"mediation_structure_id": stack.people["med"].mediation_structure_id},
    }
    for step, data in steps.items():
        r = await sw.post(f"{base}/{step}", data)
        assert r.status_code == 303, (step, r.text)
    await settle(stack, jid)
    await check_letter_and_link(stack, callers, jid, letter, SEES_NEW_JOURNEY | {"med"})
    r = await callers["med"].client.get(f"/parcours/{jid}")
    assert r.headers["location"] == "/mediation/orientations"


async def test_journey_pages_show_letters_and_failed_mail(
    api_stack: Stack, callers: dict[str, Caller]
) -> None:
    stack = api_stack
    jid = await refer(stack, callers["sw"], NO_EMAIL)
    await mails_settled(stack, jid, 2)
    letter, _ = letter_ids(stack, jid)
    pages = {"sw": f"/accompagnement/parcours/{jid}", "coord_epci": f"/coordination/parcours/{jid}"}
    for who, path in pages.items():
        page = (await callers[who].client.get(path)).text
        assert "Lettres à imprimer" in page and f'href="/parcours/{jid}/lettres/{letter}"' in page
        assert "n'a pas d'adresse e-mail" in page
        assert "Envois en échec" not in page and "Tous les envois (2)" in page
        assert "à transmettre à la personne" in page

    # A refusal recorded by the SMTP server shows with its reason.
    with stack.sessions() as s:
        s.add(
            models.MailDelivery(
                idempotency_key=f"{jid}:1:NUDGE:REFERRER",
                address="ancienne.adresse@ccas.example",
                journey_id=jid,
                outbox_id=letter,
                kind="NUDGE",
                audience="REFERRER",
                category="NUDGE",
                status="FAILED",
                message_id="<failed@passnum.test>",
                last_error="550 5.1.1 Boîte aux lettres inconnue",
                created_at=datetime.now(UTC),
            )
        )
        s.commit()
    for who, path in pages.items():
        page = (await callers[who].client.get(path)).text
        assert "Envois en échec" in page
        assert "Relance de la coordination" in page and "ancienne.adresse@ccas.example" in page
        assert "550 5.1.1 Boîte aux lettres inconnue" in page


async def test_anonymisation_erases_what_was_mailed(
    api_stack: Stack, callers: dict[str, Caller]
) -> None:
    stack = api_stack
    jid = await refer(stack, callers["sw"], WITH_EMAIL)
    rows = await mails_settled(stack, jid, 2)
    assert {r.address for r in rows} == {"odette.bras@example.org", stack.people["sw"].email}
    admin = callers["admin"].client
    listing = (await admin.get("/administration/courriels")).text
    assert "Odette Bras" in listing  # the referrer's subject names the person
    letter, _ = letter_ids(stack, jid)

    activities = JourneyActivities(stack.sessions)
    request = AnonymiseRequest(jid, datetime.now(UTC))
    await asyncio.to_thread(ActivityEnvironment().run, activities.anonymise_beneficiary, request)

    listing = (await admin.get("/administration/courriels")).text
    assert "Odette" not in listing and "odette.bras@example.org" not in listing
    assert "Courriel effacé (parcours anonymisé)" in listing
    with stack.sessions() as s:
        mails = s.exec(select(models.MailboxMessage)).all()
        assert len(mails) == 2
        for m in mails:
            one = (await admin.get(f"/administration/courriels/{m.id}")).text
            assert "Odette" not in one and "odette.bras" not in one
    page = (await callers["sw"].client.get(f"/accompagnement/parcours/{jid}")).text
    assert "Parcours anonymisé" in page and "odette.bras@example.org" not in page
    assert "adresse effacée" in page and "Lettres à imprimer" not in page
    gone = await callers["sw"].client.get(f"/parcours/{jid}/lettres/{letter}")
    assert gone.status_code == 404 and "anonymisé" in gone.text
