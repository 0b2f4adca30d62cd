"""Run a Temporal worker with the journey workflow and its activities.

`python worker.py` runs against the server named by PASSNUM_TEMPORAL_ADDRESS.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.journey_records import JourneyActivities
from config import Settings
from records.db import make_engine, session_factory
from workflows.journey import JourneyWorkflow


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


def sandbox_runner() -> SandboxedWorkflowRunner:
    # Domain rules are pure and deterministic: pass them through instead of re-importing
    # them on every workflow run.
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("domain")
    )


def build_worker(
    client: Client, task_queue: str, activities: JourneyActivities, executor: ThreadPoolExecutor
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[JourneyWorkflow],
        activities=activities.all(),
        activity_executor=executor,
        workflow_runner=sandbox_runner(),
    )


async def run_worker(settings: Settings, client: Client | None = None) -> None:
    client = client or await connect(settings)
    engine = make_engine(settings.db_url)
    activities = JourneyActivities(session_factory(engine))
    with ThreadPoolExecutor(max_workers=16) as executor:
        worker = build_worker(client, settings.temporal_task_queue, activities, executor)
        await worker.run()


def main() -> None:
    asyncio.run(run_worker(Settings()))


if __name__ == "__main__":
    main()
