"""The journey's calendar: which timed job is due next, computed from its status alone.

Pure and deterministic (imports only `domain`), so the workflow recomputes it after
every change and unit tests can call it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.contracts import JourneyStatus
from domain.policy import JourneyPolicy
from domain.stages import OrientationStatus, Stage
from domain.validity import expiry_warnings


class Job(StrEnum):
    STAGE_REMINDER = "STAGE_REMINDER"
    STALL = "STALL"
    ORIENTATION_REMINDER = "ORIENTATION_REMINDER"
    ORIENTATION_EXPIRY = "ORIENTATION_EXPIRY"
    EXPIRY_WARNING = "EXPIRY_WARNING"
    CHEQUES_EXPIRY = "CHEQUES_EXPIRY"
    ANONYMISATION = "ANONYMISATION"


@dataclass(frozen=True)
class Due:
    at: datetime
    job: Job
    days: int = 0  # the deadline in days (stall/reminder delay, or days before expiry)


# Job order when several fall due at the same instant: expiry closes the journey, so the
# warnings and reminders that share its instant must go first.
_RANK = {job: i for i, job in enumerate(Job)}


def pending_jobs(status: JourneyStatus, policy: JourneyPolicy) -> list[Due]:
    """Every job still to run for this status, earliest first."""
    jobs: list[Due] = []
    stage = status.stage
    if stage == Stage.ANONYMISED:
        return jobs
    if stage == Stage.CLOSED:
        if status.last_activity_at is not None:
            at = status.last_activity_at + timedelta(days=policy.retention_days)
            jobs.append(Due(at, Job.ANONYMISATION, policy.retention_days))
        return jobs

    orientation = status.orientation
    if orientation is not None and orientation.status == OrientationStatus.PENDING:
        # A pending orientation has its own calendar instead of the ORIENTED stage deadlines.
        if not orientation.reminded:
            days = policy.orientation_reminder_days
            jobs.append(
                Due(orientation.since + timedelta(days=days), Job.ORIENTATION_REMINDER, days)
            )
        days = policy.orientation_expiry_days
        jobs.append(Due(orientation.since + timedelta(days=days), Job.ORIENTATION_EXPIRY, days))
    else:
        deadline = policy.deadline(stage)
        base = status.last_activity_at
        if deadline is not None and base is not None:
            if status.reminded_for_activity_at != base:
                at = base + timedelta(days=deadline.reminder_days)
                jobs.append(Due(at, Job.STAGE_REMINDER, deadline.reminder_days))
            if not status.stalled:
                at = base + timedelta(days=deadline.stalled_days)
                jobs.append(Due(at, Job.STALL, deadline.stalled_days))

    if status.millesime is not None and status.valid_until is not None:
        if status.cheques_left > 0:
            for days, at in expiry_warnings(status.millesime, policy.grace_months):
                if days not in status.expiry_warnings_sent:
                    jobs.append(Due(at, Job.EXPIRY_WARNING, days))
        jobs.append(Due(status.valid_until, Job.CHEQUES_EXPIRY))

    jobs.sort(key=lambda d: (d.at, _RANK[d.job], -d.days))
    return jobs


def next_due(status: JourneyStatus, policy: JourneyPolicy) -> Due | None:
    jobs = pending_jobs(status, policy)
    return jobs[0] if jobs else None


def due_warnings(status: JourneyStatus, policy: JourneyPolicy, now: datetime) -> list[int]:
    """Expiry warnings (days before) whose instant has passed and that were not sent.

    When a booklet is handed out late, several are due at once: only the nearest one
    is worth sending, but all of them are marked as sent.
    """
    if status.millesime is None:
        return []
    return [
        days
        for days, at in expiry_warnings(status.millesime, policy.grace_months)
        if at <= now and days not in status.expiry_warnings_sent
    ]
