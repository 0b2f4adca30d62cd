"""The funder ledger's pages and JSON API over HTTP, with real journeys on the dev server:
booklets issued by the workflow charge the funders at once; a programme coordinator sees
every line, an EPCI coordinator their own line and their territory's part of the State's
and the Département's; entries filter by funder and month; the end of a millésime with
its unexpired cheques; every other role is refused."""

from __future__ import annotations

import html
import re

import httpx
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from domain.validity import paris_today
from records import ledger, models
from records.db import begin_write
from tests.fixtures.api import DEMO_EMAILS, Stack, signed_in_client
from tests.fixtures.stalled import stalled_journey, wait_recorded
from tests.test_records_ledger import Story, check_reconciled, deliver

NBSP = "\u202f"


async def client_for(stack: Stack, who: str) -> httpx.AsyncClient:
    return await signed_in_client(stack, DEMO_EMAILS.get(who) or stack.people[who].email)


def euros(cents: int) -> str:
    """As the pages print it (domain.money.format_euros), HTML-escaped."""
    whole, rest = divmod(cents, 100)
    return f"{whole:,}".replace(",", NBSP) + f",{rest:02d}\u00a0€"


def text_of(page: httpx.Response) -> str:
    return html.unescape(page.text)


async def test_ledger_pages_and_api_by_scope(
    api_stack: Stack, dev_server: WorkflowEnvironment
) -> None:
    stack = api_stack
    own = await stalled_journey(stack, dev_server.client, last_name="Fabre")
    other = await stalled_journey(
        stack, dev_server.client, social_worker="sw_other", last_name="Vidal"
    )
    for jid in (own, other):
        await wait_recorded(stack, jid, lambda row: row.cheques_total == 10)
    with stack.sessions() as s:
        check_reconciled(s)  # 20 cheques committed, to the cent
        own_epci = s.get(models.Journey, own).epci_id  # type: ignore[union-attr]
        other_epci = s.get(models.Journey, other).epci_id  # type: ignore[union-attr]
        funders = {f.id: f for f in s.exec(select(models.Funder)).all()}
    state = next(f for f in funders.values() if f.kind == "ETAT")
    own_line = next(f for f in funders.values() if f.epci_id == own_epci)
    other_line = next(f for f in funders.values() if f.epci_id == other_epci)

    everyone = await client_for(stack, "coord_all")
    coord = await client_for(stack, "coord_epci")
    try:
        page = await everyone.get("/coordination/financeurs")
        assert page.status_code == 200, page.text
        body = text_of(page)
        assert state.name in body and own_line.name in body and other_line.name in body
        assert euros(20 * 590) in body  # the State's 59 % of twenty 10 € cheques
        assert "Engagé" in body and "Épuisement prévu" in body
        assert "pas encore de mois complet" in body  # the booklets were issued today
        assert re.search(r"<strong>60</strong> écritures", page.text)  # 20 cheques, 3 lines

        mine = text_of(await coord.get("/coordination/financeurs"))
        assert own_line.name in mine and other_line.name not in mine
        assert euros(10 * 590) in mine and euros(20 * 590) not in mine
        assert euros(own_line_budget(stack, own_line.id)) in mine  # their own line: whole

        month = paris_today().strftime("%Y-%m")
        filtered = await everyone.get(
            "/coordination/financeurs", params={"financeur": own_line.id, "mois": month}
        )
        assert re.search(r"<strong>10</strong> écritures", filtered.text)
        bad = await everyone.get(
            "/coordination/financeurs", params={"financeur": "x", "mois": "13"}
        )
        assert bad.status_code == 200 and re.search(r"<strong>60</strong> écritures", bad.text)

        api = await stack.http.get("/api/v1/ledger", headers=stack.auth("coord_all"))
        assert api.status_code == 200, api.text
        lines = {f["funder_id"]: f for f in api.json()["funders"]}
        assert lines[state.id]["committed_cents"] == 20 * 590
        assert lines[state.id]["engaged_cents"] == 20 * 590
        assert lines[state.id]["remaining_cents"] == 62_830_000 - 20 * 590
        assert api.json()["total"]["committed_cents"] == 20 * 1000
        scoped = (await stack.http.get("/api/v1/ledger", headers=stack.auth("coord_epci"))).json()
        assert scoped["epci_id"] == own_epci
        part = {f["funder_id"]: f for f in scoped["funders"]}
        assert other_line.id not in part
        assert part[state.id]["budget_cents"] is None and part[state.id]["committed_cents"] == 5900
        assert part[own_line.id]["remaining_cents"] == own_line_budget(stack, own_line.id) - 1280

        entries = await stack.http.get(
            "/api/v1/ledger/entries",
            params={"funder_id": state.id, "month": month, "limit": 5},
            headers=stack.auth("coord_epci"),
        )
        assert entries.status_code == 200, entries.text
        assert entries.json()["total"] == 10 and len(entries.json()["items"]) == 5
        assert {i["epci_id"] for i in entries.json()["items"]} == {own_epci}
        wrong = await stack.http.get(
            "/api/v1/ledger/entries", params={"month": "2026-13"}, headers=stack.auth("coord_all")
        )
        assert wrong.status_code == 422 and wrong.json()["error"]["code"]

        for who in ("sw", "med", "admin"):
            r = await stack.http.get("/api/v1/ledger", headers=stack.auth(who))
            assert r.status_code == 403, (who, r.text)
            assert "coordinateurs" in r.json()["error"]["message"]
        assert (await stack.http.get("/api/v1/ledger")).status_code == 401
        social = await client_for(stack, "sw")
        try:
            for path in ("/coordination/financeurs", "/coordination/millesimes"):
                assert (await social.get(path)).status_code == 403
        finally:
            await social.aclose()
    finally:
        await everyone.aclose()
        await coord.aclose()


def own_line_budget(stack: Stack, funder_id: int | None) -> int:
    with stack.sessions() as s:
        lines = s.exec(select(models.BudgetLine).where(models.BudgetLine.funder_id == funder_id))
        return sum(b.amount_cents for b in lines)


async def test_the_end_of_a_millesime_page_and_api(api_stack: Stack) -> None:
    """A past millésime with an unspent cheque not expired: PENDING, the cheque listed for
    the coordinators whose scope holds its journey, no cheque changed; once it expired,
    CLOSED with each funder's return."""
    stack = api_stack
    epci_of_coord = stack.people["coord_epci"].epci_id
    assert epci_of_coord is not None
    millesime = paris_today().year - 2
    late = Story.start(epci_of_coord, millesime, 3, Story.start_of(millesime))
    late.apply("redeem", 1)
    deliver(stack.sessions, [late.events])
    now = Story.start_of(millesime + 2)

    def close() -> None:
        with stack.sessions() as s:
            begin_write(s)
            ledger.close_millesimes(s, now)
            s.commit()

    close()
    everyone = await client_for(stack, "coord_all")
    coord = await client_for(stack, "coord_epci")
    other = await client_for(stack, "coord_other")
    try:
        page = text_of(await everyone.get("/coordination/millesimes"))
        assert f"Millésime {millesime}" in page and "En attente (chèques non expirés)" in page
        assert f"/coordination/parcours/{late.status.journey_id}" in page
        assert "2 chèques non utilisés" in page
        assert (
            f"/coordination/parcours/{late.status.journey_id}"
            in (await coord.get("/coordination/millesimes")).text
        )
        hidden = await other.get("/coordination/millesimes")
        assert hidden.status_code == 200
        assert late.status.journey_id not in hidden.text  # another EPCI's journey

        late.apply("expire", 1)
        deliver(stack.sessions, [late.events[-1:]])
        close()
        api = await stack.http.get(
            f"/api/v1/ledger/closures/{millesime}", headers=stack.auth("coord_all")
        )
        assert api.status_code == 200, api.text
        closure = api.json()
        assert closure["status"] == "CLOSED" and closure["returned_cents"] == 2 * 1000
        assert closure["reconciled"] is True and closure["unexpired"] == []
        assert sum(f["returned_cents"] for f in closure["funders"]) == 2 * 1000
        scoped = await stack.http.get(
            f"/api/v1/ledger/closures/{millesime}", headers=stack.auth("coord_epci")
        )
        assert [f["kind"] for f in scoped.json()["funders"]] == ["EPCI"]
        assert scoped.json()["returned_cents"] == 2 * 128
        missing = await stack.http.get(
            f"/api/v1/ledger/closures/{millesime + 1}", headers=stack.auth("coord_all")
        )
        assert missing.status_code == 404
        closed = text_of(await everyone.get("/coordination/millesimes"))
        assert "Clôturé" in closed and "exact au centime" in closed
        assert euros(2 * 1000) in closed
    finally:
        for c in (everyone, coord, other):
            await c.aclose()
