"""Record journeys with the cheque security changes of the workflow, keeping the older
histories as they are:

    .venv/bin/python -m tests.histories.record_secured     # from the repository root

Writes expired_v3.json (the `expired` journey, whose session at another structure than the
one awaiting an answer is now told to that structure: patch "notify-structure-change") and
locked.json (a booklet locked after wrong security codes, a session refused meanwhile, the
coordinator's unlock, then a session at another structure). Both with notice delivery, the
mails filed in a throwaway database.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from domain import contracts as c
from domain.validity import paris_day
from tests.fixtures.temporal import (
    COORDINATOR,
    MEDIATION,
    MEDIATOR,
    OTHER_MEDIATION,
    REFERRER,
    Journeys,
    entry_assessment,
    session_request,
)
from tests.histories.record import expired, record_time_skipping


async def locked(j: Journeys) -> WorkflowHandle[Any, Any]:
    """Trained at one structure; booklet locked (wrong codes counted by the API); a session
    refused while locked; unlocked by a coordinator; the person then chooses another
    structure; expiry and anonymisation."""
    start = await j.next_january()
    handle, _ = await j.start()
    await j.update(handle, c.U_ASSESS, entry_assessment())
    status = await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year))
    serials = [ch.serial for ch in status.cheques]
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))
    await j.update(handle, c.U_ANSWER_ORIENTATION, c.OrientationAnswer(MEDIATOR, MEDIATION, True))
    day = paris_day(await j.now())
    await j.log_session(handle, session_request(serials[:1], day))
    await j.update(handle, c.U_LOCK_BOOKLET, c.LockBookletRequest(c.SYSTEM, 5))
    with contextlib.suppress(WorkflowUpdateFailedError):  # refused by the validator
        await j.log_session(handle, session_request(serials[1:2], day))
    await j.update(handle, c.U_UNLOCK_BOOKLET, c.UnlockBookletRequest(COORDINATOR))
    await j.log_session(handle, session_request(serials[1:3], day, structure=OTHER_MEDIATION))
    await j.finish(handle)
    return handle


async def main() -> None:
    await record_time_skipping([("expired_v3", expired), ("locked", locked)])


if __name__ == "__main__":
    asyncio.run(main())
