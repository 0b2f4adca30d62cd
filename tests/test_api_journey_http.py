"""The API, a real worker and the Temporal dev server run a whole journey over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from domain.serials import ChequeSerial
from domain.validity import paris_day
from records import models
from tests.fixtures.api import train_over_api
from tests.fixtures.database import count

# Callers authenticate with personal API tokens of the fixture's accounts (stack.auth).


def person() -> dict:
    return {
        "first_name": "Josette",
        "last_name": "Vidal",
        "birth_year": 1948,
        "phone": "05 65 00 00 00",
        "commune": "Espalion",
        "preferred_channel": "PHONE",
    }


CONSENT = {"given": True, "text": "J'accepte que mes données soient utilisées pour mon parcours."}


async def structures(stack, kind: str) -> list[dict]:  # type: ignore[no-untyped-def]
    r = await stack.http.get("/api/v1/structures", params={"kind": kind}, headers=stack.auth("sw"))
    assert r.status_code == 200
    return r.json()


async def refer(stack, key: str) -> dict:  # type: ignore[no-untyped-def]
    reception = stack.people["sw"].reception_structure_id
    r = await stack.http.post(
        "/api/v1/referrals",
        json={"reception_structure_id": reception, "person": person(), "consent": CONSENT},
        headers={**stack.auth("sw"), "Idempotency-Key": key},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def to_training(stack, key: str, mediation_id: int) -> dict:  # type: ignore[no-untyped-def]
    journey = await refer(stack, key)
    assessment = {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL", "HEALTH"]}
    _, booklet, oriented, accepted = await train_over_api(
        stack, journey["journey_id"], mediation_id, assessment
    )
    assert len(booklet["cheques"]) == 10
    assert oriented["stage"] == "ORIENTED"
    assert accepted["stage"] == "IN_TRAINING"
    return accepted


def session_body(mediation_id: int, cheques: list[dict[str, str]]) -> dict:
    return {
        "mediation_structure_id": mediation_id,
        "day": paris_day(datetime.now(UTC)).isoformat(),
        "duration_minutes": 120,
        "kind": "COLLECTIVE",
        "place": "ON_SITE",
        "themes": ["EMAIL"],
        "equipment": ["OWN_SMARTPHONE"],
        "autonomy_observed": "BEGINNER",
        "cheques": cheques,
    }


async def qualified_and_not(stack) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The demo mediator's (qualified) structure, and a structure no longer qualified."""
    mediation = {m["id"]: m for m in await structures(stack, "mediation")}
    qualified = stack.people["med"].mediation_structure_id
    unqualified = stack.people["med_unqualified"].mediation_structure_id
    assert mediation[qualified]["aptic_qualified_until"] is None
    assert mediation[unqualified]["aptic_qualified_until"] is not None
    return qualified, unqualified


async def test_whole_journey_over_http(api_stack) -> None:  # type: ignore[no-untyped-def]
    stack = api_stack
    mediator, _ = await qualified_and_not(stack)
    key = str(uuid.uuid4())
    journey = await to_training(stack, key, mediator)
    jid = journey["journey_id"]
    serials = [c["serial"] for c in journey["cheques"]]

    # Referral sent again with the same key: the first answer again, nothing added or moved.
    again = await refer(stack, key)
    assert again["journey_id"] == jid and again["seq"] == 1
    assert count(stack.sessions, models.Beneficiary) == 1
    assert (await stack.http.get(f"/api/v1/journeys/{jid}", headers=stack.auth("sw"))).json()[
        "stage"
    ] == "IN_TRAINING"

    # First session, then the same request retried: redeemed once.
    first_key = str(uuid.uuid4())
    for _ in range(2):
        r = await stack.http.post(
            f"/api/v1/journeys/{jid}/sessions",
            json=session_body(mediator, stack.cheques(serials[0:2])),
            headers={**stack.auth("med"), "Idempotency-Key": first_key},
        )
        assert r.status_code == 201, r.text
        assert all(v["accepted"] for v in r.json()["verdicts"])
    live = (await stack.http.get(f"/api/v1/journeys/{jid}", headers=stack.auth("sw"))).json()
    assert sum(c["status"] == "REDEEMED" for c in live["cheques"]) == 2
    assert len(live["sessions"]) == 1

    # A cheque already taken is refused with a precise French reason; nothing changes.
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session_body(mediator, stack.cheques([serials[2], serials[0]])),
        headers=stack.auth("med"),
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "cheques_refused"
    verdicts = {v["serial"]: v for v in error["details"]["verdicts"]}
    assert verdicts[serials[0]]["code"] == "already_redeemed"
    assert "déjà été encaissé" in verdicts[serials[0]]["message"]
    assert verdicts[serials[2]]["accepted"] is True
    after = (await stack.http.get(f"/api/v1/journeys/{jid}", headers=stack.auth("sw"))).json()
    assert after["cheques"] == live["cheques"] and after["seq"] == live["seq"]

    # Remaining cheques, two per session: the journey completes.
    for i in range(2, 10, 2):
        r = await stack.http.post(
            f"/api/v1/journeys/{jid}/sessions",
            json=session_body(mediator, stack.cheques(serials[i : i + 2])),
            headers=stack.auth("med"),
        )
        assert r.status_code == 201, r.text
    final = (await stack.http.get(f"/api/v1/journeys/{jid}", headers=stack.auth("sw"))).json()
    assert final["stage"] == "CLOSED" and final["outcome"] == "COMPLETED"

    listed = (
        await stack.http.get(
            "/api/v1/journeys", params={"stage": "CLOSED"}, headers=stack.auth("sw")
        )
    ).json()
    assert [j["id"] for j in listed["items"]] == [jid]
    assert listed["items"][0]["cheques_redeemed"] == 10
    assert (
        await stack.http.get(
            "/api/v1/journeys", params={"stage": "REFERRED"}, headers=stack.auth("sw")
        )
    ).json()["page"]["total"] == 0

    timeline = (
        await stack.http.get(f"/api/v1/journeys/{jid}/timeline", headers=stack.auth("sw"))
    ).json()
    actions = [t["action"] for t in timeline]
    assert actions[0] == "REFERRED" and actions.count("SESSION_LOGGED") == 5
    assert actions[-1] == "CLOSED"

    lookup = await stack.http.get(
        f"/api/v1/cheques/{serials[3][:3]}-{serials[3][3:]}", headers=stack.auth("med")
    )
    assert lookup.status_code == 200, lookup.text
    found = lookup.json()
    assert found["verdict"] == "spent" and found["details"]["status"] == "REDEEMED"
    assert found["details"]["journey_id"] == jid  # the mediator's structure trained the person


async def test_refusals_change_nothing(api_stack) -> None:  # type: ignore[no-untyped-def]
    stack = api_stack
    mediator, unqualified = await qualified_and_not(stack)
    journey = await to_training(stack, str(uuid.uuid4()), mediator)
    jid = journey["journey_id"]
    serials = [c["serial"] for c in journey["cheques"]]
    before = (await stack.http.get(f"/api/v1/journeys/{jid}", headers=stack.auth("sw"))).json()

    unknown = ChequeSerial(journey["programme_code"], journey["millesime"], 999_999, 1).digits
    other_programme = ChequeSerial(81, journey["millesime"], 1, 1).digits
    mistyped = serials[0][:-2] + serials[0][-1] + serials[0][-2]  # swap the last two digits
    if mistyped == serials[0]:
        mistyped = serials[0][:5] + str((int(serials[0][5]) + 1) % 10) + serials[0][6:]
    cases = {
        unknown: "unknown_serial",
        other_programme: "other_programme",
        mistyped: "serial_check_digit",
        "12-345": "serial_malformed",
    }
    for serial, code in cases.items():
        r = await stack.http.post(
            f"/api/v1/journeys/{jid}/sessions",
            json=session_body(mediator, stack.cheques([serial])),
            headers=stack.auth("med"),
        )
        assert r.status_code == 422, (serial, r.text)
        assert r.json()["error"]["details"]["verdicts"][0]["code"] == code, r.text
    # Letters cannot be a serial: refused by the schema, before any cheque is looked at.
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session_body(mediator, [{"serial": "12-AB", "code": ""}]),
        headers=stack.auth("med"),
    )
    assert r.status_code == 422 and "serial" in r.text, r.text

    # A mediator whose structure is no longer qualified holds a cheque of this journey.
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session_body(unqualified, stack.cheques([serials[0]])),
        headers=stack.auth("med_unqualified"),
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"]["verdicts"][0]["code"] == "structure_not_qualified"

    # Bad input: French field messages, nothing created.
    beneficiaries = count(stack.sessions, models.Beneficiary)
    reception = stack.people["sw"].reception_structure_id
    r = await stack.http.post(
        "/api/v1/referrals",
        json={
            "reception_structure_id": reception,
            "person": person(),
            "consent": {"given": False, "text": "x"},
        },
        headers={**stack.auth("sw"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 422
    assert "consentement" in r.json()["error"]["details"][0]["message"]
    r = await stack.http.post(
        "/api/v1/referrals",
        json={"reception_structure_id": 999_999, "person": person(), "consent": CONSENT},
        headers={**stack.auth("sw"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_structure"
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json={**session_body(mediator, stack.cheques([serials[0]])), "duration_minutes": -5},
        headers=stack.auth("med"),
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"
    assert count(stack.sessions, models.Beneficiary) == beneficiaries

    # Wrong stage is a conflict, not a server error.
    r = await stack.http.post(f"/api/v1/journeys/{jid}/booklet", headers=stack.auth("sw"))
    assert r.status_code == 409, r.text
    assert (
        await stack.http.get("/api/v1/journeys/does-not-exist", headers=stack.auth("sw"))
    ).status_code == 404

    after = (await stack.http.get(f"/api/v1/journeys/{jid}", headers=stack.auth("sw"))).json()
    assert after == before
