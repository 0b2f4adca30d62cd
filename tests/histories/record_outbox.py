"""Record the same scripted journeys as record_notified.py with the notices sent by the
worker's outbox dispatcher (patch "deliver-from-outbox"), under new names, keeping the
older histories as they are:

    .venv/bin/python -m tests.histories.record_outbox     # from the repository root

Writes completed_outbox.json and expired_outbox.json: the same journeys without a single
delivery activity (the worker's default mailbox sender files the mails in the throwaway
database).
"""

from __future__ import annotations

import asyncio

from temporalio.client import WorkflowHistory

from tests.histories.record import completed, expired, record_time_skipping


def _no_delivery(history: WorkflowHistory) -> None:
    names = {e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events}
    assert "deliver_notices" not in names, "a delivery activity in the history"


async def main() -> None:
    await record_time_skipping(
        [("completed_outbox", completed), ("expired_outbox", expired)], check=_no_delivery
    )


if __name__ == "__main__":
    asyncio.run(main())
