"""A lost booklet on the pages, over HTTP with real accounts, a real worker and the dev
server: the social worker declares it from the journey page and prints the replacement's
slip; a coordinator declares the replacement lost in turn; refusals in French next to the
field; a double submit replaces once; other roles cannot."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from domain.serials import parse_serial
from domain.stages import Action
from domain.validity import format_date_fr, paris_day
from records import models
from tests.fixtures.access import settle
from tests.fixtures.api import Stack, csrf_from
from tests.test_api_journey_http import to_training
from tests.test_pages_coordination import client_for, field_error, form_id, log_count


def _slip_serials(page: str) -> list[str]:
    return re.findall(r'<span class="serial">([0-9-]+)</span>', page)


async def test_a_lost_booklet_declared_on_the_pages(api_stack: Stack) -> None:
    stack = api_stack
    mine = stack.people["med"].mediation_structure_id
    assert mine is not None
    journey = await to_training(stack, str(uuid.uuid4()), mine)
    jid, first = journey["journey_id"], journey["booklet_number"]
    today = paris_day(datetime.now(UTC))
    sw = await client_for(stack, "sw")
    coord = await client_for(stack, "coord_epci")
    med = await client_for(stack, "med")
    other_sw = await client_for(stack, "sw_other")
    try:
        page = await sw.get(f"/accompagnement/parcours/{jid}")
        assert f'href="/accompagnement/parcours/{jid}/carnet-perdu"' in page.text
        form = await sw.get(f"/accompagnement/parcours/{jid}/carnet-perdu")
        assert form.status_code == 200, form.text
        assert "Les 10 chèques non utilisés du carnet n°" in form.text
        assert f'name="booklet_number" value="{first}"' in form.text
        assert f'value="{today.strftime("%d/%m/%Y")}"' in form.text  # today by default
        fields = {
            "csrf_token": csrf_from(form.text),
            "form_id": form_id(form.text),
            "booklet_number": str(first),
            "lost_on": today.strftime("%d/%m/%Y"),
            "reason": "LOST",
        }
        url = f"/accompagnement/parcours/{jid}/carnet-perdu"

        # Refused next to the field, nothing changed: a day to come, no reason.
        tomorrow = (today + timedelta(days=1)).strftime("%d/%m/%Y")
        r = await sw.post(url, data=fields | {"lost_on": tomorrow})
        assert r.status_code == 422, r.text
        assert field_error(r.text, "lost_on").endswith("ne peut pas être dans le futur.")
        r = await sw.post(url, data={k: v for k, v in fields.items() if k != "reason"})
        assert r.status_code == 422
        assert field_error(r.text, "reason") == "Choisissez ce qui est arrivé au carnet."
        assert log_count(stack, jid, Action.BOOKLET_LOST) == 0

        # Declared: the next page is the replacement's slip; sent twice, replaced once.
        r = await sw.post(url, data=fields)
        assert r.status_code == 303, r.text
        assert r.headers["location"] == f"/accompagnement/parcours/{jid}/bordereau"
        again = await sw.post(url, data=fields)
        assert again.status_code == 303, again.text
        await settle(stack, jid)
        assert log_count(stack, jid, Action.BOOKLET_LOST) == 1
        with stack.sessions() as s:
            row = s.get(models.Journey, jid)
            assert row is not None and row.booklet_number != first
            second = row.booklet_number
        page = await sw.get(f"/accompagnement/parcours/{jid}")
        assert f"Le carnet n° {first} a été déclaré perdu et remplacé" in page.text
        slip = await sw.get(f"/accompagnement/parcours/{jid}/bordereau")
        assert slip.status_code == 200
        assert "Carnet de remplacement" in slip.text
        assert f"bordereau du carnet n° {second}" in slip.text
        serials = _slip_serials(slip.text)
        assert len(serials) == 10 and {parse_serial(x).booklet_number for x in serials} == {second}
        assert slip.text.count('class="code"') == 10  # each with its new code
        page = await sw.get(f"/accompagnement/parcours/{jid}")
        assert "a été déclaré perdu et remplacé" not in page.text  # slip printed
        assert "Carnet déclaré perdu ou volé, carnet de remplacement remis" in page.text
        assert f"Carnet n° {first} déclaré perdu le {format_date_fr(today)}" in page.text

        # Other roles and scopes: no page, no change.
        r = await med.get(url)
        assert r.status_code == 403
        r = await other_sw.get(url)
        assert r.status_code == 404
        r = await med.post(
            f"/coordination/parcours/{jid}/carnet-perdu",
            data=fields | {"csrf_token": csrf_from((await med.get("/mediation")).text)},
        )
        assert r.status_code == 403

        # The coordinator: a stale page (the first booklet) is refused; a fresh one works.
        journey_page = await coord.get(f"/coordination/parcours/{jid}")
        assert f'href="/coordination/parcours/{jid}/carnet-perdu"' in journey_page.text
        stale = fields | {
            "csrf_token": csrf_from(journey_page.text),
            "form_id": str(uuid.uuid4()),
            "reason": "STOLEN",
        }
        curl = f"/coordination/parcours/{jid}/carnet-perdu"
        r = await coord.post(curl, data=stale)
        assert r.status_code == 409, r.text
        assert "n&#39;est pas celui que la personne détient" in r.text
        fresh = await coord.get(curl)
        assert f'name="booklet_number" value="{second}"' in fresh.text
        r = await coord.post(
            curl,
            data=stale | {"form_id": form_id(fresh.text), "booklet_number": str(second)},
        )
        assert r.status_code == 303, r.text
        done = await coord.get(r.headers["location"])
        assert "Le carnet est annulé et remplacé" in done.text
        await settle(stack, jid)
        assert log_count(stack, jid, Action.BOOKLET_LOST) == 2
        with stack.sessions() as s:
            lost = s.exec(
                select(models.BookletAllocation)
                .where(models.BookletAllocation.journey_id == jid)
                .order_by(col(models.BookletAllocation.sequence))
            ).all()
        assert [b.lost_reason for b in lost] == ["LOST", "STOLEN", None]
    finally:
        for client in (sw, coord, med, other_sw):
            await client.aclose()
