"""A step that changes a journey several times records the changes with one activity call
(patch `record-events-together`), over the real records on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from config import Settings
from domain import contracts as c
from domain.policy import JourneyPolicy, StageDeadline
from domain.stages import Action, Stage
from domain.validity import paris_day
from temporal_client import data_converter
from tests.fixtures.temporal import (
    MEDIATION,
    MEDIATOR,
    REFERRER,
    Journeys,
    entry_assessment,
    session_request,
)


async def _record_calls(handle: WorkflowHandle[Any, Any]) -> list[list[tuple[int, Action]]]:
    """(seq, action) of the events each record activity call carried, in order."""
    calls: list[list[tuple[int, Action]]] = []
    converter = data_converter(Settings())  # the payloads are encrypted: its codec decodes
    for event in (await handle.fetch_history()).events:
        if not event.HasField("activity_task_scheduled_event_attributes"):
            continue
        attrs = event.activity_task_scheduled_event_attributes
        name = attrs.activity_type.name
        if name == c.ACTIVITY_RECORD_EVENT:
            (one,) = await converter.decode(attrs.input.payloads, [c.JourneyEvent])
            calls.append([(one.seq, one.action)])
        elif name == c.ACTIVITY_RECORD_EVENTS:
            (many,) = await converter.decode(attrs.input.payloads, [list[c.JourneyEvent]])
            calls.append([(e.seq, e.action) for e in many])
    return calls


async def test_the_closing_session_and_the_closure_are_recorded_together(
    journeys: Journeys,
) -> None:
    j = journeys
    start = await j.next_january()
    handle, _ = await j.start()
    await j.update(handle, c.U_ASSESS, entry_assessment())
    status = await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year))
    serials = [ch.serial for ch in status.cheques]
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))
    await j.update(
        handle, c.U_ANSWER_ORIENTATION, c.OrientationAnswer(MEDIATOR, MEDIATION, accept=True)
    )
    await j.advance(timedelta(days=1))
    day = paris_day(await j.now())
    for n in range(5):
        receipt = await j.log_session(handle, session_request(serials[2 * n : 2 * n + 2], day))
    # The update answers once both are recorded.
    row = j.journey_row(status.journey_id)
    assert row is not None and (row.stage, row.outcome) == ("CLOSED", "COMPLETED")
    assert row.last_seq == receipt.status.seq == 11
    assert receipt.status.closed_at == receipt.status.sessions[-1].logged_at

    calls = await _record_calls(handle)
    assert calls[-1] == [(10, Action.SESSION_LOGGED), (11, Action.CLOSED)]
    assert all(len(call) == 1 for call in calls[:-1])  # one change per earlier step
    actions = j.actions(status.journey_id)
    assert actions[-2:] == [Action.SESSION_LOGGED.value, Action.CLOSED.value]
    assert len(actions) == 11
    # Run it to its end rather than leave it to the harness to terminate: an activity
    # finishing after its workflow was terminated stalls the test server's clock.
    assert (await j.finish(handle)).stage == Stage.ANONYMISED


async def test_calendar_jobs_due_together_are_recorded_together(journeys: Journeys) -> None:
    j = journeys
    deadlines = dict(JourneyPolicy().stage_deadlines)
    deadlines[Stage.REFERRED] = StageDeadline(reminder_days=10, stalled_days=10)
    handle, status = await j.start(policy=JourneyPolicy(stage_deadlines=deadlines))
    await j.advance(timedelta(days=11))
    status = await j.settle(handle)
    assert status.stalled and status.seq == 3

    assert await _record_calls(handle) == [
        [(1, Action.REFERRED)],
        [(2, Action.STAGE_REMINDED), (3, Action.STALLED)],
    ]
    assert j.actions(status.journey_id) == ["REFERRED", "STAGE_REMINDED", "STALLED"]
    kinds = [row.kind for row in j.outbox(status.journey_id)]
    assert kinds[-2:] == ["STAGE_REMINDER", "JOURNEY_STALLED"]

    await j.update(handle, c.U_WITHDRAW, c.WithdrawRequest(REFERRER, "Déménagement"))
    assert (await j.finish(handle)).stage == Stage.ANONYMISED
