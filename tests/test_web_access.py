"""The access matrix of the JSON API: every route x every role x own scope / other scope /
anonymous, asserting the answer and that nothing changed.

One journey J is driven through its life by its rightful actors (social worker of the
referring structure, mediator of the structure it is oriented to, coordinators of its EPCI
and of the programme). Before each rightful step, every other caller tries the same step:
anonymous callers get 401, writes outside one's scope or role 403, reads outside scope 404,
and J, its records and the database stay as they were.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from domain.validity import paris_day
from records import models
from tests.fixtures.access import ANON, EVERYONE, headers, live_seq, settle, snapshot
from tests.fixtures.api import Stack

CONSENT = {"given": True, "text": "J'accepte que mes données servent à mon parcours."}
PERSON = {"first_name": "Marcel", "last_name": "Bras", "commune": "Rodez"}


async def refused(
    stack: Stack,
    method: str,
    path: str,
    expected: dict[str, int],
    *,
    body: Any = None,
    jid: str | None = None,
    key: bool = True,
) -> None:
    """Each caller of `expected` gets its status, and nothing changes."""
    if jid is not None:
        await settle(stack, jid)
        seq = await live_seq(stack, jid)
    before = snapshot(stack, jid)
    for who, status in expected.items():
        extra = {"Idempotency-Key": str(uuid.uuid4())} if key else {}
        r = await stack.http.request(
            method, path, json=body, headers={**headers(stack, who), **extra}
        )
        assert r.status_code == status, (who, method, path, r.status_code, r.text)
        if status in (401, 403, 404):
            assert "error" in r.json() and r.json()["error"]["message"], r.text
    assert snapshot(stack, jid) == before, f"{method} {path} changed something"
    if jid is not None:
        assert await live_seq(stack, jid) == seq


def refusals(allowed: set[str], write: bool) -> dict[str, int]:
    """The expected status of everyone but the `allowed` callers."""
    return {
        who: 401 if who == ANON else (403 if write else 404)
        for who in EVERYONE
        if who not in allowed
    }


async def reads(stack: Stack, jid: str, visible: set[str]) -> None:
    """Single reads answer 200 to `visible` callers, 404 (401 anonymous) to the others;
    lists hold J for exactly the `visible` callers."""
    await settle(stack, jid)
    before = snapshot(stack, jid)
    for path in (f"/api/v1/journeys/{jid}", f"/api/v1/journeys/{jid}/timeline"):
        for who in EVERYONE:
            r = await stack.http.get(path, headers=headers(stack, who))
            expected = 401 if who == ANON else (200 if who in visible else 404)
            assert r.status_code == expected, (who, path, r.text)
    for who in EVERYONE:
        r = await stack.http.get("/api/v1/journeys", headers=headers(stack, who))
        if who == ANON:
            assert r.status_code == 401
            continue
        assert r.status_code == 200, r.text
        ids = {item["id"] for item in r.json()["items"]}
        assert (jid in ids) == (who in visible), (who, ids)
    assert snapshot(stack, jid) == before


def session_body(structure: int, cheques: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "mediation_structure_id": structure,
        "day": paris_day(datetime.now(UTC)).isoformat(),
        "duration_minutes": 90,
        "kind": "INDIVIDUAL",
        "place": "ON_SITE",
        "themes": ["EMAIL"],
        "cheques": cheques,
    }


async def test_journey_routes_by_role_and_scope(api_stack: Stack) -> None:
    stack = api_stack
    people = stack.people
    own_reception = people["sw"].reception_structure_id
    med_structure = people["med"].mediation_structure_id
    other_structure = people["med_other"].mediation_structure_id
    assert own_reception and med_structure and other_structure

    # ---- referral: a social worker, for their own structure only ----
    referral = {"reception_structure_id": own_reception, "person": PERSON, "consent": CONSENT}
    await refused(stack, "POST", "/api/v1/referrals", refusals({"sw"}, write=True), body=referral)
    r = await stack.http.post(
        "/api/v1/referrals",
        json=referral,
        headers={**stack.auth("sw"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    jid = r.json()["journey_id"]
    base = f"/api/v1/journeys/{jid}"
    referrers = {"sw", "coord_epci", "coord_all"}
    await reads(stack, jid, referrers)

    # ---- entry assessment and booklet: the referring social worker ----
    assessment = {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL"]}
    await refused(
        stack, "POST", f"{base}/assessments", refusals({"sw"}, True), body=assessment, jid=jid
    )
    assert (
        await stack.http.post(f"{base}/assessments", json=assessment, headers=stack.auth("sw"))
    ).status_code == 200
    await refused(stack, "POST", f"{base}/booklet", refusals({"sw"}, True), jid=jid)
    r = await stack.http.post(f"{base}/booklet", headers=stack.auth("sw"))
    assert r.status_code == 200, r.text
    serials = [c["serial"] for c in r.json()["cheques"]]

    # ---- cheque lookup: everyone signed in learns the verdict; the journey behind it only
    # those who see the journey (a serial alone proves nothing: serials are sequential) ----
    await settle(stack, jid)
    for who in EVERYONE:
        r = await stack.http.get(f"/api/v1/cheques/{serials[0]}", headers=headers(stack, who))
        assert r.status_code == (401 if who == ANON else 200), (who, r.text)
        if who == ANON:
            continue
        found = r.json()
        assert found["verdict"] == "usable", (who, found)
        if who in referrers:
            assert found["details"]["journey_id"] == jid, (who, found)
        else:
            assert found["details"] is None and jid not in r.text, (who, found)

    # ---- orientation: the social worker; then the mediator sees J ----
    orient = {"mediation_structure_id": med_structure}
    await refused(
        stack, "POST", f"{base}/orientation", refusals({"sw"}, True), body=orient, jid=jid
    )
    r = await stack.http.post(f"{base}/orientation", json=orient, headers=stack.auth("sw"))
    assert r.status_code == 200, r.text
    await reads(stack, jid, referrers | {"med"})

    # ---- answer: the mediator of the structure it is oriented to, in its own name ----
    answer = {"mediation_structure_id": med_structure, "accept": True}
    await refused(
        stack, "POST", f"{base}/orientation/answer", refusals({"med"}, True), body=answer, jid=jid
    )
    await refused(
        stack,
        "POST",
        f"{base}/orientation/answer",
        {"med_other": 403},
        body={"mediation_structure_id": other_structure, "accept": True},
        jid=jid,
    )
    r = await stack.http.post(f"{base}/orientation/answer", json=answer, headers=stack.auth("med"))
    assert r.status_code == 200 and r.json()["stage"] == "IN_TRAINING", r.text

    # ---- sessions: mediators only, for their own structure; another structure's mediator
    # may redeem a cheque of J they hold, not act on J without one ----
    session = session_body(med_structure, stack.cheques(serials[:2]))
    await refused(
        stack,
        "POST",
        f"{base}/sessions",
        refusals({"med", "med_other"}, True),
        body=session,
        jid=jid,
    )
    unknown = serials[0][:-4] + "0000"  # not a cheque of J (nor, most likely, valid)
    await refused(
        stack,
        "POST",
        f"{base}/sessions",
        {"med_other": 403},
        body=session_body(other_structure, stack.cheques([unknown])),
        jid=jid,
    )
    await refused(stack, "POST", f"{base}/sessions", {"med_other": 403}, body=session, jid=jid)
    r = await stack.http.post(f"{base}/sessions", json=session, headers=stack.auth("med"))
    assert r.status_code == 201, r.text
    r = await stack.http.post(
        f"{base}/sessions",
        json=session_body(other_structure, stack.cheques(serials[2:3])),
        headers=stack.auth("med_other"),
    )
    assert r.status_code == 201, r.text  # the holder of a cheque of J redeems it
    # ... and their structure now trains J (the workflow records MEDIATOR_CHANGED).
    await reads(stack, jid, referrers | {"med_other"})

    # ---- exit assessment: the mediator of the structure training J ----
    exit_assessment = {"kind": "EXIT", "tool": "ABC_DIAG", "autonomy": "AUTONOMOUS", "needs": []}
    await refused(
        stack,
        "POST",
        f"{base}/assessments",
        refusals({"med_other"}, True),
        body=exit_assessment,
        jid=jid,
    )
    r = await stack.http.post(
        f"{base}/assessments", json=exit_assessment, headers=stack.auth("med_other")
    )
    assert r.status_code in (200, 409), r.text  # allowed; the workflow may find it early

    # ---- coordination: nudge, reorient, withdraw; coordinators of J's EPCI or programme ----
    coordinators = {"coord_epci", "coord_all"}
    await refused(stack, "POST", f"{base}/nudge", refusals(coordinators, True), jid=jid)
    r = await stack.http.post(f"{base}/nudge", headers=stack.auth("coord_epci"))
    assert r.status_code == 200, r.text
    with stack.sessions() as s:
        third = s.exec(
            select(models.MediationStructure.id).where(
                col(models.MediationStructure.id).not_in([med_structure, other_structure]),
                col(models.MediationStructure.aptic_qualified_until).is_(None),
            )
        ).first()
    reorient = {"mediation_structure_id": third, "reason": "Plus proche du domicile"}
    await refused(
        stack, "POST", f"{base}/reorient", refusals(coordinators, True), body=reorient, jid=jid
    )
    r = await stack.http.post(f"{base}/reorient", json=reorient, headers=stack.auth("coord_all"))
    assert r.status_code == 200, r.text
    withdraw = {"reason": "La personne a déménagé"}
    await refused(
        stack, "POST", f"{base}/withdraw", refusals(coordinators, True), body=withdraw, jid=jid
    )
    r = await stack.http.post(f"{base}/withdraw", json=withdraw, headers=stack.auth("coord_epci"))
    assert r.status_code == 200 and r.json()["stage"] == "CLOSED", r.text

    # ---- a journey that does not exist: 404 for reads and writes alike ----
    missing = f"/api/v1/journeys/{uuid.uuid4()}"
    await refused(stack, "GET", missing, {"coord_all": 404, ANON: 401}, key=False)
    await refused(stack, "POST", f"{missing}/nudge", {"coord_all": 404, ANON: 401})


async def test_account_routes_by_role(api_stack: Stack) -> None:
    stack = api_stack
    others = [who for who in EVERYONE if who not in ("admin", ANON)]

    for who in EVERYONE:
        for path in ("/api/v1/me", "/api/v1/structures"):
            r = await stack.http.get(path, headers=headers(stack, who))
            assert r.status_code == (401 if who == ANON else 200), (who, path)
    me = (await stack.http.get("/api/v1/me", headers=stack.auth("med"))).json()
    assert me["id"] == stack.people["med"].id and me["role"] == "MEDIATOR"
    assert me["csrf_token"] is None  # token calls need none

    target = stack.people["sw"].id
    refused_all = {**{who: 403 for who in others}, ANON: 401}
    await refused(stack, "GET", "/api/v1/accounts", refused_all, key=False)
    await refused(stack, "GET", f"/api/v1/accounts/{target}/tokens", refused_all, key=False)
    await refused(
        stack, "POST", f"/api/v1/accounts/{target}/tokens", refused_all, body={"label": "x"}
    )
    with stack.sessions() as s:
        token_id = s.exec(
            select(models.ApiToken.id).where(models.ApiToken.account_id == target)
        ).first()
    await refused(stack, "DELETE", f"/api/v1/tokens/{token_id}", refused_all, key=False)

    listed = await stack.http.get("/api/v1/accounts", headers=stack.auth("admin"))
    assert listed.status_code == 200
    assert {a["email"] for a in listed.json()} >= {p.email for p in stack.people.values()}
    await refused(
        stack, "GET", "/api/v1/accounts/999999/tokens", {"admin": 404}, key=False
    )  # unknown account
