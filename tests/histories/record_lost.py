"""Record a journey whose booklet is declared lost and replaced, keeping the older
histories as they are:

    .venv/bin/python -m tests.histories.record_lost     # from the repository root

Writes lost.json: trained at one structure, a session, the booklet declared stolen
(patch "lost-booklet": its unspent cheques cancelled, a replacement carrying the remaining
count), a cheque of the lost booklet refused meanwhile, the replacement's cheques spent
to the end (the journey completes), anonymisation. With notice delivery, the mails filed
in a throwaway database.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from domain import contracts as c
from domain.stages import ChequeStatus, LossReason
from domain.validity import paris_day
from tests.fixtures.temporal import (
    MEDIATION,
    MEDIATOR,
    REFERRER,
    Journeys,
    entry_assessment,
    session_request,
)
from tests.histories.record import record_time_skipping


async def lost(j: Journeys) -> WorkflowHandle[Any, Any]:
    start = await j.next_january()
    handle, _ = await j.start()
    await j.update(handle, c.U_ASSESS, entry_assessment())
    status = await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year))
    old = [ch.serial for ch in status.cheques]
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))
    await j.update(handle, c.U_ANSWER_ORIENTATION, c.OrientationAnswer(MEDIATOR, MEDIATION, True))
    day = paris_day(await j.now())
    await j.log_session(handle, session_request(old[:3], day))
    replaced = await j.update(
        handle,
        c.U_DECLARE_BOOKLET_LOST,
        c.DeclareBookletLostRequest(REFERRER, status.booklet_number or 0, day, LossReason.STOLEN),
    )
    with contextlib.suppress(WorkflowUpdateFailedError):  # declared lost: refused
        await j.log_session(handle, session_request(old[3:4], day))
    new = [ch.serial for ch in replaced.cheques if ch.status == ChequeStatus.ISSUED]
    await j.log_session(handle, session_request(new[:3], day))
    await j.log_session(handle, session_request(new[3:], day))  # the last: completed
    await j.finish(handle)
    return handle


async def main() -> None:
    await record_time_skipping([("lost", lost)])


if __name__ == "__main__":
    asyncio.run(main())
