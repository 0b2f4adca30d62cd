"""A booklet declared lost on the time-skipping server: its unspent cheques cancelled at
once and refused with the day of the loss, a replacement carrying the remaining count,
recorded (cheques with codes, allocations, timeline, notices) once however often it is
sent, and a journey completed when the replacement's cheques are spent."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError

from domain import contracts as c
from domain.refusals import ChequeRefusal
from domain.serials import booklet_serials, parse_serial
from domain.stages import ChequeStatus, LossReason, Outcome, Stage
from domain.validity import format_date_fr, paris_day
from notifications.context import journey_facts
from records.models import BookletAllocation, Cheque, NotificationOutbox
from tests.fixtures.temporal import (
    COORDINATOR,
    MEDIATOR,
    REFERRER,
    Journeys,
    session_request,
)


async def test_a_lost_booklet_is_cancelled_replaced_and_spent_to_the_end(
    journeys: Journeys,
) -> None:
    j = journeys
    await j.next_january(10)
    handle, _ = await j.start()
    status = await j.to_training(handle, (await j.now()).year)
    jid, lost_number = status.journey_id, status.booklet_number
    assert lost_number is not None
    old = [ch.serial for ch in status.cheques]
    today = paris_day(await j.now())
    await j.log_session(handle, session_request(old[:3], today))

    # Refused by the validator: nothing recorded.
    future = c.DeclareBookletLostRequest(
        REFERRER, lost_number, today.replace(day=28), LossReason.LOST
    )
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await j.update(handle, c.U_DECLARE_BOOKLET_LOST, future)
    assert err.value.cause.type == "InvalidInput"  # type: ignore[attr-defined]
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await j.update(
            handle,
            c.U_DECLARE_BOOKLET_LOST,
            c.DeclareBookletLostRequest(MEDIATOR, lost_number, today, LossReason.LOST),
        )
    assert err.value.cause.type == "Forbidden"  # type: ignore[attr-defined]

    request = c.DeclareBookletLostRequest(REFERRER, lost_number, today, LossReason.STOLEN)
    update_id = str(uuid.uuid4())
    replaced = await j.update(handle, c.U_DECLARE_BOOKLET_LOST, request, id=update_id)
    new_number = replaced.booklet_number
    assert new_number is not None and new_number != lost_number
    assert replaced.cheques_left == 7 and replaced.millesime == status.millesime
    assert replaced.valid_until == status.valid_until
    new = [ch.serial for ch in replaced.cheques if ch.status == ChequeStatus.ISSUED]
    assert new == [s.digits for s in booklet_serials(12, status.millesime or 0, new_number, 7)]

    # Sent again (same update id): the same answer, nothing twice. Another declaration of
    # the same booklet (another tab, another key): refused, it is no longer the one held.
    again = await j.update(handle, c.U_DECLARE_BOOKLET_LOST, request, id=update_id)
    assert again.seq == replaced.seq and again.booklet_number == new_number
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await j.update(handle, c.U_DECLARE_BOOKLET_LOST, request)
    assert err.value.cause.type == "Conflict"  # type: ignore[attr-defined]

    # A lost cheque is refused with the day; a replacement cheque is spent.
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await j.log_session(handle, session_request([old[5]], today))
    (details,) = err.value.cause.details  # type: ignore[attr-defined]
    (verdict,) = details["verdicts"]
    assert verdict["code"] == ChequeRefusal.DECLARED_LOST
    shown = parse_serial(old[5]).display
    assert verdict["message"].startswith(f"Chèque {shown} déclaré volé le {format_date_fr(today)}")
    receipt = await j.log_session(handle, session_request(new[:1], today))
    assert receipt.verdicts[0].accepted

    await j.settle(handle)
    with j.sessions() as session:
        cheques = session.exec(select(Cheque).where(Cheque.journey_id == jid)).all()
        allocations = session.exec(
            select(BookletAllocation)
            .where(BookletAllocation.journey_id == jid)
            .order_by(col(BookletAllocation.sequence))
        ).all()
        notices = session.exec(
            select(NotificationOutbox).where(
                NotificationOutbox.journey_id == jid, NotificationOutbox.kind == "BOOKLET_LOST"
            )
        ).all()
    by_booklet = Counter((ch.booklet_number, ch.status) for ch in cheques)
    assert by_booklet == {
        (lost_number, "REDEEMED"): 3,
        (lost_number, "CANCELLED"): 7,
        (new_number, "REDEEMED"): 1,
        (new_number, "ISSUED"): 6,
    }
    assert all(ch.security_code for ch in cheques)  # the replacement's slip has codes
    first, second = allocations
    assert (first.sequence, first.booklet_number, first.lost_reason) == (1, lost_number, "STOLEN")
    assert first.lost_on == today and first.lost_at is not None
    assert (second.sequence, second.booklet_number) == (2, new_number)
    assert second.replaces_booklet_number == lost_number and second.lost_at is None
    assert second.slip_to_reprint_since is not None  # the new slip, to print and hand over
    assert sorted(n.recipient for n in notices) == [
        "BENEFICIARY",
        "MEDIATION_STRUCTURE",
        "REFERRER",
    ]
    assert notices[0].detail["booklet_number"] == str(new_number)
    row = j.journey_row(jid)
    assert row is not None
    assert (row.booklet_number, row.cheques_total, row.cheques_redeemed) == (new_number, 10, 4)
    assert j.actions(jid).count("BOOKLET_LOST") == 1
    with j.sessions() as session:  # what mails say: 10 cheques, not 17
        facts = journey_facts(session, row)
    assert (facts.cheques_total, facts.cheques_left) == (10, 6)

    # The replacement's cheques spent, the journey completes; each cheque cancelled once.
    done = await j.log_session(handle, session_request(new[1:], today))
    assert done.status.stage == Stage.CLOSED and done.status.outcome == Outcome.COMPLETED
    statuses = Counter(ch.status for ch in done.status.cheques)
    assert statuses == {ChequeStatus.REDEEMED: 10, ChequeStatus.CANCELLED: 7}


async def test_a_coordinator_replaces_a_locked_booklet_twice(journeys: Journeys) -> None:
    """A locked booklet declared lost: the replacement is usable at once. Its replacement
    may itself be declared lost: each booklet numbered once, the count going down."""
    j = journeys
    await j.next_january(10)
    handle, _ = await j.start()
    status = await j.to_training(handle, (await j.now()).year)
    today = paris_day(await j.now())
    await j.update(handle, c.U_LOCK_BOOKLET, c.LockBookletRequest(c.SYSTEM, 5))
    first = await j.update(
        handle,
        c.U_DECLARE_BOOKLET_LOST,
        c.DeclareBookletLostRequest(
            COORDINATOR, status.booklet_number or 0, today, LossReason.LOST
        ),
    )
    assert first.booklet_locked_at is None and first.cheques_left == 10
    spent = [ch.serial for ch in first.cheques if ch.status == ChequeStatus.ISSUED][:4]
    await j.log_session(handle, session_request(spent, today))
    second = await j.update(
        handle,
        c.U_DECLARE_BOOKLET_LOST,
        c.DeclareBookletLostRequest(REFERRER, first.booklet_number or 0, today, LossReason.DAMAGED),
    )
    assert second.cheques_left == 6
    assert [b.booklet_number for b in second.lost_booklets] == [
        status.booklet_number,
        first.booklet_number,
    ]
    await j.settle(handle)
    with j.sessions() as session:
        rows = session.exec(
            select(BookletAllocation).where(BookletAllocation.journey_id == status.journey_id)
        ).all()
    assert sorted((r.sequence, r.lost_reason) for r in rows) == [
        (1, "LOST"),
        (2, "DAMAGED"),
        (3, None),
    ]
