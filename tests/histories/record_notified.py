"""Record the same scripted journeys as record.py with notice delivery (patch
"deliver-notices"), under new names, keeping the older histories as they are:

    /work/venv/bin/python -m tests.histories.record_notified     # from the repository root

Writes completed_notified.json and expired_notified.json (the worker's default mailbox
sender files the mails in the throwaway database).
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.journey_records import JourneyActivities
from records.db import make_engine, migrate, session_factory
from records.seed import seed_default_programme
from tests.fixtures.temporal import Journeys, time_skipping_binary
from tests.histories.record import HERE, completed, expired
from worker import build_worker


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
        with sessions() as session:  # structures with e-mail addresses: mails are sent
            seed_default_programme(session, today=(await env.get_current_time()).date())
            session.commit()
        task_queue = f"record-{uuid.uuid4()}"
        try:
            with ThreadPoolExecutor(max_workers=4) as executor:
                worker = build_worker(env.client, task_queue, JourneyActivities(sessions), executor)
                async with worker:
                    harness = Journeys(env, task_queue, sessions)
                    for scenario in (completed, expired):
                        handle = await scenario(harness)
                        history = await handle.fetch_history()
                        names = {
                            e.activity_task_scheduled_event_attributes.activity_type.name
                            for e in history.events
                        }
                        assert "deliver_notices" in names, "no delivery in the history"
                        path = HERE / f"{scenario.__name__}_notified.json"
                        path.write_text(history.to_json())
                        print(f"{path.name}: {len(history.events)} events")
        finally:
            engine.dispose()
            await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
