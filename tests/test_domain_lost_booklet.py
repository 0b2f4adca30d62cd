"""A booklet declared lost, stolen or damaged, without a server: who may declare it and
when (domain/journey_rules.py), what the replacement does to the status
(domain/journey_steps.py), and how its old cheques are refused (domain/redemption.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from domain import journey_rules as rules
from domain import journey_steps as steps
from domain.contracts import (
    SYSTEM,
    ChequeState,
    DeclareBookletLostRequest,
    JourneyStatus,
)
from domain.notices import NoticeKind, Recipient
from domain.policy import JourneyPolicy
from domain.redemption import check_cheques
from domain.refusals import ChequeRefusal, RefusalKind, Refused
from domain.serials import booklet_serials, parse_serial
from domain.stages import Action, ChequeStatus, LossReason, Outcome, Stage
from domain.validity import paris_day, valid_until
from tests.fixtures.temporal import COORDINATOR, MEDIATOR, REFERRER, paris

POLICY = JourneyPolicy()
NOW = paris(2026, 11, 30)
ISSUED_AT = paris(2026, 3, 2)


def _status(stage: Stage = Stage.IN_TRAINING, spent: int = 3) -> JourneyStatus:
    status = JourneyStatus(
        journey_id="j",
        programme_code=12,
        epci_id=1,
        reception_structure_id=1,
        referrer=REFERRER,
        stage=stage,
        stage_dates={Stage.BOOKLET_ISSUED: ISSUED_AT, stage: ISSUED_AT},
        last_activity_at=ISSUED_AT,
        millesime=2026,
        booklet_number=4,
        valid_until=valid_until(2026),
        booklet_issued_at=ISSUED_AT,
        mediation_structure_id=7,
    )
    status.cheques = [
        ChequeState(s.digits, s.cheque_number, ChequeStatus.ISSUED)
        for s in booklet_serials(12, 2026, 4, 10)
    ]
    for cheque in status.cheques[:spent]:
        cheque.status, cheque.redeemed_on = ChequeStatus.REDEEMED, date(2026, 4, 1)
    return status


def _lost(
    actor=REFERRER,  # noqa: ANN001
    booklet: int = 4,
    on: date = date(2026, 11, 28),
    reason: LossReason = LossReason.LOST,
) -> DeclareBookletLostRequest:
    return DeclareBookletLostRequest(actor, booklet, on, reason)


def _refused(status: JourneyStatus, req: DeclareBookletLostRequest) -> Refused:
    with pytest.raises(Refused) as caught:
        rules.check_declare_lost(status, POLICY, req, NOW)
    return caught.value


def test_a_social_worker_or_the_coordination_declares_it() -> None:
    for actor in (REFERRER, COORDINATOR):
        rules.check_declare_lost(_status(), POLICY, _lost(actor), NOW)
    for actor in (MEDIATOR, SYSTEM):
        refused = _refused(_status(), _lost(actor))
        assert refused.kind == RefusalKind.FORBIDDEN
        assert "travailleur social" in refused.message


@pytest.mark.parametrize("stage", [Stage.REFERRED, Stage.ASSESSED, Stage.CLOSED])
def test_only_a_booklet_in_use_is_declared_lost(stage: Stage) -> None:
    status = _status(stage)
    if stage in (Stage.REFERRED, Stage.ASSESSED):
        status.booklet_number, status.cheques = None, []
    refused = _refused(status, _lost())
    assert refused.kind == RefusalKind.WRONG_STAGE
    assert refused.message.startswith("Un carnet se déclare perdu une fois remis")


def test_the_day_is_between_the_issue_and_today() -> None:
    future = _refused(_status(), _lost(on=date(2026, 12, 1)))
    assert future.kind == RefusalKind.INVALID_INPUT
    assert future.message == "La date de la perte (01/12/2026) ne peut pas être dans le futur."
    before = _refused(_status(), _lost(on=date(2026, 3, 1)))
    assert before.message == (
        "Le carnet n° 4 n'a été remis que le 02/03/2026 : la perte ne peut pas être antérieure."
    )
    rules.check_declare_lost(_status(), POLICY, _lost(on=date(2026, 3, 2)), NOW)
    rules.check_declare_lost(_status(), POLICY, _lost(on=paris_day(NOW)), NOW)


def test_only_the_booklet_the_person_holds_and_only_with_cheques_left() -> None:
    refused = _refused(_status(), _lost(booklet=5))
    assert refused.kind == RefusalKind.CONFLICT
    assert "n'est pas celui que la personne détient (carnet n° 4)" in refused.message
    spent = _status(spent=10)
    assert _refused(spent, _lost()).kind == RefusalKind.CONFLICT


def test_a_locked_booklet_may_be_declared_lost_and_its_lock_goes_with_it() -> None:
    status = _status()
    status.booklet_locked_at = NOW - timedelta(days=1)
    rules.check_declare_lost(status, POLICY, _lost(), NOW)
    steps.declare_booklet_lost(status, _lost(), 9, NOW)
    assert status.booklet_locked_at is None


def test_the_replacement_carries_the_remaining_count_of_the_same_millesime() -> None:
    status = _status(spent=3)
    status.stalled, status.stalled_reason = True, "Aucune séance depuis 60 jours"
    before = [(x.serial, x.status) for x in status.cheques]
    change = steps.declare_booklet_lost(status, _lost(reason=LossReason.STOLEN), 9, NOW)

    old, new = status.cheques[:10], status.cheques[10:]
    assert [(x.serial, x.status) for x in old[:3]] == before[:3]  # spent stay spent
    assert {x.status for x in old[3:]} == {ChequeStatus.CANCELLED}
    assert [x.serial for x in new] == [s.digits for s in booklet_serials(12, 2026, 9, 7)]
    assert {x.status for x in new} == {ChequeStatus.ISSUED}
    assert status.cheques_left == 7
    assert (status.booklet_number, status.millesime) == (9, 2026)
    assert status.valid_until == valid_until(2026)  # the timers do not move
    assert status.booklet_issued_at == NOW and status.stage == Stage.IN_TRAINING
    assert not status.stalled and status.last_activity_at == NOW
    (lost,) = status.lost_booklets
    assert (lost.booklet_number, lost.replaced_by, lost.cheques_cancelled) == (4, 9, 7)
    assert (lost.lost_on, lost.reason) == (date(2026, 11, 28), LossReason.STOLEN)

    assert change.action == Action.BOOKLET_LOST
    assert change.detail == {
        "lost_booklet_number": "4",
        "lost_on": "2026-11-28",
        "loss_reason": "STOLEN",
        "booklet_number": "9",
        "millesime": "2026",
        "cheques": "7",
    }
    assert change.notices == [
        (NoticeKind.BOOKLET_LOST, Recipient.BENEFICIARY),
        (NoticeKind.BOOKLET_LOST, Recipient.REFERRER),
        (NoticeKind.BOOKLET_LOST, Recipient.MEDIATION_STRUCTURE),
    ]
    # The same booklet declared again is refused: it is no longer the one held.
    assert _refused(status, _lost()).kind == RefusalKind.CONFLICT


def test_a_lost_cheque_is_refused_with_the_day_it_was_declared_lost() -> None:
    status = _status(spent=3)
    lost_serial = status.cheques[5].serial
    spent_serial = status.cheques[0].serial
    steps.declare_booklet_lost(status, _lost(on=date(2026, 11, 28)), 9, NOW)
    new_serial = status.cheques[10].serial
    day = date(2026, 11, 30)
    lost, spent, new = check_cheques(status, [lost_serial, spent_serial, new_serial], day)
    shown = parse_serial(lost_serial).display
    assert (lost.accepted, lost.code) == (False, ChequeRefusal.DECLARED_LOST)
    assert lost.message == (
        f"Chèque {shown} déclaré perdu le 28/11/2026 : son carnet a été annulé et remplacé, "
        "il ne peut plus être encaissé."
    )
    assert spent.code == ChequeRefusal.ALREADY_REDEEMED
    assert new.accepted
    # Even once the journey is closed the lost cheque says why it is refused.
    steps.close(status, Outcome.WITHDRAWN, ChequeStatus.CANCELLED, NOW)
    (closed,) = check_cheques(status, [lost_serial], day)
    assert closed.code == ChequeRefusal.DECLARED_LOST


def test_closing_cancels_each_cheque_once() -> None:
    """A lost cheque is CANCELLED once: closing the journey leaves it as it is and cancels
    only the replacement's unspent cheques."""
    status = _status(spent=3)
    steps.declare_booklet_lost(status, _lost(), 9, NOW)
    cancelled_before = {x.serial for x in status.cheques if x.status == ChequeStatus.CANCELLED}
    steps.close(status, Outcome.WITHDRAWN, ChequeStatus.CANCELLED, NOW)
    cancelled = [x.serial for x in status.cheques if x.status == ChequeStatus.CANCELLED]
    assert len(cancelled) == len(set(cancelled)) == 14
    assert cancelled_before < set(cancelled)
