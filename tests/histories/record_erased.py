"""Record a journey whose person asks for their data to be erased, keeping the older
histories as they are:

    .venv/bin/python -m tests.histories.record_erased     # from the repository root

Writes erased.json: assessed, booklet issued, oriented and accepted, three sessions, then
the person's erasure request (patch "erase-on-request": the unspent cheques cancelled,
the journey closed and anonymised at once, the workflow completing without waiting for
the retention period). With notice delivery, the mails filed in a throwaway database.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import WorkflowHandle

from domain import contracts as c
from domain.validity import paris_day
from tests.fixtures.temporal import (
    REFERRER,
    Journeys,
    session_request,
)
from tests.histories.record import record_time_skipping


async def erased(j: Journeys) -> WorkflowHandle[Any, Any]:
    start = await j.next_january()
    handle, _ = await j.start()
    status = await j.to_training(handle, start.year)
    serials = [ch.serial for ch in status.cheques]
    day = paris_day(await j.now())
    for k in range(3):
        await j.log_session(handle, session_request(serials[k : k + 1], day))
    await j.update(handle, c.U_ERASE_ON_REQUEST, c.EraseRequest(REFERRER))
    await handle.result()  # anonymised: the workflow completes at once
    return handle


async def main() -> None:
    await record_time_skipping([("erased", erased)])


if __name__ == "__main__":
    asyncio.run(main())
