"""The daily digest's Temporal Schedule, on the dev server (the time-skipping server has no
schedules): created once at worker start, 08:00 Europe/Paris, and it runs the digest."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio.client import ScheduleActionExecutionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from activities.journey_records import JourneyActivities
from domain.mail import DIGEST_SCHEDULE_ID
from records.db import SessionFactory
from tests.fixtures.smtp import SmtpServer, notification_activities
from worker import build_worker, ensure_digest_schedule
from workflows.digest import DigestSummary

pytestmark = pytest.mark.devserver


async def test_schedule_is_created_once_and_starts_the_digest(
    dev_server: WorkflowEnvironment,
    seeded_sqlite_sessions: SessionFactory,
    smtp_server: SmtpServer,
) -> None:
    client = dev_server.client
    queue = f"digest-{uuid.uuid4()}"
    assert await ensure_digest_schedule(client, queue) is True
    handle = client.get_schedule_handle(DIGEST_SCHEDULE_ID)
    try:
        assert await ensure_digest_schedule(client, queue) is False  # a restart: unchanged
        description = await handle.describe()
        spec = description.schedule.spec
        assert spec.time_zone_name == "Europe/Paris"
        (calendar,) = spec.calendars
        assert [(r.start, r.end) for r in calendar.hour] == [(8, 8)]
        assert [(r.start, r.end) for r in calendar.minute] == [(0, 0)]
        with ThreadPoolExecutor(max_workers=2) as executor:
            worker = build_worker(
                client,
                queue,
                JourneyActivities(seeded_sqlite_sessions),
                executor,
                notifications=notification_activities(seeded_sqlite_sessions, smtp_server),
            )
            async with worker:
                await handle.trigger()
                for _ in range(200):
                    actions = (await handle.describe()).info.recent_actions
                    if actions:
                        break
                    await asyncio.sleep(0.05)
                action = actions[-1].action
                assert isinstance(action, ScheduleActionExecutionStartWorkflow)
                started = action.workflow_id
                summary = await client.get_workflow_handle(
                    started, result_type=DigestSummary
                ).result()
        assert summary.addresses == 0  # nothing queued in a fresh database
    finally:
        await handle.delete()
