"""Calendar policy of a programme: stall deadlines per stage, orientation, retention.

Defaults follow French inclusion services: an orientation is reminded after 10 days
and expires unanswered after 30 days. Administrators set a programme's values within
`BOUNDS` (records.policy stores them, api.policy_service changes them); a journey keeps
the policy it was referred with (it travels in its workflow's input).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain import refusals as r
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


# ---- what an administrator may change, and within what bounds ----

# The open stages whose stall deadlines are set per programme. A pending orientation
# (ORIENTED) follows the orientation reminder and expiry instead.
EDITABLE_STAGES: tuple[Stage, ...] = (
    Stage.REFERRED,
    Stage.ASSESSED,
    Stage.BOOKLET_ISSUED,
    Stage.IN_TRAINING,
)


@dataclass(frozen=True)
class Bound:
    """An editable value: its French label, unit and inclusive bounds."""

    label: str
    unit: str
    low: int
    high: int


_STAGE_NAMES = {
    Stage.REFERRED: "orienté vers le dispositif",
    Stage.ASSESSED: "diagnostic réalisé",
    Stage.BOOKLET_ISSUED: "carnet remis",
    Stage.IN_TRAINING: "en formation",
}


def _stage_bounds() -> dict[str, Bound]:
    out: dict[str, Bound] = {}
    for stage in EDITABLE_STAGES:
        key = stage.value.lower()
        name = _STAGE_NAMES[stage]
        out[f"{key}_reminder_days"] = Bound(f"Relance, étape « {name} »", "jours", 1, 365)
        out[f"{key}_stalled_days"] = Bound(f"Parcours bloqué, étape « {name} »", "jours", 1, 365)
    return out


# Every editable value, in the order of the page, with its bounds.
BOUNDS: dict[str, Bound] = {
    **_stage_bounds(),
    "orientation_reminder_days": Bound("Relance d'une orientation sans réponse", "jours", 1, 365),
    "orientation_expiry_days": Bound("Expiration d'une orientation sans réponse", "jours", 1, 365),
    "retention_days": Bound("Conservation avant anonymisation", "jours", 30, 3650),
    "grace_months": Bound("Délai de grâce après le millésime", "mois", 0, 12),
    "cheques_per_booklet": Bound("Chèques par carnet", "chèques", 1, 50),
    "cheque_value_cents": Bound("Valeur d'un chèque", "centimes", 100, 10_000),
}

# Reminder and deadline pairs: the reminder must come strictly before the deadline.
PAIRS: tuple[tuple[str, str], ...] = (
    *(
        (f"{s.value.lower()}_reminder_days", f"{s.value.lower()}_stalled_days")
        for s in EDITABLE_STAGES
    ),
    ("orientation_reminder_days", "orientation_expiry_days"),
)


def as_values(policy: JourneyPolicy) -> dict[str, int]:
    """The editable values of `policy`, keyed as in `BOUNDS`."""
    values: dict[str, int] = {}
    for stage in EDITABLE_STAGES:
        deadline = policy.stage_deadlines[stage]
        values[f"{stage.value.lower()}_reminder_days"] = deadline.reminder_days
        values[f"{stage.value.lower()}_stalled_days"] = deadline.stalled_days
    values["orientation_reminder_days"] = policy.orientation_reminder_days
    values["orientation_expiry_days"] = policy.orientation_expiry_days
    values["retention_days"] = policy.retention_days
    values["grace_months"] = policy.grace_months
    values["cheques_per_booklet"] = policy.cheques_per_booklet
    values["cheque_value_cents"] = policy.cheque_value_cents
    return values


def from_values(values: dict[str, int]) -> JourneyPolicy:
    """The policy these (checked) values describe; the rest stays at its default. The
    ORIENTED stage follows the orientation reminder and expiry."""
    deadlines = {
        stage: StageDeadline(
            reminder_days=values[f"{stage.value.lower()}_reminder_days"],
            stalled_days=values[f"{stage.value.lower()}_stalled_days"],
        )
        for stage in EDITABLE_STAGES
    }
    deadlines[Stage.ORIENTED] = StageDeadline(
        reminder_days=values["orientation_reminder_days"],
        stalled_days=values["orientation_expiry_days"],
    )
    ordered = {s: deadlines[s] for s in _default_stage_deadlines()}
    return JourneyPolicy(
        stage_deadlines=ordered,
        orientation_reminder_days=values["orientation_reminder_days"],
        orientation_expiry_days=values["orientation_expiry_days"],
        retention_days=values["retention_days"],
        grace_months=values["grace_months"],
        cheques_per_booklet=values["cheques_per_booklet"],
        cheque_value_cents=values["cheque_value_cents"],
    )


def policy_problems(values: dict[str, int]) -> dict[str, str]:
    """Why these values cannot be a programme's policy: field -> French message (empty:
    they can). Every field of `BOUNDS` must be present."""
    problems: dict[str, str] = {}
    for name, bound in BOUNDS.items():
        value = values.get(name)
        if value is None:
            problems[name] = r.msg_policy_missing(bound.label)
        elif not bound.low <= value <= bound.high:
            problems[name] = r.msg_policy_out_of_bounds(
                bound.label, bound.low, bound.high, bound.unit, value
            )
    for reminder, deadline in PAIRS:
        if reminder in problems or deadline in problems:
            continue
        if values[reminder] >= values[deadline]:
            problems[reminder] = r.msg_policy_reminder_too_late(
                BOUNDS[reminder].label, values[reminder], values[deadline]
            )
    return problems
