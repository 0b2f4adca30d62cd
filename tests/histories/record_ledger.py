"""Record a history of the end-of-millésime workflow for its replay test
(tests/test_millesime_close.py):

    .venv/bin/python -m tests.histories.record_ledger      # from the repository root

On the time-skipping server over a throwaway seeded SQLite database: one journey trained
then expired with its millésime, then `MillesimeCloseWorkflow` closes the millésime. Writes
ledger/millesime_close.json (a folder apart: tests/test_replay.py replays the journeys of
this folder). Never overwrites a history: a change to the workflow is patched and
recorded beside it under a new name.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.journey_records import JourneyActivities
from domain.validity import paris_day
from records.db import make_engine, migrate, session_factory
from records.seed import seed_default_programme
from tests.fixtures.temporal import Journeys, paris, session_request, time_skipping_binary
from tests.histories.record import HERE
from worker import build_worker
from workflows.millesime_close import CloseInput, MillesimeCloseWorkflow

TARGET = HERE / "ledger" / "millesime_close.json"


async def main() -> None:
    if TARGET.exists():
        raise SystemExit(f"{TARGET} exists: record a new history under a new name")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(time_skipping_binary()),
        data_converter=pydantic_data_converter,
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/records.db"
            migrate(url)
            engine = make_engine(url)
            sessions = session_factory(engine)
            with sessions() as s:
                seed_default_programme(s)
                s.commit()
            queue = f"record-{uuid.uuid4()}"
            with ThreadPoolExecutor(max_workers=4) as executor:
                worker = build_worker(env.client, queue, JourneyActivities(sessions), executor)
                async with worker:
                    j = Journeys(env, queue, sessions)
                    year = (await j.next_january()).year
                    handle, _ = await j.start()
                    status = await j.to_training(handle, year)
                    await j.advance_to(paris(year, 3, 2))
                    serials = [ch.serial for ch in status.cheques]
                    day = paris_day(await j.now())
                    await j.log_session(handle, session_request(serials[:2], day))
                    await j.finish(handle)
                    close = await env.client.start_workflow(
                        MillesimeCloseWorkflow.run,
                        CloseInput(),
                        id="millesime-close-recorded",
                        task_queue=queue,
                    )
                    await close.result()
                    history = await close.fetch_history()
                    TARGET.write_text(history.to_json())
                    print(f"{TARGET.name}: {len(history.events)} events")
                    await j.close()
            engine.dispose()
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
