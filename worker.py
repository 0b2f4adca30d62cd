"""Run a Temporal worker with the journey workflow and its activities.

`python worker.py` runs against the server named by PASSNUM_TEMPORAL_ADDRESS.

Sizing (measured with `python -m bench.journeys`, see bench/journeys.py): a cached journey
costs the worker roughly 200 KiB (its own sandboxed copy of the workflow module and its
state). The workflow cache is therefore bounded (MAX_CACHED_WORKFLOWS): a journey hears
from people every few days at most, and one that fell out of the cache is replayed from its
history (some 30 to 60 events) when it next does.
"""

from __future__ import annotations

import asyncio
import compileall
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import workflows
from activities.journey_records import JourneyActivities
from activities.ledger import LedgerActivities
from activities.notifications import NotificationActivities
from activities.statements import StatementActivities
from config import Settings
from domain.ledger import CLOSE_HOUR, CLOSE_SCHEDULE_ID, CLOSE_WORKFLOW_NAME
from domain.mail import DIGEST_HOUR, DIGEST_SCHEDULE_ID, DIGEST_WORKFLOW_NAME
from domain.statements import (
    STATEMENTS_DAY,
    STATEMENTS_HOUR,
    STATEMENTS_SCHEDULE_ID,
    STATEMENTS_WORKFLOW_NAME,
    StatementsInput,
)
from notifications.delivery import MailSettings
from notifications.outbox_dispatch import OutboxDispatcher
from notifications.sender import MailboxSender, SmtpSender
from records.db import is_sqlite, make_engine, session_factory
from temporal_client import connect, worker_client
from workflows.account_mail import AccountMailWorkflow
from workflows.digest import CoordinatorDigestWorkflow, DigestInput
from workflows.journey import JourneyWorkflow
from workflows.millesime_close import CloseInput, MillesimeCloseWorkflow
from workflows.statements import MonthlyStatementsWorkflow

log = logging.getLogger(__name__)

# Workflows kept in memory (the SDK's default is 1,000): about 100 MiB of journeys.
MAX_CACHED_WORKFLOWS = 500
# Threads for the (blocking, database) activities. Record activities of one SQLite file
# take its write lock in turn, so more threads only wait longer.
ACTIVITY_THREADS = 8
# Modules the sandbox shares with the worker instead of importing them again for every
# workflow run: pure and deterministic (stdlib and `domain` only), no module-level state.
PASSTHROUGH_MODULES = ("domain",)


def sandbox_runner() -> SandboxedWorkflowRunner:
    # Domain rules are pure and deterministic: pass them through instead of re-importing
    # them on every workflow run.
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def precompile_workflows() -> None:
    """Write the workflow modules' bytecode if it is missing.

    The sandbox imports the workflow module afresh for every workflow run; with no bytecode
    on disk (PYTHONDONTWRITEBYTECODE=1, common in containers) each run compiled its source
    again, a tenth of the worker's CPU under load. Best effort: a read-only install has its
    bytecode already or runs without.
    """
    try:
        compileall.compile_dir(Path(workflows.__file__).parent, quiet=2)
    except OSError as err:  # pragma: no cover - read-only tree
        log.info("workflow bytecode not written: %s", err)


class PassnumWorker(Worker):
    """A Temporal worker that also runs the outbox dispatcher (notices of recorded events,
    notifications.outbox_dispatch) for as long as it runs, `run()` or `async with`."""

    def __init__(self, *args: Any, dispatcher: OutboxDispatcher, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dispatcher = dispatcher

    async def run(self) -> None:
        async with self.dispatcher.running():
            await super().run()


def build_worker(
    client: Client,
    task_queue: str,
    activities: JourneyActivities,
    executor: ThreadPoolExecutor,
    *,
    notifications: NotificationActivities | None = None,
    statements: StatementActivities | None = None,
    ledger: LedgerActivities | None = None,
    max_cached_workflows: int = MAX_CACHED_WORKFLOWS,
) -> Worker:
    """Without `notifications`, mails are filed in the local mailbox table (MailboxSender):
    for tests of journey logic and benchmarks; `run_worker` always passes an SMTP sender.
    Without `statements`, the monthly statements are built in the records' database."""
    precompile_workflows()
    sessions = activities._sessions  # the same database as the records
    if notifications is None:
        notifications = NotificationActivities(
            sessions, MailboxSender(sessions), MailSettings.local()
        )
    if statements is None:
        statements = StatementActivities(sessions)
    ledger = ledger or LedgerActivities(activities._sessions)
    activities.tell_recorded(notifications.outbox.notify)
    return PassnumWorker(
        worker_client(client),
        task_queue=task_queue,
        workflows=[
            JourneyWorkflow,
            AccountMailWorkflow,
            CoordinatorDigestWorkflow,
            MonthlyStatementsWorkflow,
            MillesimeCloseWorkflow,
        ],
        activities=[
            *activities.all(),
            *notifications.all(),
            *statements.all(),
            *ledger.all(),
        ],
        activity_executor=executor,
        workflow_runner=sandbox_runner(),
        max_cached_workflows=max_cached_workflows,
        dispatcher=notifications.outbox,
    )


async def _ensure_paris_schedule(
    client: Client,
    schedule_id: str,
    *,
    workflow: str,
    arg: object,
    workflow_id: str,
    task_queue: str,
    calendar: ScheduleCalendarSpec,
    catchup: timedelta,
) -> bool:
    """Create a Schedule starting `workflow` at `calendar` (Europe/Paris), overlaps skipped,
    missed runs caught up within `catchup`; True if created now. Idempotent: an existing
    schedule is left as an operator may have tuned or paused it."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            workflow,
            arg,
            id=workflow_id,  # the Schedule appends the scheduled time
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(calendars=[calendar], time_zone_name="Europe/Paris"),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=catchup),
    )
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True


def _at(hour: int, *, day_of_month: int | None = None) -> ScheduleCalendarSpec:
    """hh:00:00, every day or on one day of the month."""
    if day_of_month is None:
        return ScheduleCalendarSpec(hour=[ScheduleRange(hour)])  # minute, second: 0
    return ScheduleCalendarSpec(
        day_of_month=[ScheduleRange(day_of_month)], hour=[ScheduleRange(hour)]
    )


async def ensure_digest_schedule(client: Client, task_queue: str) -> bool:
    """The daily digest (08:00 Europe/Paris). A worker down at 08:00 still sends the
    morning's digest when it is back."""
    return await _ensure_paris_schedule(
        client,
        DIGEST_SCHEDULE_ID,
        workflow=DIGEST_WORKFLOW_NAME,
        arg=DigestInput(),
        workflow_id="passnum-digest",
        task_queue=task_queue,
        calendar=_at(DIGEST_HOUR),
        catchup=timedelta(hours=12),
    )


async def ensure_statements_schedule(client: Client, task_queue: str) -> bool:
    """The monthly statements (the 1st, 06:00 Europe/Paris, for the month before). A worker
    down on the 1st still builds them when it is back within a week (the month before is
    still the one the run computes)."""
    return await _ensure_paris_schedule(
        client,
        STATEMENTS_SCHEDULE_ID,
        workflow=STATEMENTS_WORKFLOW_NAME,
        arg=StatementsInput(),
        workflow_id="passnum-statements",
        task_queue=task_queue,
        calendar=_at(STATEMENTS_HOUR, day_of_month=STATEMENTS_DAY),
        catchup=timedelta(days=7),
    )


async def ensure_millesime_close_schedule(client: Client, task_queue: str) -> bool:
    """The end of millésimes (every day at 06:00 Europe/Paris: closes those whose validity
    ended, checks again those waiting for late expiries)."""
    return await _ensure_paris_schedule(
        client,
        CLOSE_SCHEDULE_ID,
        workflow=CLOSE_WORKFLOW_NAME,
        arg=CloseInput(),
        workflow_id="passnum-millesime-close",
        task_queue=task_queue,
        calendar=_at(CLOSE_HOUR),
        catchup=timedelta(days=1),
    )


async def run_worker(settings: Settings, client: Client | None = None) -> None:
    client = client or await connect(settings)
    engine = make_engine(settings.db_url)
    sessions = session_factory(engine)
    activities = JourneyActivities(
        sessions, serialise_writes=is_sqlite(settings.db_url), codes=settings.code_vault
    )
    notifications = NotificationActivities(
        sessions,
        SmtpSender.from_settings(settings),
        MailSettings.from_settings(settings),
        serialise_writes=is_sqlite(settings.db_url),
    )
    statements = StatementActivities(sessions, serialise_writes=is_sqlite(settings.db_url))
    await ensure_digest_schedule(client, settings.temporal_task_queue)
    await ensure_statements_schedule(client, settings.temporal_task_queue)
    await ensure_millesime_close_schedule(client, settings.temporal_task_queue)
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        worker = build_worker(
            client,
            settings.temporal_task_queue,
            activities,
            executor,
            notifications=notifications,
            statements=statements,
        )
        await worker.run()


def main() -> None:
    asyncio.run(run_worker(Settings()))


if __name__ == "__main__":
    main()
