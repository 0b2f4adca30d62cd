"""Erasure on request on the time-skipping server: the journey closed (if open), its
unspent cheques cancelled and the person anonymised at once (not after the retention
period), recorded; refused to a mediator; the workflow then completes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from temporalio.client import WorkflowUpdateFailedError

from domain import contracts as c
from domain.stages import ChequeStatus, Outcome, Stage
from domain.validity import paris_day
from records.models import Beneficiary, Channel, Cheque
from tests.fixtures.temporal import COORDINATOR, MEDIATOR, REFERRER, Journeys, session_request

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _register(j: Journeys, journey_id: str) -> None:
    with j.sessions() as s:
        s.add(
            Beneficiary(
                journey_id=journey_id,
                idempotency_key=f"k-{journey_id}",
                first_name="Germaine",
                last_name="Vabre",
                birth_year=1947,
                phone="05 65 42 42 42",
                email="germaine.vabre@exemple.fr",
                postal_address="1 place d'Armes, Rodez",
                commune="Rodez",
                preferred_channel=Channel.EMAIL.value,
                consent_given_at=T0,
                consent_text="J'accepte.",
                consent_version=1,
                consent_recorded_by="sw-1",
                created_at=T0,
            )
        )
        s.commit()


def _person(j: Journeys, journey_id: str) -> Beneficiary:
    with j.sessions() as s:
        row = s.exec(select(Beneficiary).where(Beneficiary.journey_id == journey_id)).first()
        assert row is not None
        return row


async def test_an_open_journey_is_closed_and_anonymised_at_once(journeys: Journeys) -> None:
    j = journeys
    await j.next_january(10)
    handle, status = await j.start()
    _register(j, status.journey_id)
    status = await j.to_training(handle, (await j.now()).year)
    jid = status.journey_id
    serials = [ch.serial for ch in status.cheques]
    await j.log_session(handle, session_request(serials[:2], paris_day(await j.now())))

    with pytest.raises(WorkflowUpdateFailedError) as err:
        await j.update(handle, c.U_ERASE_ON_REQUEST, c.EraseRequest(MEDIATOR))
    assert err.value.cause.type == "Forbidden"  # type: ignore[attr-defined]

    erased = await j.update(handle, c.U_ERASE_ON_REQUEST, c.EraseRequest(REFERRER))
    assert erased.stage == Stage.ANONYMISED
    assert erased.outcome == Outcome.WITHDRAWN
    assert [ch.status for ch in erased.cheques].count(ChequeStatus.REDEEMED) == 2
    assert [ch.status for ch in erased.cheques].count(ChequeStatus.CANCELLED) == 8
    final = await handle.result()  # completes: no retention period to wait for
    assert final.stage == Stage.ANONYMISED

    assert j.actions(jid)[-2:] == ["ERASURE_REQUESTED", "ANONYMISED"]
    log = j.log(jid)
    assert log[-2].actor_ref == REFERRER.ref and log[-2].to_stage == "CLOSED"
    assert log[-1].detail == {"on_request": "true"}
    row = j.journey_row(jid)
    assert row is not None
    assert (row.stage, row.outcome) == ("ANONYMISED", "WITHDRAWN")
    assert row.anonymised_at is not None and row.cheques_redeemed == 2  # statistics kept
    person = _person(j, jid)
    assert (person.first_name, person.last_name, person.phone, person.email) == (
        None,
        None,
        None,
        None,
    )
    assert person.postal_address is None and person.birth_year == 1940
    assert person.commune == "Rodez"  # kept for statistics
    with j.sessions() as s:
        cheques = s.exec(select(Cheque).where(Cheque.journey_id == jid)).all()
    assert sorted(ch.status for ch in cheques) == ["CANCELLED"] * 8 + ["REDEEMED"] * 2
    # No notice is sent about a person being erased.
    assert not [n for n in j.outbox(jid) if n.kind == "JOURNEY_CLOSED"]


async def test_a_closed_journey_is_anonymised_before_its_retention_period(
    journeys: Journeys,
) -> None:
    j = journeys
    await j.next_january(12)
    handle, status = await j.start()
    jid = status.journey_id
    _register(j, jid)
    await j.update(handle, c.U_WITHDRAW, c.WithdrawRequest(COORDINATOR, "Déménage chez sa fille"))
    await j.settle(handle)
    assert next(r for r in j.log(jid) if r.action == "WITHDRAWN").reason == "Déménage chez sa fille"
    await j.advance(timedelta(days=3))
    erased = await j.update(handle, c.U_ERASE_ON_REQUEST, c.EraseRequest(COORDINATOR))
    assert erased.stage == Stage.ANONYMISED and erased.outcome == Outcome.WITHDRAWN
    closed, anonymised = erased.stage_dates[Stage.CLOSED], erased.stage_dates[Stage.ANONYMISED]
    assert anonymised - closed < timedelta(days=4)  # not two years later
    await handle.result()
    assert j.actions(jid)[-3:] == ["WITHDRAWN", "ERASURE_REQUESTED", "ANONYMISED"]
    # What the coordinator typed about the person is erased with them.
    withdrawn = next(row for row in j.log(jid) if row.action == "WITHDRAWN")
    assert withdrawn.reason is None
    assert _person(j, jid).last_name is None
