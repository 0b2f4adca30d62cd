"""Record the same scripted journeys as record.py with notice delivery (patch
"deliver-notices"), under new names, keeping the older histories as they are:

    /work/venv/bin/python -m tests.histories.record_notified     # from the repository root

Writes completed_notified.json and expired_notified.json (the worker's default mailbox
sender files the mails in the throwaway database).
"""

from __future__ import annotations

import asyncio

from temporalio.client import WorkflowHistory

from tests.histories.record import completed, expired, record_time_skipping


def _delivers(history: WorkflowHistory) -> None:
    names = {e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events}
    assert "deliver_notices" in names, "no delivery in the history"


async def main() -> None:
    await record_time_skipping(
        [("completed_notified", completed), ("expired_notified", expired)], check=_delivers
    )


if __name__ == "__main__":
    asyncio.run(main())
