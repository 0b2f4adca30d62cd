"""A lost booklet over real HTTP (API, worker, dev server): who may declare it, the same
request sent again, the lost cheques refused at the counter with the day, the replacement's
cheques spent with their own codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from domain.security_codes import display_code, new_code
from domain.serials import parse_serial
from domain.validity import format_date_fr, paris_day
from records import models
from tests.fixtures.access import headers, settle, snapshot
from tests.fixtures.api import Stack
from tests.test_api_journey_http import session_body, to_training
from tests.test_cheque_security import mails_to
from tests.test_web_access import refusals, refused


def _today() -> str:
    return paris_day(datetime.now(UTC)).isoformat()


def _body(booklet: int, **change: Any) -> dict[str, Any]:
    return {"booklet_number": booklet, "lost_on": _today(), "reason": "LOST"} | change


async def _declare(
    stack: Stack, jid: str, who: str, body: dict[str, Any], key: str | None = None
) -> Any:
    extra = {"Idempotency-Key": key} if key else {}
    return await stack.http.post(
        f"/api/v1/journeys/{jid}/booklet/lost", json=body, headers={**headers(stack, who), **extra}
    )


async def test_a_lost_booklet_over_the_api(api_stack: Stack) -> None:
    stack = api_stack
    mine = stack.people["med"].mediation_structure_id
    assert mine is not None
    journey = await to_training(stack, str(uuid.uuid4()), mine)
    jid, booklet = journey["journey_id"], journey["booklet_number"]
    old = [ch["serial"] for ch in journey["cheques"]]
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session_body(mine, stack.cheques(old[:2])),
        headers={**stack.auth("med"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    await settle(stack, jid)

    # Refused, changing nothing: every caller but the social worker of the structure and
    # the coordinators in scope (401, 403); then bad input.
    url = f"/api/v1/journeys/{jid}/booklet/lost"
    allowed = {"sw", "coord_epci", "coord_all"}
    await refused(stack, "POST", url, refusals(allowed, True), body=_body(booklet), jid=jid)
    before = snapshot(stack, jid)
    tomorrow = (paris_day(datetime.now(UTC)) + timedelta(days=1)).isoformat()
    r = await _declare(stack, jid, "sw", _body(booklet, lost_on=tomorrow))
    assert r.status_code == 422, r.text
    assert "ne peut pas être dans le futur" in r.json()["error"]["message"]
    r = await _declare(stack, jid, "sw", _body(booklet, reason="FORGOTTEN"))
    assert r.status_code == 422, r.text
    assert snapshot(stack, jid) == before

    # Declared by the social worker of the structure; sent again: the same answer.
    key = str(uuid.uuid4())
    r = await _declare(stack, jid, "sw", _body(booklet, reason="STOLEN"), key)
    assert r.status_code == 200, r.text
    replaced = r.json()
    new_booklet = replaced["booklet_number"]
    assert new_booklet != booklet and replaced["millesime"] == journey["millesime"]
    new = [ch["serial"] for ch in replaced["cheques"] if ch["status"] == "ISSUED"]
    assert len(new) == 8 and {parse_serial(s).booklet_number for s in new} == {new_booklet}
    again = await _declare(stack, jid, "sw", _body(booklet, reason="STOLEN"), key)
    assert again.status_code == 200 and again.json()["seq"] == replaced["seq"], again.text
    # The same key with another request; the same booklet under another key: 409.
    r = await _declare(stack, jid, "sw", _body(booklet, reason="LOST"), key)
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused"
    r = await _declare(stack, jid, "coord_epci", _body(booklet), str(uuid.uuid4()))
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict", r.text
    await settle(stack, jid)
    r = await stack.http.get(f"/api/v1/journeys/{jid}/timeline", headers=stack.auth("sw"))
    assert [e["action"] for e in r.json()].count("BOOKLET_LOST") == 1

    # Told once each: the referrer (the slip to hand over), the training structure.
    referrer = await mails_to(stack, stack.people["sw"].email, "bordereau à remettre")
    assert len(referrer) == 1
    with stack.sessions() as s:
        structure = s.get(models.MediationStructure, mine)
        assert structure is not None and structure.email
    assert len(await mails_to(stack, structure.email, "annulé et remplacé")) == 1

    # At the counter: a lost cheque (right code or not) is refused with the day, and no
    # wrong code is counted for it; a replacement cheque is spent with its own code.
    lost_serial = old[4]
    shown = parse_serial(lost_serial).display
    wrong = [{"serial": lost_serial, "code": display_code(new_code())}]
    for cheques in (stack.cheques([lost_serial]), wrong):
        r = await stack.http.post(
            f"/api/v1/journeys/{jid}/sessions",
            json=session_body(mine, cheques),
            headers={**stack.auth("med"), "Idempotency-Key": str(uuid.uuid4())},
        )
        assert r.status_code == 422, r.text
        (verdict,) = r.json()["error"]["details"]["verdicts"]
        assert verdict["code"] == "declared_lost"
        today = format_date_fr(paris_day(datetime.now(UTC)))
        assert verdict["message"].startswith(f"Chèque {shown} déclaré volé le {today}")
    with stack.sessions() as s:
        assert not s.exec(
            select(models.ChequeCodeFailure).where(models.ChequeCodeFailure.journey_id == jid)
        ).all()
    # A mediator elsewhere holding the stolen booklet learns nothing of the journey.
    r = await stack.http.post(
        "/api/v1/cheques/verify",
        json=stack.cheques([lost_serial])[0],
        headers=stack.auth("med_other"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "cancelled" and jid not in r.text
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session_body(mine, stack.cheques(new[:1])),
        headers={**stack.auth("med"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text

    # A coordinator in scope may declare the replacement lost in turn.
    r = await _declare(stack, jid, "coord_epci", _body(new_booklet), str(uuid.uuid4()))
    assert r.status_code == 200, r.text
    assert sum(1 for ch in r.json()["cheques"] if ch["status"] == "ISSUED") == 7
