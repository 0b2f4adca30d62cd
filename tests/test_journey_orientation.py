"""Orientation answers, their calendar, stall policy and coordinators' actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain import contracts as c
from domain.notices import NoticeKind, Recipient
from domain.stages import Action, DeclineReason, OrientationStatus, Stage
from domain.validity import paris_day
from tests.fixtures.temporal import (
    COORDINATOR,
    MEDIATION,
    MEDIATOR,
    OTHER_MEDIATION,
    OTHER_MEDIATOR,
    REFERRER,
    Journeys,
    about,
    entry_assessment,
    session_request,
)


def _failure(err: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> tuple[str, str]:
    cause = err.value.cause
    return cause.type, cause.message  # type: ignore[attr-defined]


async def _booklet_issued(j: Journeys):  # noqa: ANN202 - (handle, status)
    start = await j.next_january()
    handle, status = await j.start()
    await j.update(handle, c.U_ASSESS, entry_assessment())
    status = await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year))
    return handle, status


async def test_declined_orientation_goes_back_then_reorientation_is_accepted(
    journeys: Journeys,
) -> None:
    j = journeys
    handle, status = await _booklet_issued(j)
    jid = status.journey_id
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))
    await j.advance(timedelta(days=2))

    refusals = [
        (c.OrientationAnswer(OTHER_MEDIATOR, OTHER_MEDIATION, accept=True), "WrongStructure"),
        (c.OrientationAnswer(MEDIATOR, MEDIATION, accept=False), "InvalidInput"),
    ]
    for answer, code in refusals:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await j.update(handle, c.U_ANSWER_ORIENTATION, answer)
        assert _failure(err)[0] == code

    status = await j.update(
        handle,
        c.U_ANSWER_ORIENTATION,
        c.OrientationAnswer(
            MEDIATOR, MEDIATION, accept=False, decline_reason=DeclineReason.NO_CAPACITY
        ),
    )
    assert status.stage == Stage.BOOKLET_ISSUED
    assert status.orientation is not None
    assert status.orientation.status == OrientationStatus.DECLINED
    assert status.orientation.decline_reason == DeclineReason.NO_CAPACITY
    assert status.mediation_structure_id is None
    declined = j.outbox(jid)[-1]
    assert (declined.kind, declined.recipient) == (
        NoticeKind.ORIENTATION_DECLINED,
        Recipient.REFERRER,
    )
    assert declined.detail["decline_reason"] == DeclineReason.NO_CAPACITY
    log = j.log(jid)[-1]
    assert (log.action, log.reason) == (Action.ORIENTATION_DECLINED, "Plus de place disponible")

    await j.advance(timedelta(days=1))
    status = await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, OTHER_MEDIATION))
    assert status.stage == Stage.ORIENTED
    status = await j.update(
        handle,
        c.U_ANSWER_ORIENTATION,
        c.OrientationAnswer(OTHER_MEDIATOR, OTHER_MEDIATION, accept=True),
    )
    assert status.stage == Stage.IN_TRAINING
    assert status.mediation_structure_id == OTHER_MEDIATION
    assert j.actions(jid)[-4:] == [
        Action.ORIENTED,
        Action.ORIENTATION_DECLINED,
        Action.ORIENTED,
        Action.ORIENTATION_ACCEPTED,
    ]
    row = j.journey_row(jid)
    assert row is not None
    assert (row.stage, row.mediation_structure_id) == (Stage.IN_TRAINING, OTHER_MEDIATION)


async def test_unanswered_orientation_is_reminded_then_expires_stalled(
    journeys: Journeys,
) -> None:
    j = journeys
    handle, status = await _booklet_issued(j)
    jid = status.journey_id
    status = await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))
    oriented_at = status.last_activity_at
    assert oriented_at is not None

    await j.advance(timedelta(days=10, hours=1))
    status = await j.settle(handle)
    assert status.stage == Stage.ORIENTED
    assert status.orientation is not None and status.orientation.reminded
    reminders = [n for n in j.outbox(jid) if n.kind == NoticeKind.ORIENTATION_REMINDER]
    assert [(n.recipient, n.created_at) for n in reminders] == [
        (Recipient.MEDIATION_STRUCTURE, about(oriented_at + timedelta(days=10))),
        (Recipient.REFERRER, about(oriented_at + timedelta(days=10))),
    ]
    assert reminders[0].detail["mediation_structure_id"] == str(MEDIATION)

    await j.advance(timedelta(days=20))
    status = await j.settle(handle)
    assert status.stage == Stage.BOOKLET_ISSUED
    assert status.orientation is not None
    assert status.orientation.status == OrientationStatus.EXPIRED
    assert status.stalled
    assert status.stalled_reason == "Orientation restée sans réponse 30 jours"
    assert status.stalled_since == about(oriented_at + timedelta(days=30))
    assert j.actions(jid)[-2:] == [Action.ORIENTATION_REMINDED, Action.ORIENTATION_EXPIRED]
    last = [(n.kind, n.recipient) for n in j.outbox(jid)][-2:]
    assert last == [
        (NoticeKind.ORIENTATION_EXPIRED, Recipient.REFERRER),
        (NoticeKind.JOURNEY_STALLED, Recipient.COORDINATORS),
    ]
    row = j.journey_row(jid)
    assert row is not None
    assert (row.stage, row.stalled, row.orientation_status) == (
        Stage.BOOKLET_ISSUED,
        True,
        OrientationStatus.EXPIRED,
    )

    # No duplicate stage reminder for the same silence; a new orientation clears the flag.
    await j.advance(timedelta(days=5))
    assert (await j.status(handle)).seq == status.seq
    status = await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, OTHER_MEDIATION))
    assert (status.stage, status.stalled, status.stalled_reason) == (Stage.ORIENTED, False, None)
    row = j.journey_row(jid)
    assert row is not None and not row.stalled


async def test_stall_at_referral_reminds_flags_and_an_assessment_clears(
    journeys: Journeys,
) -> None:
    j = journeys
    await j.next_january()
    handle, status = await j.start()
    jid = status.journey_id
    referred_at = status.last_activity_at
    assert referred_at is not None

    await j.advance(timedelta(days=10, hours=1))
    status = await j.settle(handle)
    assert not status.stalled
    assert j.actions(jid) == [Action.REFERRED, Action.STAGE_REMINDED]
    reminder = j.outbox(jid)[-1]
    assert (reminder.kind, reminder.recipient) == (NoticeKind.STAGE_REMINDER, Recipient.REFERRER)
    assert reminder.created_at == about(referred_at + timedelta(days=10))

    await j.advance(timedelta(days=10))
    status = await j.settle(handle)
    assert status.stalled
    assert status.stalled_reason == "Aucun diagnostic 20 jours après l'orientation"
    stalled = j.outbox(jid)[-1]
    assert (stalled.kind, stalled.recipient) == (NoticeKind.JOURNEY_STALLED, Recipient.COORDINATORS)
    assert stalled.created_at == about(referred_at + timedelta(days=20))
    row = j.journey_row(jid)
    assert row is not None and row.stalled
    assert row.stalled_reason == "Aucun diagnostic 20 jours après l'orientation"

    # A coordinator's nudge reaches whoever must act and leaves the flag.
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await j.update(handle, c.U_NUDGE, c.NudgeRequest(REFERRER, "?"))
    assert _failure(err)[0] == "Forbidden"
    status = await j.update(handle, c.U_NUDGE, c.NudgeRequest(COORDINATOR, "Merci de relancer"))
    assert status.stalled
    nudge = j.outbox(jid)[-1]
    assert (nudge.kind, nudge.recipient) == (NoticeKind.NUDGE, Recipient.REFERRER)
    assert nudge.detail["message"] == "Merci de relancer"
    assert j.log(jid)[-1].action == Action.NUDGED

    # Nothing more while it stays stalled: one reminder and one flag per silence.
    await j.advance(timedelta(days=40))
    assert (await j.status(handle)).seq == status.seq

    status = await j.update(handle, c.U_ASSESS, entry_assessment())
    assert (status.stage, status.stalled, status.stalled_since) == (Stage.ASSESSED, False, None)
    row = j.journey_row(jid)
    assert row is not None and not row.stalled and row.stalled_reason is None
    # The clock restarts from the assessment.
    await j.advance(timedelta(days=10, hours=1))
    await j.settle(handle)
    assert j.actions(jid)[-2:] == [Action.ASSESSED, Action.STAGE_REMINDED]


async def test_an_assessed_journey_stalls_20_days_after_its_assessment_not_before(
    journeys: Journeys,
) -> None:
    """The default ASSESSED stall (20 days, domain/policy.py), as the workflow's timers run
    it: not flagged an hour before, flagged a minute after (19 or 21 days would fail)."""
    j = journeys
    await j.next_january()
    handle, _ = await j.start()
    status = await j.update(handle, c.U_ASSESS, entry_assessment())
    jid = status.journey_id
    assessed_at = status.last_activity_at
    assert status.stage == Stage.ASSESSED and assessed_at is not None

    await j.advance_to(assessed_at + timedelta(days=20) - timedelta(hours=1))
    status = await j.settle(handle)
    assert not status.stalled
    assert j.actions(jid)[-2:] == [Action.ASSESSED, Action.STAGE_REMINDED]  # at 10 days

    await j.advance_to(assessed_at + timedelta(days=20, minutes=1))
    status = await j.settle(handle)
    assert status.stalled and status.stalled_since == about(assessed_at + timedelta(days=20))
    assert status.stalled_reason == "Aucun carnet remis 20 jours après le diagnostic"
    assert j.actions(jid)[-1] == Action.STALLED


async def test_coordinator_reorients_a_trainee_and_a_session_elsewhere_changes_mediator(
    journeys: Journeys,
) -> None:
    j = journeys
    handle, status = await _booklet_issued(j)
    jid = status.journey_id
    serials = [ch.serial for ch in status.cheques]
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))
    status = await j.update(
        handle, c.U_ANSWER_ORIENTATION, c.OrientationAnswer(MEDIATOR, MEDIATION, accept=True)
    )
    first_orientation = status.orientation
    assert first_orientation is not None

    bad = [
        (c.OrientRequest(REFERRER, OTHER_MEDIATION, "trop loin"), "Forbidden"),
        (c.OrientRequest(COORDINATOR, OTHER_MEDIATION, " "), "InvalidInput"),
        (c.OrientRequest(COORDINATOR, MEDIATION, "déjà là"), "InvalidInput"),
    ]
    for request, code in bad:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await j.update(handle, c.U_REORIENT, request)
        assert _failure(err)[0] == code

    await j.advance(timedelta(days=2))
    status = await j.update(
        handle, c.U_REORIENT, c.OrientRequest(COORDINATOR, OTHER_MEDIATION, "Trop éloigné")
    )
    assert status.stage == Stage.ORIENTED
    assert status.orientation is not None
    assert status.orientation.mediation_structure_id == OTHER_MEDIATION
    assert status.orientation.status == OrientationStatus.PENDING
    log = j.log(jid)[-1]
    assert (log.action, log.reason, log.from_stage) == (
        Action.REORIENTED,
        "Trop éloigné",
        Stage.IN_TRAINING,
    )
    assert log.detail["previous_orientation_id"] == first_orientation.orientation_id
    notice = j.outbox(jid)[-1]
    assert (notice.kind, notice.detail["mediation_structure_id"]) == (
        NoticeKind.ORIENTATION_REQUEST,
        str(OTHER_MEDIATION),
    )

    # Meanwhile the first mediator redeems a cheque: any qualified structure may, and the
    # pending orientation elsewhere is cancelled.
    day = paris_day(await j.now())
    await j.log_session(handle, session_request(serials[:1], day, structure=MEDIATION))
    status = await j.settle(handle)
    assert status.stage == Stage.IN_TRAINING
    assert status.mediation_structure_id == MEDIATION
    assert status.orientation is not None
    assert status.orientation.status == OrientationStatus.CANCELLED
    log = j.log(jid)[-1]
    assert log.action == Action.SESSION_LOGGED
    assert log.detail["extra_action"] == Action.MEDIATOR_CHANGED
    assert log.detail["previous_mediation_structure_id"] == str(OTHER_MEDIATION)


async def test_session_without_orientation_starts_training(journeys: Journeys) -> None:
    j = journeys
    handle, status = await _booklet_issued(j)
    jid = status.journey_id
    day = paris_day(await j.now())
    receipt = await j.log_session(
        handle, session_request([status.cheques[0].serial], day, structure=OTHER_MEDIATION)
    )
    assert receipt.status.stage == Stage.IN_TRAINING
    assert receipt.status.mediation_structure_id == OTHER_MEDIATION
    log = j.log(jid)[-1]
    assert (log.action, log.from_stage, log.to_stage) == (
        Action.SESSION_LOGGED,
        Stage.BOOKLET_ISSUED,
        Stage.IN_TRAINING,
    )
    assert "extra_action" not in log.detail
