"""The JSON API over HTTP: a person referred again (another key, another structure) is a
possible duplicate (409) until the caller confirms; a retried referral is not a duplicate
of itself; one booklet per person and millésime unless a coordinator allows a second."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlmodel import func, select

from records import models
from tests.fixtures.api import Stack

CONSENT = {"given": True, "text": "J'accepte que mes données servent à mon parcours."}
PERSON = {
    "first_name": "Marie-Hélène",
    "last_name": "Fabre",
    "birth_year": 1957,
    "phone": "06 12 34 56 78",
    "email": "mh.fabre@exemple.fr",
    "commune": "Rodez",
    "preferred_channel": "PHONE",
}


async def refer(
    stack: Stack, who: str, idem: str, person: dict[str, Any], **extra: Any
) -> httpx.Response:
    return await stack.http.post(
        "/api/v1/referrals",
        json={
            "reception_structure_id": stack.people[who].reception_structure_id,
            "person": person,
            "consent": CONSENT,
            **extra,
        },
        headers={**stack.auth(who), "Idempotency-Key": idem},
    )


def beneficiaries(stack: Stack) -> int:
    with stack.sessions() as s:
        return int(s.exec(select(func.count()).select_from(models.Beneficiary)).one())


async def test_possible_duplicate_refused_until_confirmed(api_stack: Stack) -> None:
    stack = api_stack
    r = await refer(stack, "sw", str(uuid.uuid4()), PERSON)
    assert r.status_code == 201, r.text
    first = r.json()["journey_id"]

    # The same person typed otherwise, in the same structure: 409 with the journey to open.
    retyped = {**PERSON, "first_name": "MARIE HELENE", "last_name": "fabre", "phone": None}
    retyped |= {"email": None, "preferred_channel": "POST"}
    r = await refer(stack, "sw", str(uuid.uuid4()), retyped)
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "possible_duplicate"
    assert error["details"] == {
        "journey_ids": [first],
        "other_journeys": 0,
        "criteria": ["NAME_BIRTH_YEAR"],
    }
    assert "confirm_possible_duplicate" in error["message"]
    assert beneficiaries(stack) == 1

    # Another structure (another EPCI), same phone written the international way: 409
    # without the journey (out of its scope) and nothing of the other person.
    other = {**PERSON, "first_name": "Hélène", "last_name": "Fabre-Puech", "email": None}
    other["phone"] = "+33 6 12 34 56 78"
    idem = str(uuid.uuid4())
    r = await refer(stack, "sw_other", idem, other)
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["details"] == {"journey_ids": [], "other_journeys": 1, "criteria": ["PHONE"]}
    assert first not in r.text and "Marie" not in r.text and "mh.fabre" not in r.text
    assert beneficiaries(stack) == 1

    # Confirmed: a new journey. Sent again with the same key, confirmed or not: the same
    # journey, never a duplicate of itself.
    r = await refer(stack, "sw_other", idem, other, confirm_possible_duplicate=True)
    assert r.status_code == 201, r.text
    second = r.json()["journey_id"]
    assert second != first
    r = await refer(stack, "sw_other", idem, other)
    assert r.status_code == 201 and r.json()["journey_id"] == second, r.text
    r = await refer(stack, "sw_other", idem, {**other, "email": "autre@exemple.fr"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused"
    assert beneficiaries(stack) == 2

    # The e-mail alone matches too, in any case.
    r = await refer(
        stack,
        "sw",
        str(uuid.uuid4()),
        {"first_name": "M.", "last_name": "F.", "email": " MH.Fabre@Exemple.FR"},
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"]["details"]["criteria"] == ["EMAIL"]
    assert r.json()["error"]["details"]["journey_ids"] == [first]

    # Someone else entirely: no question asked.
    r = await refer(
        stack,
        "sw",
        str(uuid.uuid4()),
        {"first_name": "Marie-Hélène", "last_name": "Fabre", "birth_year": 1987},
    )
    assert r.status_code == 201, r.text


async def booklet(stack: Stack, who: str, jid: str, idem: str) -> httpx.Response:
    return await stack.http.post(
        f"/api/v1/journeys/{jid}/booklet", headers={**stack.auth(who), "Idempotency-Key": idem}
    )


async def assess(stack: Stack, who: str, jid: str) -> None:
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/assessments",
        json={"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL"]},
        headers=stack.auth(who),
    )
    assert r.status_code == 200, r.text


async def test_one_booklet_per_person_and_millesime(api_stack: Stack) -> None:
    stack = api_stack
    r = await refer(stack, "sw", str(uuid.uuid4()), PERSON)
    assert r.status_code == 201, r.text
    first = r.json()["journey_id"]
    r = await refer(stack, "sw_other", str(uuid.uuid4()), PERSON, confirm_possible_duplicate=True)
    assert r.status_code == 201, r.text
    second = r.json()["journey_id"]
    for who, jid in (("sw", first), ("sw_other", second)):
        await assess(stack, who, jid)
    assert (await booklet(stack, "sw", first, str(uuid.uuid4()))).status_code == 200

    # The second journey's booklet: refused, nothing recorded, no id out of scope.
    idem = str(uuid.uuid4())
    r = await booklet(stack, "sw_other", second, idem)
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "second_booklet_not_allowed"
    assert "coordination" in error["message"] and error["details"] == {"journey_ids": []}
    live = await stack.http.get(f"/api/v1/journeys/{second}", headers=stack.auth("sw_other"))
    assert live.json()["stage"] == "ASSESSED" and live.json()["cheques"] == []

    # Only a coordinator whose scope holds the journey may allow a second booklet.
    path = f"/api/v1/journeys/{second}/second-booklet"
    assert (await stack.http.post(path, headers=stack.auth("sw_other"))).status_code == 403
    assert (await stack.http.post(path, headers=stack.auth("coord_epci"))).status_code == 403
    r = await stack.http.post(path, headers=stack.auth("coord_other"))
    assert r.status_code == 201, r.text
    allowed = r.json()
    assert allowed["allowed_by"] == stack.people["coord_other"].id
    assert allowed["allowed_by_name"] == "coord_other"
    again = await stack.http.post(path, headers=stack.auth("coord_all"))
    assert again.status_code == 201 and again.json() == allowed  # the first decision stays

    # The same booklet request (its key was given back when refused) now goes through.
    r = await booklet(stack, "sw_other", second, idem)
    assert r.status_code == 200 and r.json()["stage"] == "BOOKLET_ISSUED", r.text

    # Nothing to allow once a booklet is issued.
    r = await stack.http.post(
        f"/api/v1/journeys/{first}/second-booklet", headers=stack.auth("coord_all")
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "wrong_stage", r.text
