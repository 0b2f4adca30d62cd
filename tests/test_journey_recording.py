"""A step that changes a journey several times records the changes with one activity call
(patch `record-events-together`), a local activity (patch `record-locally`), over the real
records on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from activities.journey_records import JourneyActivities
from domain import contracts as c
from domain.policy import JourneyPolicy, StageDeadline
from domain.stages import Action, Stage
from domain.validity import paris_day
from tests.fixtures.temporal import (
    MEDIATION,
    MEDIATOR,
    REFERRER,
    Journeys,
    entry_assessment,
    session_request,
)

Calls = dict[str, list[list[tuple[int, Action]]]]


@pytest.fixture
def record_calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """(seq, action) of the events each record activity call carried, per journey, in
    order. The calls are local activities (patch `record-locally`): their inputs are not in
    the history, so the activities' common path is watched instead."""
    calls: Calls = {}
    real = JourneyActivities._record

    def spy(self: JourneyActivities, events: list[c.JourneyEvent]) -> None:
        calls.setdefault(events[0].journey_id, []).append([(e.seq, e.action) for e in events])
        real(self, events)

    monkeypatch.setattr(JourneyActivities, "_record", spy)
    return calls


async def _local_records(handle: WorkflowHandle[Any, Any]) -> int:
    """Record calls the history shows as local activities (and none as activity tasks)."""
    history = await handle.fetch_history()
    assert not any(
        e.activity_task_scheduled_event_attributes.activity_type.name
        in (c.ACTIVITY_RECORD_EVENT, c.ACTIVITY_RECORD_EVENTS)
        for e in history.events
    )
    return sum(
        e.marker_recorded_event_attributes.marker_name == "core_local_activity"
        for e in history.events
    )


async def test_the_closing_session_and_the_closure_are_recorded_together(
    journeys: Journeys, record_calls: Calls
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

    calls = record_calls[status.journey_id]
    assert len(calls) == await _local_records(handle) == 10
    assert calls[-1] == [(10, Action.SESSION_LOGGED), (11, Action.CLOSED)]
    assert all(len(call) == 1 for call in calls[:-1])  # one change per earlier step
    actions = j.actions(status.journey_id)
    assert actions[-2:] == [Action.SESSION_LOGGED.value, Action.CLOSED.value]
    assert len(actions) == 11
    # Run it to its end rather than leave it to the harness to terminate: an activity
    # finishing after its workflow was terminated stalls the test server's clock.
    assert (await j.finish(handle)).stage == Stage.ANONYMISED


async def test_calendar_jobs_due_together_are_recorded_together(
    journeys: Journeys, record_calls: Calls
) -> None:
    j = journeys
    deadlines = dict(JourneyPolicy().stage_deadlines)
    deadlines[Stage.REFERRED] = StageDeadline(reminder_days=10, stalled_days=10)
    handle, status = await j.start(policy=JourneyPolicy(stage_deadlines=deadlines))
    await j.advance(timedelta(days=11))
    status = await j.settle(handle)
    assert status.stalled and status.seq == 3

    assert await _local_records(handle) == 2
    assert record_calls[status.journey_id] == [
        [(1, Action.REFERRED)],
        [(2, Action.STAGE_REMINDED), (3, Action.STALLED)],
    ]
    assert j.actions(status.journey_id) == ["REFERRED", "STAGE_REMINDED", "STALLED"]
    kinds = [row.kind for row in j.outbox(status.journey_id)]
    assert kinds[-2:] == ["STAGE_REMINDER", "JOURNEY_STALLED"]

    await j.update(handle, c.U_WITHDRAW, c.WithdrawRequest(REFERRER, "Déménagement"))
    assert (await j.finish(handle)).stage == Stage.ANONYMISED
