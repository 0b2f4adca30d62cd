"""The engine's floor: a workflow taking the same Updates as a journey, each running one
no-op activity, with nothing else. Run as a worker: `python -m bench.bare ADDRESS QUEUE`."""

from __future__ import annotations

import asyncio
import compileall
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():  # not imported again by every workflow run
    from temporal_client import connect_to

BARE_WORKFLOW = "BareWorkflow"


@activity.defn(name="bare_noop")
def noop(step: int) -> int:
    return step


@workflow.defn(name=BARE_WORKFLOW)
class BareWorkflow:
    def __init__(self) -> None:
        self.steps = 0
        self.done = False

    @workflow.run
    async def run(self, total_steps: int) -> int:
        await workflow.wait_condition(lambda: self.steps >= total_steps)
        return self.steps

    @workflow.update
    async def step(self, n: int) -> int:
        await workflow.execute_activity(noop, n, start_to_close_timeout=timedelta(seconds=30))
        self.steps += 1
        return self.steps


async def run_worker(address: str, task_queue: str) -> None:
    # Like worker.py: bytecode on disk, or the sandbox compiles this module for every run.
    compileall.compile_file(__file__, quiet=2)
    client = await connect_to(address)
    with ThreadPoolExecutor(max_workers=16) as executor:
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[BareWorkflow],
            activities=[noop],
            activity_executor=executor,
        )
        await worker.run()


if __name__ == "__main__":
    asyncio.run(run_worker(sys.argv[1], sys.argv[2]))
