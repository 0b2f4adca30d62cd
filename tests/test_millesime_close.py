"""The end of a millésime through Temporal: a journey's unspent cheques expire by its own
timer, then `MillesimeCloseWorkflow` closes the millésime and records each funder's
return (time-skipping server); its daily Schedule, created once at worker start, at
06:00 Europe/Paris, starts it (dev server: the test server has no schedules); its recorded
history replays (tests/histories/record_ledger.py)."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio.client import ScheduleActionExecutionStartWorkflow, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.journey_records import JourneyActivities
from config import Settings
from domain import contracts as c
from domain.ledger import CLOSE_SCHEDULE_ID, CloseReport
from domain.stages import ChequeStatus, LossReason, Outcome
from domain.validity import paris_day
from records import ledger
from records.db import SessionFactory
from records.seed import seed_default_programme
from temporal_client import data_converter
from tests.fixtures.temporal import (
    EPCI,
    PROGRAMME,
    REFERRER,
    Journeys,
    paris,
    session_request,
)
from tests.histories.record_ledger import TARGET
from tests.test_records_ledger import check_reconciled
from worker import build_worker, ensure_millesime_close_schedule, sandbox_runner
from workflows.millesime_close import CloseInput, MillesimeCloseWorkflow


async def test_a_millesime_closes_after_its_cheques_expired(journeys: Journeys) -> None:
    j = journeys
    with j.sessions() as s:
        seed_default_programme(s)
        s.commit()
    start = await j.next_january()
    year = start.year
    handle, status = await j.start()
    status = await j.to_training(handle, year)
    serials = [ch.serial for ch in status.cheques]
    await j.advance_to(paris(year, 3, 2))
    await j.log_session(handle, session_request(serials[:3], paris_day(await j.now())))
    final = await j.finish(handle)  # expiry at the end of 31 January N+1, then anonymised
    assert final.outcome == Outcome.EXPIRED
    assert [c.status for c in final.cheques].count(ChequeStatus.EXPIRED) == 7

    report = await j.client.execute_workflow(
        MillesimeCloseWorkflow.run,
        CloseInput(),
        id=f"close-{uuid.uuid4()}",
        task_queue=j.task_queue,
        result_type=CloseReport,
    )
    (outcome,) = report.closures
    assert (outcome.millesime, outcome.status, outcome.unexpired) == (year, "CLOSED", 0)
    assert outcome.returned_cents == 7 * 1000
    with j.sessions() as s:
        terms = ledger.load_terms(s, PROGRAMME)
        assert terms is not None
        (closure,) = ledger.list_closures(s, PROGRAMME)
        split = terms.rule.split(1000, EPCI)
        assert closure.returned == {str(f): 7 * a for f, a in sorted(split.items())}
        assert closure.report["cheques"] == {"REDEEMED": 3, "EXPIRED": 7}
        assert closure.report["reconciled"] is True
        check_reconciled(s)
    again = await j.client.execute_workflow(
        MillesimeCloseWorkflow.run,
        CloseInput(),
        id=f"close-{uuid.uuid4()}",
        task_queue=j.task_queue,
        result_type=CloseReport,
    )
    assert again.closures == []  # closed for good: the next rounds leave it alone


async def test_a_lost_booklet_charges_each_cheque_once(journeys: Journeys) -> None:
    """Declared lost (the workflow's Update, sent twice): its 7 unspent cheques CANCELLED,
    the replacement's 7 COMMITTED, the 3 spent ones untouched; 17 cheques, each once."""
    j = journeys
    with j.sessions() as s:
        seed_default_programme(s)
        s.commit()
    await j.next_january(10)
    handle, _ = await j.start()
    status = await j.to_training(handle, (await j.now()).year)
    today = paris_day(await j.now())
    await j.log_session(handle, session_request([ch.serial for ch in status.cheques[:3]], today))
    assert status.booklet_number is not None
    request = c.DeclareBookletLostRequest(REFERRER, status.booklet_number, today, LossReason.LOST)
    update_id = str(uuid.uuid4())
    await j.update(handle, c.U_DECLARE_BOOKLET_LOST, request, id=update_id)
    replaced = await j.update(handle, c.U_DECLARE_BOOKLET_LOST, request, id=update_id)
    await j.settle(handle)
    with j.sessions() as s:
        totals = check_reconciled(s)
    assert len(replaced.cheques) == 17
    assert totals == {"COMMITTED": 17 * 1000, "SPENT": 3 * 1000, "CANCELLED": 7 * 1000}


@pytest.mark.devserver
async def test_schedule_is_created_once_and_starts_the_closure(
    dev_server: WorkflowEnvironment, seeded_sqlite_sessions: SessionFactory
) -> None:
    client = dev_server.client
    queue = f"close-{uuid.uuid4()}"
    assert await ensure_millesime_close_schedule(client, queue) is True
    handle = client.get_schedule_handle(CLOSE_SCHEDULE_ID)
    try:
        assert await ensure_millesime_close_schedule(client, queue) is False  # a restart
        description = await handle.describe()
        spec = description.schedule.spec
        assert spec.time_zone_name == "Europe/Paris"
        (calendar,) = spec.calendars
        assert [(r.start, r.end) for r in calendar.hour] == [(6, 6)]
        assert [(r.start, r.end) for r in calendar.minute] == [(0, 0)]
        with ThreadPoolExecutor(max_workers=2) as executor:
            worker = build_worker(
                client, queue, JourneyActivities(seeded_sqlite_sessions), executor
            )
            async with worker:
                await handle.trigger()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 20
                while not (actions := (await handle.describe()).info.recent_actions):
                    assert loop.time() < deadline, "the schedule started nothing"
                    await asyncio.sleep(0.05)
                action = actions[-1].action
                assert isinstance(action, ScheduleActionExecutionStartWorkflow)
                report = await client.get_workflow_handle(
                    action.workflow_id, result_type=CloseReport
                ).result()
        assert report.closures == []  # no cheque in a fresh database
    finally:
        await handle.delete()


async def test_the_recorded_history_replays() -> None:
    history = WorkflowHistory.from_json("millesime-close-recorded", TARGET.read_text())
    assert any(e.activity_task_completed_event_attributes.result for e in history.events)
    replayer = Replayer(
        workflows=[MillesimeCloseWorkflow],
        data_converter=data_converter(Settings()),  # plain payloads pass through
        workflow_runner=sandbox_runner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
