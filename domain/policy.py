"""Calendar policy of a programme: stall deadlines per stage, orientation, retention.

Defaults follow French inclusion services: an orientation is reminded after 10 days
and expires unanswered after 30 days. Every value is overridable per programme.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.stages import Stage


@dataclass(frozen=True)
class StageDeadline:
    """After `reminder_days` without activity remind whoever must act; after `stalled_days`
    flag the journey stalled and tell coordinators."""

    reminder_days: int
    stalled_days: int


def _default_stage_deadlines() -> dict[Stage, StageDeadline]:
    return {
        Stage.REFERRED: StageDeadline(reminder_days=10, stalled_days=20),
        Stage.ASSESSED: StageDeadline(reminder_days=10, stalled_days=20),
        Stage.BOOKLET_ISSUED: StageDeadline(reminder_days=10, stalled_days=20),
        # For a pending orientation the second deadline is its expiry (see below).
        Stage.ORIENTED: StageDeadline(reminder_days=10, stalled_days=30),
        Stage.IN_TRAINING: StageDeadline(reminder_days=30, stalled_days=60),
    }


@dataclass(frozen=True)
class JourneyPolicy:
    stage_deadlines: dict[Stage, StageDeadline] = field(default_factory=_default_stage_deadlines)
    orientation_reminder_days: int = 10
    orientation_expiry_days: int = 30
    retention_days: int = 730  # two years after last activity, then anonymise
    grace_months: int = 1  # cheques valid to 31 December N plus this many months
    stop_issuing_days_before_expiry: int = 30  # no new booklet of a millésime this close to its end
    cheques_per_booklet: int = 10
    cheque_value_cents: int = 1000

    def deadline(self, stage: Stage) -> StageDeadline | None:
        return self.stage_deadlines.get(stage)


# Who must act at each open stage: the stall reminder goes to them.
WHO_MUST_ACT: dict[Stage, str] = {
    Stage.REFERRED: "REFERRER",
    Stage.ASSESSED: "REFERRER",
    Stage.BOOKLET_ISSUED: "REFERRER",
    Stage.ORIENTED: "MEDIATION_STRUCTURE",
    Stage.IN_TRAINING: "MEDIATION_STRUCTURE",
}
