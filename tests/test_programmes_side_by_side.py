"""Two programmes in one instance (Aveyron 12, Hérault 34): nothing of one is seen, found,
counted, exported or spent from the other; an account working in both chooses where it
works (header, or X-Passnum-Programme for tokens) and sees one programme at a time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio.client import Client

from domain.contracts import SA_PROGRAMME
from domain.stages import Role
from domain.validity import paris_day
from records import accounts, memberships
from tests.fixtures.api import Stack, csrf_from, signed_in_client
from tests.fixtures.programmes import OTHER, seed_other_programme
from tests.test_api_journey_http import CONSENT, person

ASSESSMENT = {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL", "HEALTH"]}


async def in_training(stack: Stack, sw: str, med: str) -> tuple[str, list[str]]:
    """A journey referred by `sw`, oriented to `med`'s structure and accepted there: its id
    and its booklet's serials."""
    http, people = stack.http, stack.people
    mediation = people[med].mediation_structure_id
    r = await http.post(
        "/api/v1/referrals",
        json={
            "reception_structure_id": people[sw].reception_structure_id,
            "person": person(),
            "consent": CONSENT,
        },
        headers={**stack.auth(sw), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    jid = r.json()["journey_id"]
    steps: list[tuple[str, str, dict[str, Any] | None]] = [
        (sw, "assessments", ASSESSMENT),
        (sw, "booklet", None),
        (sw, "orientation", {"mediation_structure_id": mediation}),
        (med, "orientation/answer", {"mediation_structure_id": mediation, "accept": True}),
    ]
    answers = []
    for who, step, body in steps:
        r = await http.post(f"/api/v1/journeys/{jid}/{step}", json=body, headers=stack.auth(who))
        assert r.status_code == 200, (step, r.text)
        answers.append(r.json())
    return jid, [c["serial"] for c in answers[1]["cheques"]]


def session_body(mediation: int | None, cheques: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "mediation_structure_id": mediation,
        "day": paris_day(datetime.now(UTC)).isoformat(),
        "duration_minutes": 90,
        "kind": "INDIVIDUAL",
        "place": "ON_SITE",
        "themes": ["EMAIL"],
        "equipment": ["OWN_SMARTPHONE"],
        "autonomy_observed": "BEGINNER",
        "cheques": cheques,
    }


async def get(stack: Stack, who: str, path: str, **headers: str) -> httpx.Response:
    return await stack.http.get(path, headers={**stack.auth(who), **headers})


async def listed(stack: Stack, who: str, **headers: str) -> set[str]:
    r = await get(stack, who, "/api/v1/journeys?limit=200", **headers)
    assert r.status_code == 200, r.text
    return {item["id"] for item in r.json()["items"]}


async def temporal_listed(client: Client, query: str) -> set[str]:
    return {wf.id async for wf in client.list_workflows(query)}


async def test_two_programmes_side_by_side(api_stack: Stack) -> None:  # noqa: PLR0915
    stack = api_stack
    with stack.sessions() as s:
        stack.people.update(seed_other_programme(s, stack.now))
        s.commit()
    j12, serials12 = await in_training(stack, "sw", "med")
    j34, serials34 = await in_training(stack, "sw34", "med34")
    assert serials12[0].startswith("012") and serials34[0].startswith("034")

    # The access matrix: every caller of one programme, on the other's journey.
    for who in ("sw", "med", "coord_all", "coord_epci", "admin"):
        assert (await get(stack, who, f"/api/v1/journeys/{j34}")).status_code == 404, who
        assert j34 not in await listed(stack, who), who
    for who in ("sw34", "med34", "coord34", "admin34"):
        assert (await get(stack, who, f"/api/v1/journeys/{j12}")).status_code == 404, who
        assert j12 not in await listed(stack, who), who
    assert await listed(stack, "coord_all") == {j12}
    assert await listed(stack, "coord34") == {j34}
    r = await stack.http.post(
        f"/api/v1/journeys/{j34}/nudge", json={}, headers=stack.auth("coord_all")
    )
    assert r.status_code == 404, r.text

    # Counters, reference data and accounts stay in their programme.
    for who in ("coord_all", "coord34"):
        overview = (await get(stack, who, "/api/v1/reports/overview")).json()
        assert overview["journeys"] == 1, (who, overview)
        assert overview["cheques_issued"] == 10, (who, overview)
    names = {
        who: {x["name"] for x in (await get(stack, who, "/api/v1/structures")).json()}
        for who in ("sw", "sw34")
    }
    assert names["sw"] and names["sw34"] and not names["sw"] & names["sw34"]
    assert all(n.endswith("(34)") for n in names["sw34"])
    emails = {a["email"] for a in (await get(stack, "admin", "/api/v1/accounts")).json()}
    assert stack.people["sw"].email in emails and stack.people["sw34"].email not in emails
    r = await get(stack, "admin", f"/api/v1/accounts/{stack.people['sw34'].id}/tokens")
    assert r.status_code == 404

    # Serial prefixes: a cheque of 34 is refused at a counter of 12, and the other way.
    for med, jid, serials in (("med", j12, serials34), ("med34", j34, serials12)):
        r = await stack.http.post(
            f"/api/v1/journeys/{jid}/sessions",
            json=session_body(stack.people[med].mediation_structure_id, stack.cheques(serials[:1])),
            headers={**stack.auth(med), "Idempotency-Key": str(uuid.uuid4())},
        )
        verdicts = r.json().get("detail", r.json())
        assert r.status_code == 422, r.text
        assert "autre programme" in r.text, verdicts
    assert (await get(stack, "med", f"/api/v1/cheques/{serials34[0]}")).json()[
        "verdict"
    ] == "unknown"

    # Temporal's index keeps the programme of each journey.
    client = stack.app.state.passnum.temporal
    for code, jid in ((12, j12), (OTHER, j34)):
        query = f"{SA_PROGRAMME} = '{code:03d}' AND WorkflowId = 'journey-{jid}'"
        assert await temporal_listed(client, query) == {f"journey-{jid}"}
    wrong = f"{SA_PROGRAMME} = '{OTHER:03d}' AND WorkflowId = 'journey-{j12}'"
    assert await temporal_listed(client, wrong) == set()


async def test_an_account_in_two_programmes_works_in_one_at_a_time(api_stack: Stack) -> None:
    stack = api_stack
    with stack.sessions() as s:
        stack.people.update(seed_other_programme(s, stack.now))
        account = accounts.get_account(s, stack.people["coord_all"].id)
        assert account is not None
        memberships.grant(
            s,
            account,
            memberships.Membership(programme_code=OTHER, role=Role.COORDINATOR),
            now=stack.now,
            granted_by=None,
        )
        s.commit()
    j12, _ = await in_training(stack, "sw", "med")
    j34, _ = await in_training(stack, "sw34", "med34")

    # A token call: its own programme unless the header names another it works in.
    assert await listed(stack, "coord_all") == {j12}
    assert await listed(stack, "coord_all", **{"X-Passnum-Programme": "34"}) == {j34}
    me = (await get(stack, "coord_all", "/api/v1/me", **{"X-Passnum-Programme": "34"})).json()
    assert me["programme_code"] == OTHER
    assert {p["code"] for p in me["programmes"]} == {12, OTHER}
    r = await get(stack, "coord_all", "/api/v1/journeys", **{"X-Passnum-Programme": "13"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "programme_forbidden", r.text
    r = await get(stack, "coord_all", "/api/v1/journeys", **{"X-Passnum-Programme": "x"})
    assert r.status_code == 422, r.text
    r = await get(stack, "coord34", "/api/v1/journeys", **{"X-Passnum-Programme": "12"})
    assert r.status_code == 403, r.text

    # The header's chooser, for a signed-in browser.
    http = await signed_in_client(stack, stack.people["coord_all"].email)
    try:
        page = await http.get("/coordination")
        assert page.status_code == 200, page.text
        assert 'id="programme-courant"' in page.text and "Pass numérique Hérault" in page.text
        csrf = csrf_from(page.text)
        assert (await http.get(f"/coordination/parcours/{j12}")).status_code == 200
        assert (await http.get(f"/coordination/parcours/{j34}")).status_code == 404
        r = await http.post("/programme-courant", data={"programme": "34", "csrf_token": csrf})
        assert r.status_code == 303, r.text
        assert (await http.get(f"/coordination/parcours/{j34}")).status_code == 200
        assert (await http.get(f"/coordination/parcours/{j12}")).status_code == 404
        # Not one of its programmes: refused in French, and nothing changes.
        r = await http.post("/programme-courant", data={"programme": "13", "csrf_token": csrf})
        assert r.status_code == 403 and "pas accès à ce programme" in r.text
        r = await http.post("/programme-courant", data={"programme": "abc", "csrf_token": csrf})
        assert r.status_code == 422 and "Choisissez un programme" in r.text
        assert (await http.get(f"/coordination/parcours/{j34}")).status_code == 200
        # Access withdrawn: the session falls back to the account's own programme.
        with stack.sessions() as s:
            assert memberships.revoke(s, stack.people["coord_all"].id, OTHER)
            s.commit()
        assert (await http.get(f"/coordination/parcours/{j34}")).status_code == 404
        assert (await http.get(f"/coordination/parcours/{j12}")).status_code == 200
        page = await http.get("/coordination")
        assert 'id="programme-courant"' not in page.text
    finally:
        await http.aclose()


async def test_an_administrator_gives_an_account_of_another_programme_access(
    api_stack: Stack,
) -> None:
    stack = api_stack
    with stack.sessions() as s:
        stack.people.update(seed_other_programme(s, stack.now))
        s.commit()
    guest = stack.people["coord_epci"]
    http = await signed_in_client(stack, stack.people["admin34"].email)
    try:
        form = await http.get("/administration/comptes/nouveau")
        r = await http.post(
            "/administration/comptes/nouveau",
            data={
                "csrf_token": csrf_from(form.text),
                "email": guest.email.upper(),
                "full_name": "ignored: the account keeps its name",
                "role": "COORDINATOR",
            },
        )
        assert r.status_code == 303, r.text
        listing = await http.get(r.headers["location"])
        assert "il a maintenant accès" in listing.text
        assert "Comptes d'autres programmes ayant accès" in listing.text
        assert "Pass numérique Aveyron" in listing.text  # its own programme, named
        with stack.sessions() as s:
            account = accounts.get_account(s, guest.id)
            assert account is not None and account.programme_code == 12
            assert account.role == Role.COORDINATOR and account.epci_id == guest.epci_id
            chosen = memberships.in_programme(s, account, OTHER)
            assert chosen.role == Role.COORDINATOR and chosen.epci_id is None
        # Its own programme's administrator does not see it as theirs to manage.
        r = await get(stack, "admin34", f"/api/v1/accounts/{guest.id}/tokens")
        assert r.status_code == 404
        r = await http.post(
            f"/administration/comptes/{guest.id}/acces/retirer",
            data={"csrf_token": csrf_from(listing.text)},
        )
        assert r.status_code == 303, r.text
        with stack.sessions() as s:
            account = accounts.get_account(s, guest.id)
            assert account is not None
            assert [m.programme_code for m in memberships.all_of(s, account)] == [12]
        r = await http.post(
            f"/administration/comptes/{guest.id}/acces/retirer",
            data={"csrf_token": csrf_from(listing.text)},
        )
        assert r.status_code == 404
    finally:
        await http.aclose()
