"""Record the same scripted journeys as record.py with notice delivery (patch
"deliver-notices"), under new names, keeping the older histories as they are:

    /work/venv/bin/python -m tests.histories.record_notified     # from the repository root

Writes completed_notified.json and expired_notified.json (the worker's default mailbox
sender files the mails in the throwaway database).
"""

from __future__ import annotations

import asyncio

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.fixtures.temporal import time_skipping_binary
from tests.histories.record import completed, expired, record_histories


def _delivers(history: WorkflowHistory) -> None:
    names = {e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events}
    assert "deliver_notices" in names, "no delivery in the history"


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(time_skipping_binary()),
        data_converter=pydantic_data_converter,
    )
    try:
        await record_histories(
            env,
            [("completed_notified", completed), ("expired_notified", expired)],
            seeded=True,
            check=_delivers,
        )
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
