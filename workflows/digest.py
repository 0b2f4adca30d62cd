"""The coordinators' daily digest: started every morning by a Temporal Schedule.

Gathers the addresses with queued items (newly stalled journeys, reminders folded into the
digest) and sends each one mail. The round's key is the workflow id, which the Schedule
makes unique per scheduled time: a retried activity resends nothing, a later round
repeats nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.mail import (
        ACTIVITY_PLAN_DIGESTS,
        ACTIVITY_SEND_DIGEST,
        DIGEST_WORKFLOW_NAME,
        DigestRequest,
        DigestRun,
    )

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
)


@dataclass(frozen=True)
class DigestInput:
    """Empty on purpose: the round is the workflow run itself."""


@dataclass(frozen=True)
class DigestSummary:
    addresses: int
    statuses: dict[str, int]


@workflow.defn(name=DIGEST_WORKFLOW_NAME)
class CoordinatorDigestWorkflow:
    @workflow.run
    async def run(self, _input: DigestInput) -> DigestSummary:
        at = workflow.now()
        key = f"digest:{workflow.info().workflow_id}"
        addresses: list[str] = await workflow.execute_activity(
            ACTIVITY_PLAN_DIGESTS,
            DigestRun(key=key, at=at),
            result_type=list[str],
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=_RETRY,
        )
        statuses: list[str] = await asyncio.gather(
            *(
                workflow.execute_activity(
                    ACTIVITY_SEND_DIGEST,
                    DigestRequest(key=key, address=address, at=at),
                    result_type=str,
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=_RETRY,
                )
                for address in addresses
            )
        )
        counts: dict[str, int] = {}
        for status in statuses:
            counts[status] = counts.get(status, 0) + 1
        return DigestSummary(addresses=len(addresses), statuses=counts)
