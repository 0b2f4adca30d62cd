"""The coordinators' overview under filters, on the page and at /api/v1/reports/overview."""

from __future__ import annotations

import re
import uuid
from html import unescape

from sqlmodel import select

from domain.validity import paris_today
from records import models
from tests.fixtures.api import Stack, signed_in_client
from tests.test_pages_booklet_year import CONSENT, assessed

JOURNEYS = re.compile(
    r'<span class="stat-value">(\d+)</span> <span class="stat-label">parcours</span>'
)


async def refer_other(stack: Stack) -> str:
    r = await stack.http.post(
        "/api/v1/referrals",
        json={
            "reception_structure_id": stack.people["sw_other"].reception_structure_id,
            "person": {"first_name": "Odile", "last_name": "Serieys"},
            "consent": CONSENT,
        },
        headers={**stack.auth("sw_other"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["journey_id"])


async def test_overview_filters(api_stack: Stack) -> None:
    stack = api_stack
    year = paris_today().year
    with_booklet = await assessed(stack, "Lacombe")
    r = await stack.http.post(
        f"/api/v1/journeys/{with_booklet}/booklet",
        json={"millesime": year},
        headers=stack.auth("sw"),
    )
    assert r.status_code == 200, r.text
    await assessed(stack, "Alric")
    await refer_other(stack)
    with stack.sessions() as s:
        months = {j.referred_month for j in s.exec(select(models.Journey)).all()}
    assert len(months) == 1
    month = months.pop()
    assert month is not None
    this_month = f"{month // 100}-{month % 100:02d}"
    before = f"{month // 100 - 1}-12"
    home = stack.people["sw"].reception_structure_id

    async def journeys(who: str, **params: str) -> int:
        r = await stack.http.get("/api/v1/reports/overview", params=params, headers=stack.auth(who))
        assert r.status_code == 200, r.text
        return int(r.json()["journeys"])

    assert await journeys("coord_all") == 3
    assert await journeys("coord_all", structure=f"accueil-{home}") == 2
    assert await journeys("coord_all", millesime="0") == 2
    assert await journeys("coord_all", millesime=str(year)) == 1
    assert await journeys("coord_all", du=this_month, au=this_month) == 3
    assert await journeys("coord_all", au=before) == 0
    assert await journeys("coord_all", epci=str(stack.people["coord_other"].epci_id)) == 1
    # An EPCI's coordinator cannot look outside the EPCI: the scope wins.
    assert await journeys("coord_epci") == 2
    assert await journeys("coord_epci", epci=str(stack.people["coord_other"].epci_id)) == 2
    r = await stack.http.get(
        "/api/v1/reports/overview", params={"du": "mars 2026"}, headers=stack.auth("coord_all")
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "du"
    body = (
        await stack.http.get("/api/v1/reports/overview", headers=stack.auth("coord_all"))
    ).json()
    assert body["booklets"] == 1 and body["target_booklets"] == 9000
    for who in ("sw", "med", "admin"):
        r = await stack.http.get("/api/v1/reports/overview", headers=stack.auth(who))
        assert r.status_code == 403, who

    coord = await signed_in_client(stack, stack.people["coord_all"].email)
    try:
        html = unescape((await coord.get("/coordination", params={"millesime": "0"})).text)
        assert JOURNEYS.findall(html) == ["2"]
        assert '<option value="0" selected>Sans carnet</option>' in html
        assert "sur un objectif" not in html  # the target is the whole programme's
        html = unescape((await coord.get("/coordination")).text)
        assert JOURNEYS.findall(html) == ["3"] and "sur un objectif de 9\u202f000" in html
        html = unescape((await coord.get("/coordination", params={"au": "13-2026"})).text)
        assert "Filtre ignoré, illisible : la période (fin)" in html
    finally:
        await coord.aclose()
