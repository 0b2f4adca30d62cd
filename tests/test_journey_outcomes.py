"""Whole journeys on the time-skipping server, one per outcome, checked against the records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from temporalio.client import WorkflowUpdateFailedError

from domain import contracts as c
from domain.notices import NoticeKind, Recipient
from domain.stages import Action, ChequeStatus, OrientationStatus, Outcome, Stage
from domain.validity import paris_day
from records.db import begin_write
from records.models import Beneficiary
from records.queries import register_beneficiary
from tests.fixtures.temporal import (
    MEDIATION,
    REFERRER,
    Journeys,
    about,
    entry_assessment,
    exit_assessment,
    paris,
    session_request,
)

# The days between referral and assessment, assessment and booklet, orientation and answer.
TO_TRAINING_PAUSES = (timedelta(days=2), timedelta(days=1), timedelta(days=3))


def _register(j: Journeys, journey_id: str) -> None:
    with j.sessions() as session:
        begin_write(session)  # reads then writes while activities write: take the lock first
        register_beneficiary(
            session,
            idempotency_key=journey_id,
            journey_id=journey_id,
            first_name="Josette",
            last_name="Vidal",
            preferred_channel="POST",
            consent_text="J'accepte.",
            consent_recorded_by="sw-1",
            birth_year=1947,
            postal_address="3 rue du Touat, 12000 Rodez",
        )
        session.commit()


async def test_all_cheques_spent_closes_completed_then_anonymised(journeys: Journeys) -> None:
    j = journeys
    start = await j.next_january()
    year = start.year
    handle, status = await j.start()
    jid = status.journey_id
    _register(j, jid)
    assert (status.stage, status.seq) == (Stage.REFERRED, 1)
    status = await j.to_training(handle, year, TO_TRAINING_PAUSES)
    assert status.stage == Stage.IN_TRAINING
    assert status.mediation_structure_id == MEDIATION
    assert status.valid_until == paris(year + 1, 2, 1, 0)
    serials = [ch.serial for ch in status.cheques]
    assert len(serials) == 10

    for pair in range(5):
        await j.advance(timedelta(days=14))
        day = paris_day(await j.now())
        receipt = await j.log_session(
            handle, session_request(serials[2 * pair : 2 * pair + 2], day)
        )
        assert all(v.accepted for v in receipt.verdicts)
    status = await j.settle(handle)
    assert (status.stage, status.outcome) == (Stage.CLOSED, Outcome.COMPLETED)
    assert {ch.status for ch in status.cheques} == {ChequeStatus.REDEEMED}
    assert status.cheques_left == 0

    assert j.actions(jid) == [
        Action.REFERRED,
        Action.ASSESSED,
        Action.BOOKLET_ISSUED,
        Action.ORIENTED,
        Action.ORIENTATION_ACCEPTED,
        *[Action.SESSION_LOGGED] * 5,
        Action.CLOSED,
    ]
    row = j.journey_row(jid)
    assert row is not None
    assert (row.stage, row.outcome) == (Stage.CLOSED, Outcome.COMPLETED)
    assert (row.cheques_total, row.cheques_redeemed, row.sessions_count) == (10, 10, 5)
    notices = [(n.kind, n.recipient) for n in j.outbox(jid)]
    assert notices == [
        (NoticeKind.REFERRAL_RECORDED, Recipient.BENEFICIARY),
        (NoticeKind.REFERRAL_RECORDED, Recipient.REFERRER),
        (NoticeKind.ORIENTATION_REQUEST, Recipient.MEDIATION_STRUCTURE),
        (NoticeKind.JOURNEY_CLOSED, Recipient.REFERRER),
        (NoticeKind.JOURNEY_CLOSED, Recipient.MEDIATION_STRUCTURE),
    ]
    assert j.outbox(jid)[2].detail["mediation_structure_id"] == str(MEDIATION)

    # The exit assessment is still welcome after closure, and is activity.
    await j.advance(timedelta(days=5))
    status = await j.update(handle, c.U_ASSESS, exit_assessment())
    assert status.exit_assessment is not None
    last_activity = status.last_activity_at
    assert last_activity is not None

    final = await j.finish(handle)
    assert final.stage == Stage.ANONYMISED
    log = j.log(jid)
    assert log[-1].action == Action.ANONYMISED
    assert log[-1].at == about(last_activity + timedelta(days=730))
    with j.sessions() as session:
        person = session.exec(select(Beneficiary).where(Beneficiary.journey_id == jid)).one()
        assert (person.first_name, person.postal_address, person.birth_year) == (None, None, 1940)
        assert person.anonymised_at == about(log[-1].at)


async def test_unspent_cheques_expire_after_three_warnings(journeys: Journeys) -> None:
    j = journeys
    start = await j.next_january()
    year = start.year
    handle, status = await j.start()
    jid = status.journey_id
    status = await j.to_training(handle, year, TO_TRAINING_PAUSES)
    serials = [ch.serial for ch in status.cheques]
    await j.advance_to(paris(year, 2, 1))
    await j.log_session(handle, session_request(serials[:3], paris_day(await j.now())))
    session_at = (await j.status(handle)).last_activity_at
    assert session_at is not None

    final = await j.finish(handle)
    assert final.stage == Stage.ANONYMISED
    assert final.outcome == Outcome.EXPIRED
    statuses = [ch.status for ch in final.cheques]
    assert statuses == [ChequeStatus.REDEEMED] * 3 + [ChequeStatus.EXPIRED] * 7

    end = paris(year + 1, 2, 1, 0)  # end of 31 January N+1, Paris
    timed = [(row.action, row.at, row.detail.get("days")) for row in j.log(jid)[6:]]
    assert timed == [
        (Action.STAGE_REMINDED, about(session_at + timedelta(days=30)), "30"),
        (Action.STALLED, about(session_at + timedelta(days=60)), "60"),
        (Action.EXPIRY_WARNED, about(end - timedelta(days=30)), "30"),
        (Action.EXPIRY_WARNED, about(end - timedelta(days=15)), "15"),
        (Action.EXPIRY_WARNED, about(end - timedelta(days=7)), "7"),
        (Action.CLOSED, about(end), None),
        (Action.ANONYMISED, about(session_at + timedelta(days=730)), "730"),
    ]
    warnings = [n for n in j.outbox(jid) if n.kind == NoticeKind.EXPIRY_WARNING]
    assert [(n.created_at, n.recipient, n.detail["days"]) for n in warnings] == [
        (about(end - timedelta(days=d)), r, str(d))
        for d in (30, 15, 7)
        for r in (Recipient.BENEFICIARY, Recipient.REFERRER, Recipient.MEDIATION_STRUCTURE)
    ]
    assert all(n.detail["cheques_left"] == "7" for n in warnings)
    closed = [n for n in j.outbox(jid) if n.kind == NoticeKind.JOURNEY_CLOSED]
    assert [(n.created_at, n.recipient) for n in closed] == [
        (about(end), Recipient.REFERRER),
        (about(end), Recipient.MEDIATION_STRUCTURE),
    ]
    stalled = [n for n in j.outbox(jid) if n.kind == NoticeKind.JOURNEY_STALLED]
    assert [n.recipient for n in stalled] == [Recipient.COORDINATORS]
    row = j.journey_row(jid)
    assert row is not None and row.stage == Stage.ANONYMISED and not row.stalled


async def test_withdrawal_cancels_cheques_and_pending_orientation(journeys: Journeys) -> None:
    j = journeys
    start = await j.next_january()
    handle, status = await j.start()
    jid = status.journey_id
    await j.advance(timedelta(days=1))
    await j.update(handle, c.U_ASSESS, entry_assessment())
    await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year))
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await j.update(handle, c.U_WITHDRAW, c.WithdrawRequest(REFERRER, "  "))
    assert refused.value.cause.type == "InvalidInput"  # type: ignore[attr-defined]

    await j.advance(timedelta(days=4))
    status = await j.update(
        handle, c.U_WITHDRAW, c.WithdrawRequest(REFERRER, "Déménagement hors du département")
    )
    assert (status.stage, status.outcome) == (Stage.CLOSED, Outcome.WITHDRAWN)
    assert {ch.status for ch in status.cheques} == {ChequeStatus.CANCELLED}
    assert status.orientation is not None
    assert status.orientation.status == OrientationStatus.CANCELLED
    withdrawn_at = status.last_activity_at
    assert withdrawn_at is not None

    log = j.log(jid)
    assert log[-1].action == Action.WITHDRAWN
    assert log[-1].reason == "Déménagement hors du département"
    assert (log[-1].from_stage, log[-1].to_stage) == (Stage.ORIENTED, Stage.CLOSED)
    closing = [(n.kind, n.recipient, n.detail.get("mediation_structure_id")) for n in j.outbox(jid)]
    assert closing[-2:] == [
        (NoticeKind.JOURNEY_CLOSED, Recipient.REFERRER, None),
        (NoticeKind.JOURNEY_CLOSED, Recipient.MEDIATION_STRUCTURE, str(MEDIATION)),
    ]

    for name, arg in [
        (c.U_WITHDRAW, c.WithdrawRequest(REFERRER, "encore")),
        (c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION)),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await j.update(handle, name, arg)
        assert refused.value.cause.type == "WrongStage"  # type: ignore[attr-defined]
    assert (await j.status(handle)).seq == status.seq

    final = await j.finish(handle)
    assert final.stage == Stage.ANONYMISED
    assert j.log(jid)[-1].at == about(withdrawn_at + timedelta(days=730))
