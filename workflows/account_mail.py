"""One mail carrying a one-time link (an invitation, a password reset), started by the API
once the link and its delivery row are committed. Retried with backoff while the SMTP relay
is unavailable, for at most an hour (a reset link lives no longer)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.mail import ACCOUNT_MAIL_WORKFLOW_NAME, ACTIVITY_SEND_ACCOUNT_MAIL, SendAccountMail

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
)


@workflow.defn(name=ACCOUNT_MAIL_WORKFLOW_NAME)
class AccountMailWorkflow:
    @workflow.run
    async def run(self, request: SendAccountMail) -> str:
        status: str = await workflow.execute_activity(
            ACTIVITY_SEND_ACCOUNT_MAIL,
            request,
            result_type=str,
            start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=timedelta(hours=1),
            retry_policy=_RETRY,
        )
        return status
