"""The JSON API over HTTP (real worker, dev server): an idempotency key sent again with
another request is refused (409 idempotency_key_reused) on every change route and changes
nothing; sent again with the same request it answers the first outcome; a request refused
by the journey gives its key back, so that the corrected request goes through."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlmodel import func, select

from records import models
from tests.fixtures.api import Stack

CONSENT = {"given": True, "text": "J'accepte que mes données servent à mon parcours."}


def key() -> str:
    return str(uuid.uuid4())


def person(**overrides: Any) -> dict[str, Any]:
    return {
        "first_name": "Rose",
        "last_name": "Lacombe",
        "birth_year": 1951,
        "phone": "05 65 11 22 33",
        "commune": "Rodez",
        "preferred_channel": "PHONE",
        **overrides,
    }


async def post(
    stack: Stack, path: str, who: str, idem: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    headers = {**stack.auth(who), "Idempotency-Key": idem}
    if body is None:
        return await stack.http.post(path, headers=headers)
    return await stack.http.post(path, json=body, headers=headers)


async def state(stack: Stack, jid: str) -> tuple[int, int]:
    """(live seq, timeline length) of a journey: what a refused request must not move."""
    live = await stack.http.get(f"/api/v1/journeys/{jid}", headers=stack.auth("coord_all"))
    timeline = await stack.http.get(
        f"/api/v1/journeys/{jid}/timeline", headers=stack.auth("coord_all")
    )
    assert live.status_code == 200 and timeline.status_code == 200
    return live.json()["seq"], len(timeline.json())


def reused(r: httpx.Response) -> None:
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["message"] == "Cette clé d'idempotence a déjà servi pour une autre demande."


def beneficiaries(stack: Stack) -> int:
    with stack.sessions() as s:
        return int(s.exec(select(func.count()).select_from(models.Beneficiary)).one())


async def test_every_change_route_refuses_a_reused_key(api_stack: Stack) -> None:
    stack = api_stack
    sw_structure = stack.people["sw"].reception_structure_id
    med = stack.people["med"].mediation_structure_id
    other_med = stack.people["med_other"].mediation_structure_id
    referral = {"reception_structure_id": sw_structure, "person": person(), "consent": CONSENT}

    # Referral: the same key with another person's details is refused; nobody is added.
    k = key()
    r = await post(stack, "/api/v1/referrals", "sw", k, referral)
    assert r.status_code == 201, r.text
    jid = r.json()["journey_id"]
    other_phone = {**referral, "person": person(phone="06 00 00 00 00")}
    reused(await post(stack, "/api/v1/referrals", "sw", k, other_phone))
    assert beneficiaries(stack) == 1
    again = await post(stack, "/api/v1/referrals", "sw", k, referral)
    assert again.status_code == 201 and again.json()["journey_id"] == jid

    base = f"/api/v1/journeys/{jid}"
    # Entry assessment. Refused by the journey (no need chosen): the key is given back and
    # the corrected request goes through; then another request under it is refused.
    k = key()
    assessment = {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": []}
    r = await post(stack, f"{base}/assessments", "sw", k, assessment)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
    r = await post(stack, f"{base}/assessments", "sw", k, {**assessment, "needs": ["EMAIL"]})
    assert r.status_code == 200, r.text
    before = await state(stack, jid)
    reused(await post(stack, f"{base}/assessments", "sw", k, {**assessment, "needs": ["HEALTH"]}))
    assert await state(stack, jid) == before
    r = await post(stack, f"{base}/assessments", "sw", k, {**assessment, "needs": ["EMAIL"]})
    assert r.status_code == 200 and r.json()["seq"] == before[0]  # the first outcome

    # Booklet (another millésime is another request).
    k = key()
    r = await post(stack, f"{base}/booklet", "sw", k)
    assert r.status_code == 200, r.text
    millesime = r.json()["millesime"]
    serials = [c["serial"] for c in r.json()["cheques"]]
    before = await state(stack, jid)
    reused(await post(stack, f"{base}/booklet", "sw", k, {"millesime": millesime + 1}))
    assert await state(stack, jid) == before

    # Orientation, then the mediator's answer.
    k = key()
    r = await post(stack, f"{base}/orientation", "sw", k, {"mediation_structure_id": med})
    assert r.status_code == 200, r.text
    before = await state(stack, jid)
    reused(await post(stack, f"{base}/orientation", "sw", k, {"mediation_structure_id": other_med}))
    assert await state(stack, jid) == before
    k = key()
    answer = {"mediation_structure_id": med, "accept": True}
    r = await post(stack, f"{base}/orientation/answer", "med", k, answer)
    assert r.status_code == 200 and r.json()["stage"] == "IN_TRAINING", r.text
    before = await state(stack, jid)
    declined = {**answer, "accept": False, "decline_reason": "NO_CAPACITY"}
    reused(await post(stack, f"{base}/orientation/answer", "med", k, declined))
    assert await state(stack, jid) == before

    # A session: another cheque under the same key is refused. Refused by the journey (a
    # day to come), a session's key is given back: the corrected session goes through.
    today = stack.today  # the seeded day: never after the workflow's
    session = {
        "mediation_structure_id": med,
        "day": today.isoformat(),
        "duration_minutes": 90,
        "cheques": stack.cheques(serials[0:1]),
    }
    k = key()
    r = await post(stack, f"{base}/sessions", "med", k, session)
    assert r.status_code == 201, r.text
    before = await state(stack, jid)
    reused(await post(stack, f"{base}/sessions", "med", k, {**session, "duration_minutes": 60}))
    reused(
        await post(
            stack, f"{base}/sessions", "med", k, {**session, "cheques": stack.cheques(serials[1:2])}
        )
    )
    assert await state(stack, jid) == before
    k = key()
    later = {**session, "day": (today + timedelta(days=2)).isoformat()}
    r = await post(
        stack, f"{base}/sessions", "med", k, {**later, "cheques": stack.cheques(serials[1:2])}
    )
    assert r.status_code == 422, r.text
    assert await state(stack, jid) == before
    r = await post(
        stack, f"{base}/sessions", "med", k, {**session, "cheques": stack.cheques(serials[1:2])}
    )
    assert r.status_code == 201, r.text

    # The coordinator's nudge, re-orientation and withdrawal.
    k = key()
    r = await post(stack, f"{base}/nudge", "coord_epci", k, {"message": "Où en est-on ?"})
    assert r.status_code == 200, r.text
    before = await state(stack, jid)
    reused(await post(stack, f"{base}/nudge", "coord_epci", k, {"message": "Autre message"}))
    reused(await post(stack, f"{base}/nudge", "coord_epci", k))
    assert await state(stack, jid) == before
    k = key()
    reorient = {"mediation_structure_id": other_med, "reason": "Plus proche du domicile"}
    r = await post(stack, f"{base}/reorient", "coord_epci", k, reorient)
    assert r.status_code == 200, r.text
    before = await state(stack, jid)
    reused(await post(stack, f"{base}/reorient", "coord_epci", k, {**reorient, "reason": "Autre"}))
    assert await state(stack, jid) == before
    k = key()
    r = await post(stack, f"{base}/withdraw", "coord_epci", k, {"reason": "Déménagement"})
    assert r.status_code == 200 and r.json()["stage"] == "CLOSED", r.text
    before = await state(stack, jid)
    reused(await post(stack, f"{base}/withdraw", "coord_epci", k, {"reason": "Autre motif"}))
    assert await state(stack, jid) == before
    r = await post(stack, f"{base}/withdraw", "coord_epci", k, {"reason": "Déménagement"})
    assert r.status_code == 200 and r.json()["seq"] == before[0]


async def test_a_key_belongs_to_one_journey_and_one_change(api_stack: Stack) -> None:
    """The same key on another journey, or for another kind of change, is no reuse."""
    stack = api_stack
    structure = stack.people["sw"].reception_structure_id
    ids = []
    for first_name in ("Rose", "Lucien"):
        r = await post(
            stack,
            "/api/v1/referrals",
            "sw",
            key(),
            {
                "reception_structure_id": structure,
                "person": person(
                    first_name=first_name, phone=None, birth_year=None, preferred_channel="POST"
                ),
                "consent": CONSENT,
            },
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["journey_id"])
    shared = key()
    for jid, needs in zip(ids, (["EMAIL"], ["HEALTH"]), strict=True):
        r = await post(
            stack,
            f"/api/v1/journeys/{jid}/assessments",
            "sw",
            shared,
            {"tool": "PIX", "autonomy": "BEGINNER", "needs": needs},
        )
        assert r.status_code == 200, r.text
    r = await post(stack, f"/api/v1/journeys/{ids[0]}/booklet", "sw", shared)
    assert r.status_code == 200, r.text
