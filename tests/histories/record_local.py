"""Record the scripted journeys with events recorded by a local activity (patch
"record-locally"), under new names, keeping the older histories as they are:

    .venv/bin/python -m tests.histories.record_local     # from the repository root

Writes completed_local.json, expired_local.json and calendar_local.json (seeded: notices
are delivered, the mails filed in the throwaway database).
"""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.contracts import ACTIVITY_RECORD_EVENT, ACTIVITY_RECORD_EVENTS
from tests.fixtures.temporal import time_skipping_binary
from tests.histories.record import HERE, calendar, completed, expired, record_histories


def _records_locally(history: WorkflowHistory) -> None:
    scheduled = {
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    assert not scheduled & {ACTIVITY_RECORD_EVENT, ACTIVITY_RECORD_EVENTS}, scheduled
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert any(
        m.marker_recorded_event_attributes.marker_name == "core_local_activity" for m in markers
    )


async def main() -> None:
    names = ("completed_local", "expired_local", "calendar_local")
    if any((HERE / f"{n}.json").exists() for n in names):
        raise SystemExit("a *_local.json exists: record under new names")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(time_skipping_binary()),
        data_converter=pydantic_data_converter,
    )
    try:
        await record_histories(
            env,
            list(zip(names, (completed, expired, calendar), strict=True)),
            seeded=True,
            check=_records_locally,
        )
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
