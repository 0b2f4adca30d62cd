"""The monthly reimbursement statements: started on the 1st of each month (06:00
Europe/Paris) by a Temporal Schedule, it builds the DRAFT statement of every mediation
structure for the month before (records/statements.py, through one activity).

The month comes from the run's own clock (`workflow.now()` read in Paris), or from the
input for a run started by hand. Building is idempotent: a retried activity, a Schedule
fired twice or a run started again adds nothing twice.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.months import previous_month
    from domain.statements import (
        ACTIVITY_BUILD_STATEMENTS,
        STATEMENTS_WORKFLOW_NAME,
        BuildStatements,
        StatementsBuilt,
        StatementsInput,
    )
    from domain.validity import paris_day

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
)


@workflow.defn(name=STATEMENTS_WORKFLOW_NAME)
class MonthlyStatementsWorkflow:
    @workflow.run
    async def run(self, req: StatementsInput) -> StatementsBuilt:
        at = workflow.now()
        month = req.month.replace(day=1) if req.month else previous_month(paris_day(at))
        return await workflow.execute_activity(
            ACTIVITY_BUILD_STATEMENTS,
            BuildStatements(month=month, at=at),
            result_type=StatementsBuilt,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=_RETRY,
        )
