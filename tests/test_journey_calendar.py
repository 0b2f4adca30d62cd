"""Pure rules the workflow relies on: its calendar and the cheque redemption check."""

from __future__ import annotations

from datetime import date, timedelta

from domain.contracts import ChequeState, JourneyStatus, OrientationState
from domain.deadlines import Job, due_warnings, next_due, pending_jobs
from domain.policy import JourneyPolicy
from domain.redemption import check_cheques, last_valid_day_of, refusal_summary
from domain.refusals import ChequeRefusal
from domain.serials import booklet_serials
from domain.stages import ChequeStatus, OrientationStatus, Outcome, Stage
from domain.validity import valid_until
from tests.fixtures.temporal import REFERRER, paris

POLICY = JourneyPolicy()


def _status(stage: Stage = Stage.BOOKLET_ISSUED, millesime: int | None = 2027) -> JourneyStatus:
    at = paris(2027, 3, 1)
    status = JourneyStatus(
        journey_id="j",
        programme_code=12,
        epci_id=1,
        reception_structure_id=1,
        referrer=REFERRER,
        stage=stage,
        last_activity_at=at,
    )
    if millesime is not None:
        status.millesime = millesime
        status.valid_until = valid_until(millesime)
        status.cheques = [
            ChequeState(s.digits, s.cheque_number, ChequeStatus.ISSUED)
            for s in booklet_serials(12, millesime, 4, 3)
        ]
    return status


def test_stage_reminder_then_stall_then_nothing_until_activity() -> None:
    status = _status()
    base = status.last_activity_at
    assert base is not None
    due = next_due(status, POLICY)
    assert due is not None and (due.job, due.at) == (Job.STAGE_REMINDER, base + timedelta(days=10))
    status.reminded_for_activity_at = base
    due = next_due(status, POLICY)
    assert due is not None and (due.job, due.at) == (Job.STALL, base + timedelta(days=20))
    status.stalled = True
    due = next_due(status, POLICY)
    assert due is not None and due.job == Job.EXPIRY_WARNING  # only the cheques' calendar left
    status.last_activity_at = base + timedelta(days=25)  # someone acted: re-armed
    due = next_due(status, POLICY)
    assert due is not None and due.job == Job.STAGE_REMINDER


def test_pending_orientation_replaces_stage_deadlines() -> None:
    status = _status(Stage.ORIENTED)
    since = paris(2027, 3, 2)
    status.orientation = OrientationState("o", 7, OrientationStatus.PENDING, since)
    jobs = [(d.job, d.at) for d in pending_jobs(status, POLICY)][:2]
    assert jobs == [
        (Job.ORIENTATION_REMINDER, since + timedelta(days=10)),
        (Job.ORIENTATION_EXPIRY, since + timedelta(days=30)),
    ]


def test_expiry_jobs_come_in_order_and_late_warnings_collapse() -> None:
    status = _status(Stage.IN_TRAINING)
    status.stalled = True
    status.reminded_for_activity_at = status.last_activity_at
    end = valid_until(2027)
    assert [(d.job, d.at, d.days) for d in pending_jobs(status, POLICY)] == [
        (Job.EXPIRY_WARNING, end - timedelta(days=30), 30),
        (Job.EXPIRY_WARNING, end - timedelta(days=15), 15),
        (Job.EXPIRY_WARNING, end - timedelta(days=7), 7),
        (Job.CHEQUES_EXPIRY, end, 0),
    ]
    # A booklet handed out 10 days before the end: J-30 and J-15 are both due at once.
    assert due_warnings(status, POLICY, end - timedelta(days=10)) == [30, 15]
    status.cheques = []  # nothing left to spend: no warnings, expiry still closes
    assert [d.job for d in pending_jobs(status, POLICY)] == [Job.CHEQUES_EXPIRY]


def test_closed_journey_only_waits_for_anonymisation() -> None:
    status = _status(Stage.CLOSED)
    status.outcome = Outcome.WITHDRAWN
    due = next_due(status, POLICY)
    assert due is not None and due.job == Job.ANONYMISATION
    assert due.at == status.last_activity_at + timedelta(days=730)  # type: ignore[operator]
    status.stage = Stage.ANONYMISED
    assert next_due(status, POLICY) is None


def test_check_cheques_on_dates_and_statuses() -> None:
    status = _status(Stage.IN_TRAINING)
    a, b, c = (ch.serial for ch in status.cheques)
    assert last_valid_day_of(status) == date(2028, 1, 31)
    ok = check_cheques(status, [a, b], date(2028, 1, 31))
    assert all(v.accepted for v in ok)
    late = check_cheques(status, [a], date(2028, 2, 1))
    assert late[0].code == ChequeRefusal.EXPIRED and "31/01/2028" in (late[0].message or "")
    early = check_cheques(status, [a], date(2026, 12, 31))
    assert early[0].code == ChequeRefusal.NOT_YET_VALID
    status.cheques[1].status = ChequeStatus.CANCELLED
    status.cheques[2].status = ChequeStatus.REIMBURSED
    verdicts = check_cheques(status, [b, c], date(2027, 6, 1))
    assert [v.code for v in verdicts] == [ChequeRefusal.CANCELLED, ChequeRefusal.ALREADY_REDEEMED]
    assert refusal_summary(verdicts) == (
        f"Séance non enregistrée. {verdicts[0].message} "
        "Un autre chèque est aussi refusé : voir le détail."
    )
    status.stage = Stage.CLOSED
    assert check_cheques(status, [a], date(2027, 6, 1))[0].code == ChequeRefusal.JOURNEY_CLOSED
