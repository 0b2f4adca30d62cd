"""Cheque refusals change nothing; retries and double submits redeem and refer once."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from domain import contracts as c
from domain.refusals import ChequeRefusal
from domain.serials import ChequeSerial, parse_serial
from domain.stages import ChequeStatus, Stage
from domain.validity import paris_day
from records.models import Cheque, Journey, NotificationOutbox, TransitionLog
from tests.fixtures.temporal import (
    COORDINATOR,
    MEDIATION,
    MEDIATOR,
    REFERRER,
    Journeys,
    entry_assessment,
    paris,
    session_request,
)


async def _in_training(
    j: Journeys, millesime: int | None = None
) -> tuple[WorkflowHandle[Any, Any], c.JourneyStatus]:
    handle, status = await j.start()
    now = await j.now()
    return handle, await j.to_training(handle, millesime or now.year)


def _snapshot(j: Journeys, journey_id: str) -> tuple[Any, ...]:
    """Everything the records hold about a journey."""
    with j.sessions() as session:
        journey = session.get(Journey, journey_id)
        assert journey is not None
        cheques = session.exec(select(Cheque).where(Cheque.journey_id == journey_id)).all()
        log = session.exec(select(TransitionLog).where(TransitionLog.journey_id == journey_id))
        outbox = session.exec(
            select(NotificationOutbox).where(NotificationOutbox.journey_id == journey_id)
        )
        return (
            journey.model_dump(),
            sorted((ch.serial, ch.status, ch.session_id) for ch in cheques),
            len(log.all()),
            len(outbox.all()),
        )


async def _refused(
    j: Journeys, handle: WorkflowHandle[Any, Any], request: c.SessionRequest
) -> tuple[str, list[dict[str, Any]]]:
    """Send a session that must be refused; check it changed nothing; return its verdicts."""
    status = await j.status(handle)
    before = _snapshot(j, status.journey_id)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await j.log_session(handle, request)
    cause = err.value.cause
    assert cause.type == "ChequesRefused"  # type: ignore[attr-defined]
    (details,) = cause.details  # type: ignore[attr-defined]
    assert await j.status(handle) == status
    assert _snapshot(j, status.journey_id) == before
    return cause.message, details["verdicts"]  # type: ignore[attr-defined]


async def test_each_kind_of_refused_cheque_changes_nothing(journeys: Journeys) -> None:
    j = journeys
    await j.next_january(10)
    handle, status = await _in_training(j)
    other_handle, other = await _in_training(j)
    mine = [ch.serial for ch in status.cheques]
    today = paris_day(await j.now())

    await j.log_session(handle, session_request(mine[:1], today - timedelta(days=1)))
    redeemed_on = today - timedelta(days=1)

    first = parse_serial(mine[1])
    mistyped = mine[1][:-1] + str((int(mine[1][-1]) + 1) % 10)
    swapped = mine[1][0] + mine[1][2] + mine[1][1] + mine[1][3:]  # 012 -> 021
    assert swapped != mine[1]
    other_programme = ChequeSerial(
        first.programme_code + 1, first.millesime, first.booklet_number, 2
    ).digits
    cases = [
        (mine[0], ChequeRefusal.ALREADY_REDEEMED, f"le {redeemed_on:%d/%m/%Y}"),
        (mistyped, ChequeRefusal.SERIAL_CHECK_DIGIT, "clé de contrôle"),
        (swapped, ChequeRefusal.SERIAL_CHECK_DIGIT, "clé de contrôle"),
        ("12-2026", ChequeRefusal.SERIAL_MALFORMED, "16 chiffres"),
        (other_programme, ChequeRefusal.OTHER_PROGRAMME, "autre programme"),
        (other.cheques[0].serial, ChequeRefusal.OTHER_BENEFICIARY, "autre bénéficiaire"),
    ]
    for serial, code, words in cases:
        message, verdicts = await _refused(j, handle, session_request([mine[2], serial], today))
        assert verdicts[0] == {"serial": mine[2], "accepted": True, "code": None, "message": None}
        assert verdicts[1]["code"] == code, serial
        assert words in verdicts[1]["message"]
        # The top-level message names the refused cheque and its reason.
        assert message == f"Séance non enregistrée. {verdicts[1]['message']}"

    # Typed twice in one session (in two spellings): the second is refused.
    spaced = "-".join([mine[2][:3], mine[2][3:7], mine[2][7:]])
    _, verdicts = await _refused(j, handle, session_request([mine[2], spaced], today))
    assert [v["code"] for v in verdicts] == [None, ChequeRefusal.DUPLICATE_IN_REQUEST]

    # Several refusals are all reported.
    message, verdicts = await _refused(j, handle, session_request([mine[0], mistyped], today))
    assert message == (
        f"Séance non enregistrée. {verdicts[0]['message']} "
        "Un autre chèque est aussi refusé : voir le détail."
    )

    # The other journey was not touched either.
    other_now = await j.status(other_handle)
    assert other_now.seq == other.seq
    assert {ch.status for ch in other_now.cheques} == {ChequeStatus.ISSUED}


async def test_cheque_before_its_millesime_is_refused(journeys: Journeys) -> None:
    j = journeys
    now = await j.now()
    await j.advance_to(
        paris(now.year, 12, 10) if now < paris(now.year, 12, 1) else paris(now.year + 1, 12, 10)
    )
    year = (await j.now()).year
    handle, status = await _in_training(j, millesime=year + 1)
    assert status.millesime == year + 1
    today = paris_day(await j.now())
    _, verdicts = await _refused(j, handle, session_request([status.cheques[0].serial], today))
    assert verdicts[0]["code"] == ChequeRefusal.NOT_YET_VALID
    assert f"01/01/{year + 1}" in verdicts[0]["message"]
    # From 1 January on, the same cheque is good.
    await j.advance_to(paris(year + 1, 1, 2))
    receipt = await j.log_session(
        handle, session_request([status.cheques[0].serial], date(year + 1, 1, 2))
    )
    assert receipt.verdicts[0].accepted


async def test_expired_cheques_are_refused_after_closure(journeys: Journeys) -> None:
    j = journeys
    start = await j.next_january(10)
    handle, status = await _in_training(j)
    jid = status.journey_id
    await j.advance_to(paris(start.year + 1, 2, 2))
    status = await j.settle(handle)
    assert status.stage == Stage.CLOSED
    _, verdicts = await _refused(
        j, handle, session_request([status.cheques[0].serial], date(start.year + 1, 2, 2))
    )
    assert verdicts[0]["code"] == ChequeRefusal.EXPIRED
    assert f"31/01/{start.year + 1}" in verdicts[0]["message"]
    with j.sessions() as session:
        rows = session.exec(select(Cheque).where(Cheque.journey_id == jid)).all()
        assert {row.status for row in rows} == {ChequeStatus.EXPIRED}


async def test_invalid_sessions_are_refused_before_the_cheques(journeys: Journeys) -> None:
    j = journeys
    await j.next_january(10)
    handle, status = await _in_training(j)
    serial = status.cheques[0].serial
    today = paris_day(await j.now())
    cases = [
        session_request([serial], today + timedelta(days=1)),
        session_request([serial], today, duration=0),
        session_request([serial], today, duration=8 * 60 + 1),
        session_request([], today),
        session_request([serial], today, structure=0),
    ]
    for request in cases:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await j.log_session(handle, request)
        assert err.value.cause.type == "InvalidInput"  # type: ignore[attr-defined]
    assert (await j.status(handle)).seq == status.seq


async def test_booklets_stop_30_days_before_the_millesime_ends(journeys: Journeys) -> None:
    j = journeys
    start = await j.next_january(5)  # 27 days before the end of last year's millésime
    handle, _ = await j.start()
    await j.update(handle, c.U_ASSESS, entry_assessment())
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year - 1))
    cause = err.value.cause
    assert cause.type == "MillesimeEnding"  # type: ignore[attr-defined]
    assert f"31/01/{start.year}" in cause.message  # type: ignore[attr-defined]
    assert f"02/01/{start.year}" in cause.message  # type: ignore[attr-defined]
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year + 2))
    assert err.value.cause.type == "InvalidInput"  # type: ignore[attr-defined]
    status = await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year))
    assert status.stage == Stage.BOOKLET_ISSUED


async def test_wrong_stage_updates_are_refused(journeys: Journeys) -> None:
    j = journeys
    await j.next_january(10)
    handle, status = await j.start()
    for name, arg in [
        (c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, 2030)),
        (c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION)),
        (c.U_LOG_SESSION, session_request(["x"], date(2030, 1, 1))),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await j.update(handle, name, arg)
        cause = err.value.cause
        assert cause.type == "WrongStage"  # type: ignore[attr-defined]
        assert "étape actuelle : Orienté vers le dispositif" in cause.message  # type: ignore[attr-defined]
    assert (await j.status(handle)).seq == status.seq == 1


# ---- idempotency ----


async def test_same_update_id_redeems_once(journeys: Journeys) -> None:
    j = journeys
    await j.next_january(10)
    handle, status = await _in_training(j)
    request = session_request([ch.serial for ch in status.cheques[:2]], paris_day(await j.now()))
    first = await j.log_session(handle, request, id="same")
    again = await j.log_session(handle, request, id="same")
    assert again == first
    now = await j.status(handle)
    assert now.seq == status.seq + 1
    assert len(now.sessions) == 1
    assert [ch.status for ch in now.cheques[:3]] == [
        ChequeStatus.REDEEMED,
        ChequeStatus.REDEEMED,
        ChequeStatus.ISSUED,
    ]


async def test_same_session_id_under_a_new_update_id_redeems_once(journeys: Journeys) -> None:
    j = journeys
    await j.next_january(10)
    handle, status = await _in_training(j)
    jid = status.journey_id
    request = session_request([ch.serial for ch in status.cheques[:2]], paris_day(await j.now()))
    first = await j.log_session(handle, request, id=str(uuid.uuid4()))
    before = _snapshot(j, jid)
    again = await j.log_session(handle, request, id=str(uuid.uuid4()))
    assert again.session_id == first.session_id
    assert again.verdicts == first.verdicts
    assert again.status.seq == first.status.seq
    assert _snapshot(j, jid) == before
    with j.sessions() as session:
        redeemed = session.exec(
            select(Cheque).where(Cheque.journey_id == jid, Cheque.session_id == request.session_id)
        ).all()
    assert len(redeemed) == 2


async def test_referral_submitted_twice_makes_one_journey(journeys: Journeys) -> None:
    j = journeys
    await j.next_january(10)
    journey_id = str(uuid.uuid4())
    _, first = await j.start(journey_id=journey_id, update_id="referral-form-1")
    _, again = await j.start(journey_id=journey_id, update_id="referral-form-1")
    assert again == first
    assert first.seq == 1
    with j.sessions() as session:
        assert len(session.exec(select(Journey).where(Journey.id == journey_id)).all()) == 1
    assert len(j.log(journey_id)) == 1
    assert len(j.outbox(journey_id)) == 2


async def test_a_locked_booklet_spends_nothing_until_a_coordinator_unlocks_it(
    journeys: Journeys,
) -> None:
    j = journeys
    handle, status = await _in_training(j)
    serials = [ch.serial for ch in status.cheques]
    today = paris_day(await j.now())
    # Only passnum locks (the API counts the wrong codes); only coordination unlocks.
    for actor in (MEDIATOR, REFERRER):
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await j.update(handle, c.U_LOCK_BOOKLET, c.LockBookletRequest(actor, 5))
        assert err.value.cause.type == "Forbidden"  # type: ignore[attr-defined]
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await j.update(handle, c.U_UNLOCK_BOOKLET, c.UnlockBookletRequest(COORDINATOR))
    assert "n'est pas bloqué" in err.value.cause.message  # type: ignore[attr-defined]

    locked = await j.update(handle, c.U_LOCK_BOOKLET, c.LockBookletRequest(c.SYSTEM, 5))
    assert locked.booklet_locked_at is not None
    again = await j.update(handle, c.U_LOCK_BOOKLET, c.LockBookletRequest(c.SYSTEM, 6))
    assert again.seq == locked.seq  # already locked: nothing recorded twice
    message, verdicts = await _refused(j, handle, session_request(serials[:2], today))
    assert [v["code"] for v in verdicts] == [ChequeRefusal.BOOKLET_LOCKED] * 2
    assert "carnet bloqué depuis le" in message
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await j.update(handle, c.U_UNLOCK_BOOKLET, c.UnlockBookletRequest(MEDIATOR))
    assert err.value.cause.type == "Forbidden"  # type: ignore[attr-defined]

    unlocked = await j.update(handle, c.U_UNLOCK_BOOKLET, c.UnlockBookletRequest(COORDINATOR))
    assert unlocked.booklet_locked_at is None
    receipt = await j.log_session(handle, session_request(serials[:2], today))
    assert all(v.accepted for v in receipt.verdicts)
    await j.settle(handle)
    actions = [e.action for e in j.log(status.journey_id)]
    assert actions.count("BOOKLET_LOCKED") == 1 and actions.count("BOOKLET_UNLOCKED") == 1
    with j.sessions() as session:
        notices = session.exec(
            select(NotificationOutbox).where(
                NotificationOutbox.journey_id == status.journey_id,
                NotificationOutbox.kind == "BOOKLET_LOCKED",
            )
        ).all()
    assert sorted(n.recipient for n in notices) == ["COORDINATORS", "REFERRER"]


async def test_a_second_booklet_request_says_a_booklet_exists(journeys: Journeys) -> None:
    j = journeys
    handle, status = await _in_training(j)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, status.millesime or 0))
    cause = err.value.cause
    assert cause.type == "BookletExists"  # type: ignore[attr-defined]
    assert cause.message.startswith(  # type: ignore[attr-defined]
        f"Un carnet a déjà été remis pour ce parcours (carnet n° {status.booklet_number}"
    )
