"""Booklets over a year boundary, from a structure's stock, within the programme's period:
the pages and the API with the app's clock frozen (the workflow keeps Temporal's time)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from html import unescape
from typing import Any

import httpx
import pytest_asyncio
from sqlmodel import select

from domain.validity import PARIS, paris_today
from records import models
from records.db import begin_write
from tests.fixtures.api import Stack, csrf_from, refer_over_api, signed_in_client
from tests.test_pages_social import fill, hidden

CONSENT = {"given": True, "text": "J'accepte que mes données servent à mon parcours."}
ASSESSMENT = {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL"]}
RADIO = re.compile(r'name="millesime" value="(\d{4})"( checked)?')


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc,arg-type]


async def assessed(stack: Stack, last_name: str) -> str:
    jid = await refer_over_api(stack, {"first_name": "Irène", "last_name": last_name}, CONSENT)
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/assessments", json=ASSESSMENT, headers=stack.auth("sw")
    )
    assert r.status_code == 200, r.text
    return jid


def offered(html: str) -> list[tuple[int, bool]]:
    return [(int(m[1]), bool(m[2])) for m in RADIO.finditer(html)]


@pytest_asyncio.fixture
async def sw(api_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    client = await signed_in_client(api_stack, api_stack.people["sw"].email)
    yield client
    await client.aclose()


async def test_new_year_the_booklet_takes_the_new_millesime(
    api_stack: Stack, sw: httpx.AsyncClient
) -> None:
    stack = api_stack
    jid = await assessed(stack, "Costes")
    page = f"/accompagnement/parcours/{jid}/carnet"
    # Before 3 November only this year's; then next year's beside it, this year's checked.
    stack.freeze(paris(2026, 10, 20, 10))
    assert offered((await sw.get(page)).text) == [(2026, True)]
    stack.freeze(paris(2026, 12, 31, 23, 30))
    html = (await sw.get(page)).text
    assert offered(html) == [(2026, True), (2027, False)]
    assert "valable du 01/01/2027 au 31/01/2028" in html
    # Half an hour later, in Paris, it is 2027 (in UTC still 2026).
    stack.freeze(paris(2027, 1, 1, 0, 30))
    assert offered((await sw.get(page)).text) == [(2027, True)]
    # 2026 is no longer offered: refused in French, nothing issued.
    r = await fill(sw, page, {"millesime": "2026"})
    assert r.status_code == 409
    assert "Le millésime 2026 n'est pas proposé aujourd'hui : choisissez 2027." in unescape(r.text)
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/booklet", json={"millesime": 2026}, headers=stack.auth("sw")
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "millesime_not_offered"
    with stack.sessions() as s:
        assert s.get(models.Journey, jid).booklet_number is None  # type: ignore[union-attr]
    # The default, over the API too, is the new year's.
    r = await stack.http.post(f"/api/v1/journeys/{jid}/booklet", headers=stack.auth("sw"))
    assert r.status_code == 200, r.text
    assert r.json()["millesime"] == 2027


async def test_the_programme_period_bounds_referrals_and_booklets(
    api_stack: Stack, sw: httpx.AsyncClient
) -> None:
    stack = api_stack
    jid = await assessed(stack, "Marty")
    with stack.sessions() as s:
        begin_write(s)  # reads then writes while the worker records
        programme = s.exec(select(models.Programme)).one()
        programme.ends_on = date(2026, 12, 31)
        s.add(programme)
        s.commit()
    stack.freeze(paris(2027, 1, 1, 9))
    before = len(stack.sessions().exec(select(models.Beneficiary)).all())
    r = await stack.http.post(
        "/api/v1/referrals",
        json={
            "reception_structure_id": stack.people["sw"].reception_structure_id,
            "person": {"first_name": "Paul", "last_name": "Rouquette"},
            "consent": CONSENT,
        },
        headers={**stack.auth("sw"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "programme_ended"
    assert "s'est terminé le 31/12/2026" in r.json()["error"]["message"]
    assert len(stack.sessions().exec(select(models.Beneficiary)).all()) == before
    html = unescape((await sw.get(f"/accompagnement/parcours/{jid}/carnet")).text)
    assert "s'est terminé le 31/12/2026" in html and 'name="millesime"' not in html
    r = await stack.http.post(f"/api/v1/journeys/{jid}/booklet", headers=stack.auth("sw"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "programme_ended"
    # The last day of the period still works.
    stack.freeze(paris(2026, 12, 31, 18))
    r = await stack.http.post(f"/api/v1/journeys/{jid}/booklet", headers=stack.auth("sw"))
    assert r.status_code == 200, r.text


async def hand_out(client: httpx.AsyncClient, data: dict[str, Any]) -> httpx.Response:
    page = await client.get("/coordination/carnets")
    assert page.status_code == 200, page.text
    return await client.post("/coordination/carnets", data={**hidden(page.text), **data})


async def test_booklets_come_from_the_structures_stock(
    api_stack: Stack, sw: httpx.AsyncClient
) -> None:
    stack = api_stack
    year = paris_today().year
    home = stack.people["sw"].reception_structure_id
    coord = await signed_in_client(stack, stack.people["coord_all"].email)
    epci_coord = await signed_in_client(stack, stack.people["coord_epci"].email)
    try:
        form = {
            "reception_structure_id": str(home),
            "millesime": str(year),
            "first_number": "500",
            "last_number": "501",
        }
        page = await coord.get("/coordination/carnets")
        keys = hidden(page.text)
        r = await coord.post("/coordination/carnets", data={**keys, **form})
        assert r.status_code == 303, r.text
        again = await coord.post("/coordination/carnets", data={**keys, **form})  # double click
        assert again.status_code == 303
        with stack.sessions() as s:
            assert len(s.exec(select(models.BookletStockRange)).all()) == 1
        # Overlapping numbers: refused in French on the form, nothing written.
        r = await hand_out(coord, {**form, "first_number": "400", "last_number": "500"})
        assert r.status_code == 409
        assert "recouvrent la plage de carnets n° 500 à 501" in r.text
        # An EPCI's coordinators see their structures' stock but do not hand any out.
        html = (await epci_coord.get("/coordination/carnets")).text
        assert "Confier des carnets" not in html and "n° 500 à 501" in html
        r = await epci_coord.post(
            "/coordination/carnets",
            data={
                "csrf_token": csrf_from(html),
                "form_id": str(uuid.uuid4()),
                **{**form, "first_number": "600", "last_number": "601"},
            },
        )
        assert r.status_code == 403
        with stack.sessions() as s:
            assert len(s.exec(select(models.BookletStockRange)).all()) == 1

        numbers = []
        for name in ("Albouy", "Bessou"):
            jid = await assessed(stack, name)
            html = (await sw.get(f"/accompagnement/parcours/{jid}/carnet")).text
            assert "en stock dans votre structure" in html
            r = await fill(sw, f"/accompagnement/parcours/{jid}/carnet", {})
            assert r.status_code == 303, r.text
            with stack.sessions() as s:
                numbers.append(s.get(models.Journey, jid).booklet_number)  # type: ignore[union-attr]
        assert numbers == [500, 501]
        # The stock is empty: refused before the journey is asked, in French.
        jid = await assessed(stack, "Cayrou")
        r = await fill(sw, f"/accompagnement/parcours/{jid}/carnet", {})
        assert r.status_code == 409
        assert f"plus de carnet du millésime {year} en stock" in r.text
        r = await stack.http.post(f"/api/v1/journeys/{jid}/booklet", headers=stack.auth("sw"))
        assert r.status_code == 409 and r.json()["error"]["code"] == "booklet_stock_empty"
        with stack.sessions() as s:
            assert s.get(models.Journey, jid).booklet_number is None  # type: ignore[union-attr]
        # The coordinators' table: received 2, none left, 2 handed out.
        html = (await coord.get(f"/coordination/carnets?millesime={year}")).text
        with stack.sessions() as s:
            name = s.get(models.ReceptionStructure, home).name  # type: ignore[union-attr]
        row = re.search(
            rf'<th scope="row"[^>]*>{re.escape(name)}</th>(.*?)</tr>', unescape(html), re.S
        )
        assert row is not None
        cells = re.findall(r'class="num">([^<]+)<', row[1])
        assert cells == ["2", "0", "2", "0", "0"]
    finally:
        await coord.aclose()
        await epci_coord.aclose()


async def test_the_overview_shows_the_target_and_warns_of_cheques_about_to_expire(
    api_stack: Stack,
) -> None:
    stack = api_stack
    year = paris_today().year
    jid = await assessed(stack, "Delmas")
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/booklet", json={"millesime": year}, headers=stack.auth("sw")
    )
    assert r.status_code == 200, r.text
    coord = await signed_in_client(stack, stack.people["coord_all"].email)
    try:
        html = (await coord.get("/coordination")).text
        assert "sur un objectif de 9\u202f000 (0,0 %)" in html
        assert "cesseront d'être valables" not in unescape(html)
        # Ten unspent cheques valid to 31/01 next year: from 02/01 they are within 30 days.
        stack.freeze(paris(year + 1, 1, 2, 9))
        html = unescape((await coord.get("/coordination")).text)
        assert "10 chèques non utilisés</strong> (100,00\u00a0€)" in html
        assert f"dès le 31/01/{year + 1}" in html
        stack.freeze(paris(year + 1, 1, 2, 9) - timedelta(days=2))
        assert "cesseront d'être valables" not in unescape((await coord.get("/coordination")).text)
    finally:
        await coord.aclose()


async def test_booklet_stock_over_the_api(api_stack: Stack) -> None:
    stack = api_stack
    year = paris_today().year
    home = stack.people["sw"].reception_structure_id
    body = {
        "reception_structure_id": home,
        "millesime": year,
        "first_number": 70,
        "last_number": 79,
    }
    key = {"Idempotency-Key": str(uuid.uuid4())}
    r = await stack.http.post(
        "/api/v1/booklet-stock", json=body, headers={**stack.auth("coord_all"), **key}
    )
    assert r.status_code == 201, r.text
    first = r.json()
    again = await stack.http.post(
        "/api/v1/booklet-stock", json=body, headers={**stack.auth("coord_all"), **key}
    )
    assert again.status_code == 201 and again.json() == first
    other = await stack.http.post(
        "/api/v1/booklet-stock",
        json={**body, "last_number": 80},
        headers={**stack.auth("coord_all"), **key},
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    r = await stack.http.post(
        "/api/v1/booklet-stock",
        json={**body, "first_number": 79, "last_number": 90},
        headers=stack.auth("coord_all"),
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "stock_refused"
    for who in ("coord_epci", "sw", "med"):
        r = await stack.http.post(
            "/api/v1/booklet-stock",
            json={**body, "first_number": 1000, "last_number": 1001},
            headers=stack.auth(who),
        )
        assert r.status_code == 403, who
    r = await stack.http.get("/api/v1/booklet-stock", headers=stack.auth("coord_epci"))
    assert r.status_code == 200, r.text
    mine = [line for line in r.json()["structures"] if line["reception_structure_id"] == home]
    assert mine[0]["received"] == 10 and mine[0]["in_stock"] == 10
    assert {line["epci_id"] for line in r.json()["structures"]} == {
        stack.people["coord_epci"].epci_id
    }
    assert [(x["first_number"], x["last_number"]) for x in r.json()["ranges"]] == [(70, 79)]
    r = await stack.http.get("/api/v1/booklet-stock", headers=stack.auth("sw"))
    assert r.status_code == 403
    with stack.sessions() as s:
        assert len(s.exec(select(models.BookletStockRange)).all()) == 1
