"""Record the monthly statements workflow's history, for replay tests of later changes:

    .venv/bin/python -m tests.histories.record_statements     # from the repository root

Writes statements/monthly.json: a run started as the Schedule starts it (no month: the
month before the run's Paris day), its build activity over a throwaway seeded database.
Kept apart from the journeys' histories (tests/test_replay.py replays those).
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.journey_records import JourneyActivities
from domain.statements import STATEMENTS_WORKFLOW_NAME, StatementsBuilt, StatementsInput
from records.db import make_engine, migrate, session_factory
from records.seed import seed_default_programme
from tests.fixtures.temporal import time_skipping_binary
from worker import build_worker

HERE = Path(__file__).parent / "statements"


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'records.db'}"
        migrate(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        with sessions() as s:
            seed_default_programme(s)
            s.commit()
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(time_skipping_binary()),
            data_converter=pydantic_data_converter,
        )
        try:
            queue = f"record-{uuid.uuid4()}"
            with ThreadPoolExecutor(max_workers=2) as executor:
                async with build_worker(env.client, queue, JourneyActivities(sessions), executor):
                    handle = await env.client.start_workflow(
                        STATEMENTS_WORKFLOW_NAME,
                        StatementsInput(),
                        id=f"passnum-statements-{uuid.uuid4()}",
                        task_queue=queue,
                        result_type=StatementsBuilt,
                    )
                    await handle.result()
                    history = await handle.fetch_history()
            HERE.mkdir(exist_ok=True)
            (HERE / "monthly.json").write_text(history.to_json())
        finally:
            await env.shutdown()
            engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
