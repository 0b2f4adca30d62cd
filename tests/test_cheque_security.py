"""Cheques only their holder can spend, over real HTTP (API, worker, dev server).

The attack found from outside: a mediator of another structure looked a serial up, got the
journey id, logged a session with the computed serials and took the journey over. Each step
of that chain is refused here; the person's own choice of another qualified place (with the
codes printed on their slip) is recorded and told; wrong codes lock the booklet.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from domain.security_codes import display_code, new_code
from domain.serials import ChequeSerial, parse_serial
from domain.validity import paris_day
from records import models
from tests.fixtures.access import settle
from tests.fixtures.api import Stack
from tests.test_api_journey_http import to_training
from tests.test_pages_mediation import signed_in


def session(structure: int | None, cheques: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "mediation_structure_id": structure,
        "day": paris_day(datetime.now(UTC)).isoformat(),
        "duration_minutes": 90,
        "cheques": cheques,
        **extra,
    }


def wrong(serial: str) -> dict[str, str]:
    """The serial with a well-formed code that is not its own (its check character is right)."""
    return {"serial": serial, "code": display_code(new_code())}


async def trained_journey(stack: Stack) -> tuple[str, list[str]]:
    """A journey in training with the demo mediator's structure ("med")."""
    mine = stack.people["med"].mediation_structure_id
    assert mine is not None
    journey = await to_training(stack, str(uuid.uuid4()), mine)
    return journey["journey_id"], [c["serial"] for c in journey["cheques"]]


async def live(stack: Stack, jid: str) -> dict[str, Any]:
    r = await stack.http.get(f"/api/v1/journeys/{jid}", headers=stack.auth("coord_all"))
    assert r.status_code == 200, r.text
    return r.json()


def failures(stack: Stack, jid: str) -> list[models.ChequeCodeFailure]:
    with stack.sessions() as s:
        return list(
            s.exec(
                select(models.ChequeCodeFailure).where(models.ChequeCodeFailure.journey_id == jid)
            ).all()
        )


async def mails_to(stack: Stack, address: str, subject: str, within: float = 20) -> list[str]:
    """Subjects of the mails filed for `address` containing `subject` (waits for them)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        with stack.sessions() as s:
            found = [
                m.subject
                for m in s.exec(select(models.MailboxMessage)).all()
                if address in m.recipients and subject in m.subject
            ]
        if found or loop.time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_serial_alone_neither_reveals_a_journey_nor_spends_a_cheque(
    api_stack: Stack,
) -> None:
    stack = api_stack
    jid, serials = await trained_journey(stack)
    other = stack.people["med_other"].mediation_structure_id
    mine = stack.people["med"].mediation_structure_id
    before = await live(stack, jid)

    # 1. Looking a serial up from another structure: the verdict, nothing of the journey.
    r = await stack.http.get(f"/api/v1/cheques/{serials[3]}", headers=stack.auth("med_other"))
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "usable" and r.json()["details"] is None
    assert jid not in r.text
    # A serial that was never issued is only "unknown", to anyone.
    issued = parse_serial(serials[0])
    unknown = ChequeSerial(issued.programme_code, issued.millesime, 999_999, 1).display
    r = await stack.http.get(f"/api/v1/cheques/{unknown}", headers=stack.auth("med_other"))
    assert r.status_code == 200 and r.json()["verdict"] == "unknown", r.text

    # 2. Spending it with the serial alone, even knowing the journey: refused, nothing counted
    # (no code was tried) and nothing changed.
    no_code = [{"serial": s, "code": ""} for s in serials[3:5]]
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session(other, no_code),
        headers={**stack.auth("med_other"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 403, r.text
    assert jid not in r.text
    # The journey's own mediator is told precisely what is missing.
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session(mine, no_code[:1]),
        headers=stack.auth("med"),
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["details"]["verdicts"][0]["code"] == "code_missing"
    assert error["message"].startswith(
        f"Séance non enregistrée. Chèque {parse_serial(serials[3]).display} : Saisissez aussi "
        "le code de sécurité"
    )
    # A mistyped code (its check character) is told apart from a wrong one and not counted.
    code = stack.codes(serials[3:4])[0]
    mistyped = code[:-1] + ("A" if code[-1] != "A" else "B")
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session(mine, [{"serial": serials[3], "code": mistyped}]),
        headers=stack.auth("med"),
    )
    assert r.status_code == 422 and "code_mistyped" in r.text, r.text
    assert failures(stack, jid) == []
    # A wrong code from the other structure: told as such (no more), and counted.
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session(other, [wrong(serials[3])]),
        headers=stack.auth("med_other"),
    )
    assert r.status_code == 422, r.text
    assert [v["code"] for v in r.json()["error"]["details"]["verdicts"]] == ["code_wrong"]
    assert len(failures(stack, jid)) == 1

    # Nothing changed: same cheques, same structure, no session.
    after = await live(stack, jid)
    assert after["cheques"] == before["cheques"] and after["sessions"] == []
    assert after["mediation_structure_id"] == mine
    r = await stack.http.get(f"/api/v1/journeys/{jid}", headers=stack.auth("med_other"))
    assert r.status_code == 404


async def test_wrong_codes_lock_the_booklet_and_tell_the_coordinators(api_stack: Stack) -> None:
    stack = api_stack
    jid, serials = await trained_journey(stack)
    other = stack.people["med_other"].mediation_structure_id
    mine = stack.people["med"].mediation_structure_id
    limit = stack.settings.cheque_code_max_failures

    # The same wrong code checked again (each scan re-checks the list) counts once...
    same = wrong(serials[0])
    for _ in range(3):
        r = await stack.http.post(
            "/api/v1/cheques/verify", json=same, headers=stack.auth("med_other")
        )
        assert r.status_code == 200 and r.json()["code_ok"] is False, r.text
        assert r.json()["details"] is None and jid not in r.text
    assert len(failures(stack, jid)) == 1
    # ... distinct wrong codes count each, up to the limit, which locks the booklet.
    for n in range(2, limit + 1):
        r = await stack.http.post(
            f"/api/v1/journeys/{jid}/sessions",
            json=session(other, [wrong(serials[n % 10])]),
            headers=stack.auth("med_other"),
        )
        assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert "il est désormais bloqué et la coordination est prévenue" in message, message
    status = await live(stack, jid)
    assert status["booklet_locked_at"] is not None

    # Locked: even the right codes at the person's own structure are refused, in French.
    right = stack.cheques(serials[:1])
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions", json=session(mine, right), headers=stack.auth("med")
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]["verdicts"][0]["code"] == "booklet_locked"
    assert "carnet bloqué depuis le" in r.json()["error"]["message"]
    r = await stack.http.get(f"/api/v1/cheques/{serials[1]}", headers=stack.auth("med_other"))
    assert r.json()["verdict"] == "locked"

    # The coordinators of the journey's territory and its referrer are told at once.
    coordinator = stack.people["coord_all"].email
    assert await mails_to(stack, coordinator, "Carnet bloqué après des codes de sécurité")
    assert await mails_to(stack, stack.people["sw"].email, "bloqué")
    timeline = (
        await stack.http.get(f"/api/v1/journeys/{jid}/timeline", headers=stack.auth("sw"))
    ).json()
    assert [t["action"] for t in timeline].count("BOOKLET_LOCKED") == 1

    # Only a coordinator unlocks it; then the right code spends the cheque again.
    r = await stack.http.post(f"/api/v1/journeys/{jid}/booklet/unlock", headers=stack.auth("med"))
    assert r.status_code == 403, r.text
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/booklet/unlock", headers=stack.auth("coord_all")
    )
    assert r.status_code == 200 and r.json()["booklet_locked_at"] is None, r.text
    await settle(stack, jid)
    assert all(f.cleared_at is not None for f in failures(stack, jid))
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions", json=session(mine, right), headers=stack.auth("med")
    )
    assert r.status_code == 201, r.text
    # Unlocking what is not locked: a clear refusal.
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/booklet/unlock", headers=stack.auth("coord_all")
    )
    assert r.status_code == 409 and "n'est pas bloqué" in r.text, r.text


async def test_the_person_chooses_another_place_recorded_and_told(api_stack: Stack) -> None:
    stack = api_stack
    jid, serials = await trained_journey(stack)
    other = stack.people["med_other"].mediation_structure_id
    mine = stack.people["med"].mediation_structure_id
    first = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session(mine, stack.cheques(serials[:1])),
        headers=stack.auth("med"),
    )
    assert first.status_code == 201, first.text
    first_session = first.json()["session_id"]

    # The person brings their slip elsewhere: the right code tells that structure the journey.
    r = await stack.http.post(
        "/api/v1/cheques/verify",
        json=stack.cheques(serials[1:2])[0],
        headers=stack.auth("med_other"),
    )
    assert r.status_code == 200 and r.json()["code_ok"] is True, r.text
    assert r.json()["details"]["journey_id"] == jid
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session(other, stack.cheques(serials[1:3])),
        headers=stack.auth("med_other"),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"]["mediation_structure_id"] == other
    # The answer shows what that structure may now read, no more: the same as a GET.
    mine_now = await stack.http.get(f"/api/v1/journeys/{jid}", headers=stack.auth("med_other"))
    assert mine_now.status_code == 200
    assert mine_now.json()["sessions"] == body["status"]["sessions"]

    # Never silent: the timeline says so, and the previous structure gets a mail.
    await settle(stack, jid)
    with stack.sessions() as s:
        log = s.exec(
            select(models.TransitionLog)
            .where(models.TransitionLog.journey_id == jid)
            .order_by(col(models.TransitionLog.seq))
        ).all()
        names = {
            m.id: m.name
            for m in s.exec(
                select(models.MediationStructure).where(
                    col(models.MediationStructure.id).in_([mine, other])
                )
            )
        }
    change = log[-1]
    assert change.action == "SESSION_LOGGED"
    assert change.detail["extra_action"] == "MEDIATOR_CHANGED"
    assert change.detail["previous_mediation_structure_id"] == str(mine)
    mediator = stack.people["med"].email
    assert await mails_to(stack, mediator, "poursuit sa formation dans une autre structure")
    async with signed_in(stack, stack.people["sw"].email) as http:
        page = await http.get(f"/accompagnement/parcours/{jid}")
        assert page.status_code == 200
        assert (
            f"Changement de structure de médiation : la personne a choisi {names[other]} "
            f"(auparavant {names[mine]})"
        ) in page.text.replace("&#39;", "'")

    # The previous structure keeps its own session's receipt (where its mail's link leads),
    # and nothing more.
    async with signed_in(stack) as http:
        link = await http.get(f"/parcours/{jid}")
        assert link.status_code == 303
        assert link.headers["location"] == f"/mediation/parcours/{jid}/seances/{first_session}"
        receipt = await http.get(f"/mediation/parcours/{jid}/seances/{first_session}")
        assert receipt.status_code == 200, receipt.text
        assert (await http.get(f"/mediation/parcours/{jid}/seance")).status_code == 404
    r = await stack.http.get(f"/api/v1/journeys/{jid}", headers=stack.auth("med"))
    assert r.status_code == 404


async def test_a_session_id_used_again_for_other_cheques_is_409(api_stack: Stack) -> None:
    stack = api_stack
    jid, serials = await trained_journey(stack)
    mine = stack.people["med"].mediation_structure_id
    session_id = str(uuid.uuid4())
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session(mine, stack.cheques(serials[:1]), session_id=session_id),
        headers=stack.auth("med"),
    )
    assert r.status_code == 201, r.text
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session(mine, stack.cheques(serials[1:2]), session_id=session_id),
        headers=stack.auth("med"),
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused", r.text
    cheques = {c["serial"]: c["status"] for c in (await live(stack, jid))["cheques"]}
    assert cheques[serials[0]] == "REDEEMED" and cheques[serials[1]] == "ISSUED"


async def test_the_slip_prints_each_code_and_settles_a_reprint(api_stack: Stack) -> None:
    stack = api_stack
    jid, serials = await trained_journey(stack)
    codes = stack.codes(serials)
    assert all(codes) and len(set(codes)) == len(codes)
    # As `passnum migrate` leaves a booklet issued before security codes existed.
    with stack.sessions() as s:
        booklet = s.exec(
            select(models.BookletAllocation).where(models.BookletAllocation.journey_id == jid)
        ).one()
        booklet.slip_to_reprint_since = datetime.now(UTC)
        s.add(booklet)
        s.commit()
    async with signed_in(stack, stack.people["sw"].email) as http:
        page = (await http.get(f"/accompagnement/parcours/{jid}")).text
        assert "imprimez le nouveau bordereau" in page
        assert not any(code in page for code in codes)  # codes only on the slip
        slip = (await http.get(f"/accompagnement/parcours/{jid}/bordereau")).text
        assert "Nouveau bordereau : les chèques portent désormais un code de sécurité" in slip
        for serial, code in zip(serials, codes, strict=True):
            assert f"{parse_serial(serial).display}</span>" in slip
            assert f'<strong class="code">{code}</strong>' in slip
        assert slip.count('<svg class="barcode"') == len(serials)
        page = (await http.get(f"/accompagnement/parcours/{jid}")).text
        assert "imprimez le nouveau bordereau" not in page
    # Another structure's mediator cannot print it.
    async with signed_in(stack) as http:
        r = await http.get(f"/accompagnement/parcours/{jid}/bordereau")
        assert r.status_code == 403 and not any(code in r.text for code in codes)


async def test_answers_show_only_what_the_caller_may_read(api_stack: Stack) -> None:
    """A mediator declining an orientation no longer sees the journey: the answer to the
    decline does not show its cheques or assessments either (while an accept does)."""
    stack = api_stack
    mine = stack.people["med"].mediation_structure_id
    for accept in (True, False):
        sw = stack.auth("sw")
        r = await stack.http.post(
            "/api/v1/referrals",
            json={
                "reception_structure_id": stack.people["sw"].reception_structure_id,
                "person": {"first_name": "Rose", "last_name": f"Cayla {uuid.uuid4().hex[:8]}"},
                "consent": {"given": True, "text": "J'accepte."},
            },
            headers={**sw, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert r.status_code == 201, r.text
        jid = r.json()["journey_id"]
        base = f"/api/v1/journeys/{jid}"
        assessment = {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL"]}
        assert (
            await stack.http.post(f"{base}/assessments", json=assessment, headers=sw)
        ).is_success
        assert (await stack.http.post(f"{base}/booklet", headers=sw)).is_success
        r = await stack.http.post(
            f"{base}/orientation", json={"mediation_structure_id": mine}, headers=sw
        )
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = {"mediation_structure_id": mine, "accept": accept}
        if not accept:
            answer["decline_reason"] = "NO_CAPACITY"
        r = await stack.http.post(
            f"{base}/orientation/answer", json=answer, headers=stack.auth("med")
        )
        assert r.status_code == 200, r.text
        body = r.json()
        after = await stack.http.get(base, headers=stack.auth("med"))
        if accept:
            assert len(body["cheques"]) == 10 and after.status_code == 200
        else:
            assert body["stage"] == "BOOKLET_ISSUED" and after.status_code == 404
            assert body["cheques"] == [] and body["entry_assessment"] is None
            assert body["referrer"]["ref"] == "" and body["booklet_number"] is None


async def test_lookups_refuse_digits_of_other_scripts_in_french(api_stack: Stack) -> None:
    stack = api_stack
    typed = "²" * 16
    async with signed_in(stack) as http:
        r = await http.get("/mediation/cheque", params={"numero": typed})
        assert r.status_code == 422 and "seuls des chiffres sont attendus" in r.text
    async with signed_in(stack, stack.people["coord_all"].email) as http:
        r = await http.get("/coordination/cheques", params={"numero": typed})
        assert r.status_code == 422 and "seuls des chiffres sont attendus" in r.text
    r = await stack.http.get(f"/api/v1/cheques/{typed}", headers=stack.auth("med"))
    assert r.status_code == 422


async def test_the_pages_show_a_locked_booklet_and_the_coordinator_unlocks_it(
    api_stack: Stack,
) -> None:
    stack = api_stack
    jid, serials = await trained_journey(stack)
    other = stack.people["med_other"].mediation_structure_id
    for n in range(stack.settings.cheque_code_max_failures):
        r = await stack.http.post(
            f"/api/v1/journeys/{jid}/sessions",
            json=session(other, [wrong(serials[n])]),
            headers=stack.auth("med_other"),
        )
        assert r.status_code == 422, r.text
    await settle(stack, jid)
    async with signed_in(stack, stack.people["sw"].email) as http:
        page = (await http.get(f"/accompagnement/parcours/{jid}")).text
        assert "Carnet bloqué depuis le" in page and "la coordination du programme" in page
    async with signed_in(stack, stack.people["coord_all"].email) as http:
        page = (await http.get(f"/coordination/parcours/{jid}")).text
        assert "Carnet bloqué depuis le" in page and "Débloquer le carnet" in page
        form = re.search(
            r'action="/coordination/parcours/[^"]+/debloquer".*?name="csrf_token" '
            r'value="([^"]+)".*?name="form_id" value="([^"]+)"',
            page,
            re.S,
        )
        assert form, page
        url = f"/coordination/parcours/{jid}/debloquer"
        r = await http.post(url, data={"csrf_token": form[1], "form_id": form[2]})
        assert r.status_code == 303 and r.headers["location"].endswith("?fait=deblocage")
        page = (await http.get(r.headers["location"])).text
        assert "Le carnet est débloqué" in page and "Débloquer le carnet" not in page
        # The same form again: answered as the first time, nothing recorded twice.
        again = await http.post(url, data={"csrf_token": form[1], "form_id": form[2]})
        assert again.status_code == 303
    timeline = (
        await stack.http.get(f"/api/v1/journeys/{jid}/timeline", headers=stack.auth("sw"))
    ).json()
    assert [t["action"] for t in timeline].count("BOOKLET_UNLOCKED") == 1
