"""The social worker's pages over real HTTP with real accounts: refer, assess, hand over the
booklet, orient, the journey page; and forms that refuse bad input in French next to the
field, keep what was typed and change nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest_asyncio
from sqlmodel import col, func, select

from api.pages.social import CONSENT_TEXT
from records import models
from tests.fixtures.api import Stack, csrf_from, signed_in_client

SERIAL_DISPLAY = re.compile(r"\b\d{3}-\d{4}-\d{6}-\d{2}-\d\b")
FORM_ID = re.compile(r'name="form_id" value="([^"]+)"')
WHEN = re.compile(r"\d{2}/\d{2}/\d{4} à \d{2}:\d{2}")


async def signed_in(stack: Stack, who: str) -> httpx.AsyncClient:
    return await signed_in_client(stack, stack.people[who].email)


@pytest_asyncio.fixture
async def sw(api_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    client = await signed_in(api_stack, "sw")
    yield client
    await client.aclose()


def hidden(html: str) -> dict[str, str]:
    """The CSRF token and form UUID of a rendered form."""
    found = FORM_ID.search(html)
    assert found, "no form_id in the page"
    return {"csrf_token": csrf_from(html), "form_id": found[1]}


async def fill(client: httpx.AsyncClient, path: str, data: dict[str, Any]) -> httpx.Response:
    """GET the form at `path`, then POST `data` with its hidden fields."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return await client.post(path, data={**hidden(page.text), **data})


def person(**overrides: str) -> dict[str, str]:
    return {
        "person.first_name": "Josette",
        "person.last_name": "Vidal",
        "person.birth_year": "1948",
        "person.phone": "05 65 00 00 00",
        "person.commune": "Rodez",
        "person.postal_address": "3 rue du Touat",
        "person.preferred_channel": "PHONE",
        "consent": "on",
        **overrides,
    }


def counts(stack: Stack) -> dict[str, int]:
    def n(model: Any) -> int:
        with stack.sessions() as s:
            return int(s.exec(select(func.count()).select_from(model)).one())

    return {
        "beneficiaries": n(models.Beneficiary),
        "journeys": n(models.Journey),
        "log": n(models.TransitionLog),
        "orientations": n(models.Orientation),
        "cheques": n(models.Cheque),
    }


def field_error(html: str, field: str) -> str:
    """The French message shown next to `field` (the macros' error paragraph)."""
    fid = "f-" + field.replace(".", "-")
    found = re.search(rf'id="{re.escape(fid)}-error"><span[^>]*>Erreur : </span>([^<]+)<', html)
    assert found, f"no error next to {field}"
    return found[1].replace("&#39;", "'")


def journey_id_of(response: httpx.Response) -> str:
    found = re.search(r"/parcours/([0-9a-f-]{36})", response.headers["location"])
    assert found, response.headers.get("location")
    return found[1]


async def refer(stack: Stack, client: httpx.AsyncClient, **overrides: str) -> str:
    # The tests' people share a phone number: each is confirmed as a new referral.
    confirmed = {**person(**overrides), "confirm_possible_duplicate": "on"}
    r = await fill(client, "/accompagnement/orienter", confirmed)
    assert r.status_code == 303, r.text
    return journey_id_of(r)


async def to_booklet_issued(client: httpx.AsyncClient, jid: str) -> httpx.Response:
    base = f"/accompagnement/parcours/{jid}"
    r = await fill(
        client,
        f"{base}/diagnostic",
        {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL", "HEALTH"]},
    )
    assert r.status_code == 303 and r.headers["location"] == f"{base}/carnet", r.text
    r = await fill(client, f"{base}/carnet", {})
    assert r.status_code == 303 and r.headers["location"] == f"{base}/bordereau", r.text
    return r


async def test_refer_assess_hand_over_and_orient(api_stack: Stack, sw: httpx.AsyncClient) -> None:
    stack = api_stack
    stack.freeze(stack.now)  # the booklet takes the millésime of the pages' day
    sw_person = stack.people["sw"]
    page = await sw.get("/accompagnement/orienter")
    assert page.status_code == 200
    assert CONSENT_TEXT.replace("'", "&#39;") in page.text  # the wording shown

    # Refer, and the same form sent twice (double click): one journey.
    data = {**hidden(page.text), **person()}
    first = await sw.post("/accompagnement/orienter", data=data)
    assert first.status_code == 303, first.text
    again = await sw.post("/accompagnement/orienter", data=data)
    assert again.status_code == 303 and again.headers["location"] == first.headers["location"]
    jid = journey_id_of(first)
    assert first.headers["location"] == f"/accompagnement/parcours/{jid}/diagnostic"
    assert counts(stack)["journeys"] == 1 and counts(stack)["beneficiaries"] == 1
    with stack.sessions() as s:
        b = s.exec(select(models.Beneficiary)).one()
        assert (b.first_name, b.last_name, b.birth_year, b.preferred_channel) == (
            "Josette",
            "Vidal",
            1948,
            "PHONE",
        )
        assert b.consent_text == CONSENT_TEXT  # the wording is recorded with the referral
        assert b.consent_recorded_by == str(sw_person.id)

    # Assess, hand over the booklet: the printable slip.
    await to_booklet_issued(sw, jid)
    slip = await sw.get(f"/accompagnement/parcours/{jid}/bordereau")
    assert slip.status_code == 200
    serials = SERIAL_DISPLAY.findall(slip.text)
    assert len(serials) == 10 and len(set(serials)) == 10
    year = stack.today.year
    assert f"du 01/01/{year} au 31/01/{year + 1} inclus" in slip.text
    assert "Josette Vidal" in slip.text and "10,00\u00a0€" in slip.text
    assert 'media="print" href="http://' in slip.text and "/static/slip-print.css" in slip.text

    # Suggestions: the journey's EPCI first, with why; only structures qualified today.
    base = f"/accompagnement/parcours/{jid}"
    choose = await sw.get(f"{base}/mediation")
    assert choose.status_code == 200
    with stack.sessions() as s:
        own = s.get(models.MediationStructure, stack.people["med"].mediation_structure_id)
        ended = s.exec(
            select(models.MediationStructure).where(
                col(models.MediationStructure.aptic_qualified_until).is_not(None)
            )
        ).first()
    assert own is not None and ended is not None
    first_offer = re.search(r'name="mediation_structure_id" value="(\d+)"', choose.text)
    assert first_offer and int(first_offer[1]) == own.id
    assert "Située dans Rodez Agglomération" in choose.text
    assert re.search(r"Couvre 2 besoins sur 2", choose.text)
    assert f"{own.capacity} places libres sur {own.capacity}" in choose.text
    assert ended.name.replace("'", "&#39;") not in choose.text

    r = await fill(sw, f"{base}/mediation", {"mediation_structure_id": str(own.id)})
    assert r.status_code == 303 and r.headers["location"] == base, r.text

    # The journey page: stage, timeline (who by name, when, why), cheques.
    journey = await sw.get(base)
    assert journey.status_code == 200
    html = journey.text
    assert "Orientation en attente" in html
    timeline = html[html.index('class="timeline"') : html.index("</ol>", html.index("timeline"))]
    assert timeline.count("<li>") == 4  # referred, assessed, booklet, oriented
    assert timeline.count(f"Par {sw_person.email}") == 0
    with stack.sessions() as s:
        name = s.get(models.Account, sw_person.id).full_name  # type: ignore[union-attr]
    assert timeline.count(f"Par {name} (Travailleur social)") == 4
    assert len(WHEN.findall(timeline)) == 4
    assert f"Structure : {own.name}".replace("'", "&#39;") in timeline
    assert len(SERIAL_DISPLAY.findall(html)) == 10

    # My referrals: the person, at their stage.
    home = await sw.get("/accompagnement")
    assert "Josette Vidal" in home.text and "Orientation en attente (1)" in home.text


async def test_referral_form_refusals_keep_input_and_change_nothing(
    api_stack: Stack, sw: httpx.AsyncClient
) -> None:
    stack = api_stack
    before = counts(stack)
    stack.freeze(stack.now)
    next_year = str(stack.today.year + 1)  # the form's "this year" + 1
    cases = [
        ({"consent": ""}, "consent", "Le consentement de la personne est obligatoire"),
        ({"person.first_name": "J" * 101}, "person.first_name", "Ce texte est trop long."),
        (
            {"person.birth_year": next_year},
            "person.birth_year",
            "L'année de naissance ne peut pas être dans le futur.",
        ),
        ({"person.last_name": ""}, "person.last_name", "Ce champ est obligatoire."),
        (
            {"person.preferred_channel": "EMAIL"},
            "person.preferred_channel",
            "Le canal préféré est l'e-mail",
        ),
        ({"person.postal_address": "x" * 301}, "person.postal_address", "Ce texte est trop long."),
    ]
    for overrides, field, message in cases:
        data = person(**overrides)
        if overrides.get("consent") == "":
            del data["consent"]
        r = await fill(sw, "/accompagnement/orienter", data)
        assert r.status_code == 422, (field, r.status_code)
        assert field_error(r.text, field).startswith(message), field
        kept = data["person.last_name"]
        assert f'value="{kept}"' in r.text or not kept  # what was typed is kept
        if field == "person.birth_year":
            assert f'value="{next_year}"' in r.text
        assert 'value="PHONE" checked' in r.text or field == "person.preferred_channel"
        assert CONSENT_TEXT.replace("'", "&#39;") in r.text
    assert counts(stack) == before

    # Without its CSRF token the form is refused.
    page = await sw.get("/accompagnement/orienter")
    r = await sw.post(
        "/accompagnement/orienter", data={**person(), "form_id": hidden(page.text)["form_id"]}
    )
    assert r.status_code == 403 and "expiré" in r.text
    assert counts(stack) == before


async def test_journey_form_refusals(api_stack: Stack, sw: httpx.AsyncClient) -> None:
    stack = api_stack
    jid = await refer(stack, sw)
    base = f"/accompagnement/parcours/{jid}"

    # A booklet before the assessment: the journey's refusal, in French, nothing changed.
    before = counts(stack)
    r = await fill(sw, f"{base}/carnet", {})
    assert r.status_code == 409 and "après le diagnostic initial" in r.text
    # An assessment without needs, and with a tool not in the list.
    r = await fill(sw, f"{base}/diagnostic", {"tool": "ABC_DIAG", "autonomy": "BEGINNER"})
    assert r.status_code == 422
    assert field_error(r.text, "needs") == "Choisissez au moins un besoin."
    assert 'value="ABC_DIAG" checked' in r.text and 'value="BEGINNER" checked' in r.text
    r = await fill(
        sw, f"{base}/diagnostic", {"tool": "NOPE", "autonomy": "BEGINNER", "needs": "EMAIL"}
    )
    assert r.status_code == 422
    assert field_error(r.text, "tool") == "Cette valeur ne fait pas partie de la liste proposée."
    assert 'value="EMAIL" checked' in r.text
    assert counts(stack) == before

    await to_booklet_issued(sw, jid)
    before = counts(stack)
    with stack.sessions() as s:
        ended = s.exec(
            select(models.MediationStructure.id).where(
                col(models.MediationStructure.aptic_qualified_until).is_not(None)
            )
        ).first()
    for structure, message in [
        ("999999", "Cette structure de médiation n'existe pas dans le programme."),
        (str(ended), "n'est pas habilitée"),
        ("", "Choisissez une structure de médiation."),
        ("abc", "Choisissez une structure de médiation."),
    ]:
        r = await fill(sw, f"{base}/mediation", {"mediation_structure_id": structure})
        assert r.status_code == 422, (structure, r.text)
        assert message in field_error(r.text, "mediation_structure_id"), structure
    assert counts(stack) == before
    with stack.sessions() as s:
        assert s.get(models.Journey, jid).stage == "BOOKLET_ISSUED"  # type: ignore[union-attr]


async def test_my_referrals_show_stalled_ones_first_with_their_reason(
    api_stack: Stack, sw: httpx.AsyncClient
) -> None:
    stack = api_stack
    calm = await refer(stack, sw, **{"person.first_name": "Albert"})
    stuck = await refer(stack, sw, **{"person.first_name": "Berthe"})
    await to_booklet_issued(sw, calm)  # the most recent activity: first among the others
    # The journey's stall timer takes days; its projection is what the list reads.
    with stack.sessions() as s:
        row = s.get(models.Journey, stuck)
        assert row is not None
        row.stalled, row.stalled_reason = True, "Aucun diagnostic depuis 20 jours"
        row.stalled_since = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        s.add(row)
        s.commit()

    home = (await sw.get("/accompagnement")).text
    assert home.index("Parcours bloqués (1)") < home.index("Berthe Vidal") < home.index("Albert")
    assert "Aucun diagnostic depuis 20 jours" in home and "(depuis le 05/01/2026)" in home
    assert "Carnet remis (1)" in home and "Toutes (2)" in home
    only = (await sw.get("/accompagnement?etape=BOOKLET_ISSUED")).text
    assert "Albert Vidal" in only and "Berthe Vidal" not in only
    assert (await sw.get("/accompagnement?etape=NOPE")).status_code == 422
    # The journey page says it too.
    page = (await sw.get(f"/accompagnement/parcours/{stuck}")).text
    assert "Bloqué" in page and "Aucun diagnostic depuis 20 jours" in page
