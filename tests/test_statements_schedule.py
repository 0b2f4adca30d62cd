"""The monthly statements job: its workflow on the time-skipping server (the month before
the run's Paris day, idempotent), its activity retried, its recorded history replayed
(tests/histories/record_statements.py), and its Schedule on the dev server (the 1st at
06:00 Europe/Paris, created once, and it builds the statements)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from temporalio.client import ScheduleActionExecutionStartWorkflow, WorkflowHistory
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Replayer

from activities.journey_records import JourneyActivities
from activities.statements import StatementActivities
from config import Settings
from domain.months import next_month, previous_month
from domain.statements import (
    STATEMENTS_SCHEDULE_ID,
    STATEMENTS_WORKFLOW_NAME,
    BuildStatements,
    StatementsBuilt,
    StatementsInput,
)
from domain.validity import PARIS, paris_day
from records.db import SessionFactory
from records.models import Statement, StatementLine
from temporal_client import data_converter
from tests.fixtures.statements import add_redeemed, qualified_structures
from worker import build_worker, ensure_statements_schedule, sandbox_runner
from workflows.statements import MonthlyStatementsWorkflow

HISTORY = Path(__file__).parent / "histories" / "statements" / "monthly.json"


def _statements(sessions: SessionFactory) -> list[tuple[str, date, int]]:
    with sessions() as s:
        rows = s.exec(select(Statement).order_by(Statement.number)).all()
        return [(st.number, st.month, st.cheque_count) for st in rows]


async def test_the_workflow_builds_the_month_before_the_paris_day(
    time_skipping_env: WorkflowEnvironment, seeded_sqlite_sessions: SessionFactory
) -> None:
    """At 00:30 in Paris on the 1st it is still the last day of the month before in UTC:
    the month built is the one before the *Paris* day."""
    env, sessions = time_skipping_env, seeded_sqlite_sessions
    now = await env.get_current_time()
    first = next_month(paris_day(now))
    run_at = datetime(first.year, first.month, 1, 0, 30, tzinfo=PARIS)
    assert run_at.astimezone(UTC).day != 1  # the case a UTC month would get wrong
    month = previous_month(first)
    with sessions() as s:
        a, b = qualified_structures(s, 2)
        add_redeemed(s, a, [month + timedelta(days=2), first])  # the 1st: next month's
        add_redeemed(s, b, [month])
        s.commit()

    await env.sleep(run_at - now)
    queue = f"statements-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with build_worker(env.client, queue, JourneyActivities(sessions), executor):
            built = await env.client.execute_workflow(
                STATEMENTS_WORKFLOW_NAME,
                StatementsInput(),
                id=f"statements-{uuid.uuid4()}",
                task_queue=queue,
                result_type=StatementsBuilt,
            )
            assert (built.month, built.created, built.cheques) == (month, 2, 2)
            tag = f"RB-{month:%Y-%m}"
            assert _statements(sessions) == [(f"{tag}-0001", month, 1), (f"{tag}-0002", month, 1)]

            again = await env.client.execute_workflow(  # started again: nothing twice
                STATEMENTS_WORKFLOW_NAME,
                StatementsInput(month=month),
                id=f"statements-{uuid.uuid4()}",
                task_queue=queue,
                result_type=StatementsBuilt,
            )
            assert (again.month, again.created, again.updated, again.cheques) == (month, 0, 0, 0)
    assert len(_statements(sessions)) == 2


async def test_the_recorded_history_replays() -> None:
    history = WorkflowHistory.from_json("statements-monthly", HISTORY.read_text())
    assert any(
        e.HasField("activity_task_completed_event_attributes") for e in history.events
    )  # a whole run, not a stub
    replayer = Replayer(
        workflows=[MonthlyStatementsWorkflow],
        data_converter=data_converter(Settings()),
        workflow_runner=sandbox_runner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


def test_a_retried_activity_adds_nothing(seeded_sqlite_sessions: SessionFactory) -> None:
    sessions = seeded_sqlite_sessions
    with sessions() as s:
        (a,) = qualified_structures(s, 1)
        add_redeemed(s, a, [date(2026, 11, 3), date(2026, 11, 4)])
        s.commit()
    activities = StatementActivities(sessions, serialise_writes=True)
    env = ActivityEnvironment()
    req = BuildStatements(month=date(2026, 11, 1), at=datetime(2026, 12, 1, 5, tzinfo=UTC))
    first = env.run(activities.build_monthly_statements, req)
    env.info = dataclasses.replace(env.info, attempt=2)  # the worker died before reporting
    second = env.run(activities.build_monthly_statements, req)
    assert (first.created, first.cheques, first.amount_cents) == (1, 2, 2000)
    assert (second.created, second.updated, second.cheques) == (0, 0, 0)
    with sessions() as s:
        assert len(s.exec(select(StatementLine)).all()) == 2


@pytest.mark.devserver
async def test_schedule_is_created_once_and_builds_the_statements(
    dev_server: WorkflowEnvironment, seeded_sqlite_sessions: SessionFactory
) -> None:
    client, sessions = dev_server.client, seeded_sqlite_sessions
    today = paris_day(datetime.now(UTC))
    month = previous_month(today)
    with sessions() as s:
        (a,) = qualified_structures(s, 1)
        add_redeemed(s, a, [month + timedelta(days=5)])
        s.commit()
    queue = f"statements-{uuid.uuid4()}"
    assert await ensure_statements_schedule(client, queue) is True
    handle = client.get_schedule_handle(STATEMENTS_SCHEDULE_ID)
    try:
        assert await ensure_statements_schedule(client, queue) is False  # a restart: unchanged
        description = await handle.describe()
        spec = description.schedule.spec
        assert spec.time_zone_name == "Europe/Paris"
        (calendar,) = spec.calendars
        assert [(r.start, r.end) for r in calendar.day_of_month] == [(1, 1)]
        assert [(r.start, r.end) for r in calendar.hour] == [(6, 6)]
        assert [(r.start, r.end) for r in calendar.minute] == [(0, 0)]
        upcoming = description.info.next_action_times[0].astimezone(PARIS)
        assert (upcoming.day, upcoming.hour, upcoming.minute) == (1, 6, 0)
        # The next 1st at 06:00 in Paris: today's, on the 1st before 06:00.
        this_month = datetime(today.year, today.month, 1, 6, tzinfo=PARIS)
        early = datetime.now(UTC) < this_month
        assert upcoming.date() == (this_month.date() if early else next_month(today))
        with ThreadPoolExecutor(max_workers=2) as executor:
            async with build_worker(client, queue, JourneyActivities(sessions), executor):
                await handle.trigger()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 10
                while not (actions := (await handle.describe()).info.recent_actions):
                    assert loop.time() < deadline, "the schedule started nothing"
                    await asyncio.sleep(0.05)
                action = actions[-1].action
                assert isinstance(action, ScheduleActionExecutionStartWorkflow)
                built = await client.get_workflow_handle(
                    action.workflow_id, result_type=StatementsBuilt
                ).result()
        assert (built.month, built.created, built.cheques) == (month, 1, 1)
        assert _statements(sessions) == [(f"RB-{month:%Y-%m}-0001", month, 1)]
    finally:
        await handle.delete()
