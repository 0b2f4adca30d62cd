"""The end of a millésime: started every day by a Temporal Schedule.

One activity does the work (`close_millesimes`): every millésime whose validity (grace
included) has ended is checked (every unspent cheque expired, the ledger reconciled with
the cheques) and what returns to each funder is recorded with a report. It is idempotent:
a closed millésime is never touched again, one still waiting for late expiries is checked
again the next day. The round's time is the workflow's, the same on every retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.ledger import ACTIVITY_CLOSE_MILLESIMES, CLOSE_WORKFLOW_NAME, CloseReport, CloseRun

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
)


@dataclass(frozen=True)
class CloseInput:
    """Empty on purpose: the round is the workflow run itself."""


@workflow.defn(name=CLOSE_WORKFLOW_NAME)
class MillesimeCloseWorkflow:
    @workflow.run
    async def run(self, _input: CloseInput) -> CloseReport:
        report: CloseReport = await workflow.execute_activity(
            ACTIVITY_CLOSE_MILLESIMES,
            CloseRun(at=workflow.now()),
            result_type=CloseReport,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=_RETRY,
        )
        return report
