"""Record full journey histories for the replay test (tests/test_replay.py).

    /work/venv/bin/python -m tests.histories.record          # from the repository root

Runs scripted journeys on the time-skipping server with the real record activities over
a throwaway SQLite database, and writes each workflow history as JSON next to this file.
Re-record only when a workflow change is *meant* to break old histories, i.e. never for
a change that running journeys will replay: patch those with `workflow.patched` and keep
the old files (add new ones beside them).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.journey_records import JourneyActivities
from domain import contracts as c
from domain.stages import DeclineReason
from domain.validity import paris_day
from records.db import make_engine, migrate, session_factory
from tests.fixtures.temporal import (
    COORDINATOR,
    MEDIATION,
    MEDIATOR,
    OTHER_MEDIATION,
    OTHER_MEDIATOR,
    REFERRER,
    Journeys,
    entry_assessment,
    exit_assessment,
    session_request,
    time_skipping_binary,
)
from worker import build_worker

HERE = Path(__file__).resolve().parent


async def completed(j: Journeys) -> WorkflowHandle[Any, Any]:
    """Stall reminder, assessment, declined then accepted orientation, every cheque spent
    (one session refused, one retried), exit assessment, anonymisation."""
    start = await j.next_january()
    handle, _ = await j.start()
    await j.advance(timedelta(days=12))
    await j.update(handle, c.U_ASSESS, entry_assessment())
    status = await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year))
    serials = [ch.serial for ch in status.cheques]
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))
    await j.advance(timedelta(days=2))
    await j.update(
        handle,
        c.U_ANSWER_ORIENTATION,
        c.OrientationAnswer(MEDIATOR, MEDIATION, False, DeclineReason.TOO_FAR),
    )
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, OTHER_MEDIATION))
    await j.update(
        handle,
        c.U_ANSWER_ORIENTATION,
        c.OrientationAnswer(OTHER_MEDIATOR, OTHER_MEDIATION, True),
    )
    for n in range(5):
        await j.advance(timedelta(days=20))
        day = paris_day(await j.now())
        request = session_request(serials[2 * n : 2 * n + 2], day, structure=OTHER_MEDIATION)
        await j.log_session(handle, request)
        if n == 0:
            await j.log_session(handle, request)  # a retried request
            # Already redeemed: refused by the validator, so absent from the history.
            with contextlib.suppress(WorkflowUpdateFailedError):
                await j.log_session(handle, session_request(serials[:1], day))
    await j.update(handle, c.U_ASSESS, exit_assessment(OTHER_MEDIATOR))
    await j.finish(handle)
    return handle


async def expired(j: Journeys) -> WorkflowHandle[Any, Any]:
    """Unanswered orientation (reminder, expiry, stall), nudge, coordinator re-orientation,
    a session elsewhere, expiry warnings, expiry, anonymisation."""
    start = await j.next_january()
    handle, _ = await j.start()
    await j.update(handle, c.U_ASSESS, entry_assessment())
    status = await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year))
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))
    await j.advance(timedelta(days=31))
    await j.settle(handle)
    await j.update(handle, c.U_NUDGE, c.NudgeRequest(COORDINATOR, "Merci de réorienter"))
    await j.update(
        handle, c.U_REORIENT, c.OrientRequest(COORDINATOR, OTHER_MEDIATION, "Sans réponse")
    )
    await j.advance(timedelta(days=3))
    day = paris_day(await j.now())
    await j.log_session(handle, session_request([status.cheques[0].serial], day))
    await j.finish(handle)
    return handle


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(time_skipping_binary()),
        data_converter=pydantic_data_converter,
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/records.db"
        migrate(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        task_queue = f"record-{uuid.uuid4()}"
        try:
            with ThreadPoolExecutor(max_workers=4) as executor:
                worker = build_worker(env.client, task_queue, JourneyActivities(sessions), executor)
                async with worker:
                    harness = Journeys(env, task_queue, sessions)
                    for scenario in (completed, expired):
                        handle = await scenario(harness)
                        history = await handle.fetch_history()
                        path = HERE / f"{scenario.__name__}.json"
                        path.write_text(history.to_json())
                        print(f"{path.name}: {len(history.events)} events")
        finally:
            engine.dispose()
            await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
