"""Messages between the API, the journey workflow and its activities.

Plain dataclasses of opaque identifiers and domain values: no personal data ever goes in
here, because all of it lands in Temporal's history. They travel with
`temporalio.contrib.pydantic.pydantic_data_converter` (encrypted on top: temporal_client).

Free text typed by professionals (a re-orientation's or a withdrawal's reason, a comment on
an orientation's answer, a nudge's message) is personal data too: the API writes it to the
records (`free_text`) and the request carries its id (`FREE_TEXTS`). The text fields stay,
empty, for the histories recorded before: their requests carried the text itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from domain.needs import (
    AssessmentKind,
    AssessmentTool,
    AutonomyLevel,
    Equipment,
    SessionKind,
    SessionPlace,
    Theme,
)
from domain.notices import NoticeKind, Recipient
from domain.policy import JourneyPolicy
from domain.refusals import ChequeVerdict
from domain.stages import (
    Action,
    ChequeStatus,
    DeclineReason,
    LossReason,
    OrientationStatus,
    Outcome,
    Role,
    Stage,
)

WORKFLOW_NAME = "JourneyWorkflow"
TASK_QUEUE = "passnum-journeys"

# Update and query names, shared by the workflow and its callers.
U_CONFIRM_REFERRAL = "confirm_referral"
U_ASSESS = "assess"
U_ISSUE_BOOKLET = "issue_booklet"
U_ORIENT = "orient"
U_ANSWER_ORIENTATION = "answer_orientation"
U_LOG_SESSION = "log_session"
U_WITHDRAW = "withdraw"
U_NUDGE = "nudge"
U_REORIENT = "reorient"
U_LOCK_BOOKLET = "lock_booklet"
U_UNLOCK_BOOKLET = "unlock_booklet"
U_DECLARE_BOOKLET_LOST = "declare_booklet_lost"
# The person asks for their data to be erased: closed (if open) and anonymised at once.
U_ERASE_ON_REQUEST = "erase_on_request"
Q_STATUS = "status"

# Custom search attributes (opaque values only: they are never encrypted).
SA_STAGE = "PassnumStage"
SA_STALLED = "PassnumStalled"
SA_EPCI = "PassnumEpci"
SA_MEDIATION = "PassnumMediation"
# Set once at start (never upserted): the programme's code, so that a search in Temporal's
# UI or CLI stays within one programme.
SA_PROGRAMME = "PassnumProgramme"
SEARCH_ATTRIBUTES: dict[str, str] = {
    SA_PROGRAMME: "Keyword",
    SA_STAGE: "Keyword",
    SA_STALLED: "Bool",
    SA_EPCI: "Keyword",
    SA_MEDIATION: "Keyword",
}


def workflow_id_for(journey_id: str) -> str:
    return f"journey-{journey_id}"


@dataclass(frozen=True)
class Actor:
    """Who did something: a role and an opaque reference (account or structure id)."""

    role: Role
    ref: str


SYSTEM = Actor(role=Role.SYSTEM, ref="passnum")


@dataclass(frozen=True)
class JourneyInput:
    journey_id: str
    programme_code: int
    epci_id: int
    reception_structure_id: int
    referrer: Actor
    policy: JourneyPolicy = field(default_factory=JourneyPolicy)
    # Search attributes need a server with visibility (not the time-skipping test server).
    use_search_attributes: bool = True


# ---- requests (Update arguments) ----


@dataclass(frozen=True)
class ConfirmReferral:
    actor: Actor


@dataclass(frozen=True)
class AssessmentRequest:
    actor: Actor
    kind: AssessmentKind
    tool: AssessmentTool
    autonomy: AutonomyLevel
    needs: list[Theme]


@dataclass(frozen=True)
class BookletRequest:
    actor: Actor
    millesime: int


@dataclass(frozen=True)
class OrientRequest:
    actor: Actor
    mediation_structure_id: int
    reason: str | None = None  # histories before free texts only (FREE_TEXTS)
    reason_id: str | None = None  # a coordinator's re-orientation: why (records.free_texts)


@dataclass(frozen=True)
class OrientationAnswer:
    actor: Actor
    mediation_structure_id: int
    accept: bool
    decline_reason: DeclineReason | None = None
    comment: str | None = None  # histories before free texts only (FREE_TEXTS)
    comment_id: str | None = None


@dataclass(frozen=True)
class SessionRequest:
    """A training session paid with cheques. `session_id` is the form's UUID (idempotency)."""

    actor: Actor
    session_id: str
    mediation_structure_id: int
    day: date
    duration_minutes: int
    kind: SessionKind
    place: SessionPlace
    themes: list[Theme]
    equipment: list[Equipment]
    autonomy_observed: AutonomyLevel | None
    serials: list[str]


@dataclass(frozen=True)
class WithdrawRequest:
    actor: Actor
    reason: str = ""  # histories before free texts only (FREE_TEXTS)
    reason_id: str | None = None


@dataclass(frozen=True)
class EraseRequest:
    """The person asked for their data to be erased (droit à l'effacement): unspent cheques
    cancelled, the journey closed (outcome WITHDRAWN) and anonymised now, statistics kept."""

    actor: Actor


@dataclass(frozen=True)
class NudgeRequest:
    actor: Actor
    message: str | None = None  # histories before free texts only (FREE_TEXTS)
    message_id: str | None = None


# Free text of each request: (text field, id field). The API writes the text to the
# records and sends the id in its place; the workflow and its events carry only ids.
FREE_TEXTS: dict[type, tuple[str, str]] = {
    OrientRequest: ("reason", "reason_id"),
    OrientationAnswer: ("comment", "comment_id"),
    WithdrawRequest: ("reason", "reason_id"),
    NudgeRequest: ("message", "message_id"),
}


@dataclass(frozen=True)
class LockBookletRequest:
    """Too many wrong security codes were typed for the booklet's cheques (the API counts
    them in the records): no cheque of it may be spent until a coordinator unlocks it."""

    actor: Actor
    failures: int


@dataclass(frozen=True)
class UnlockBookletRequest:
    actor: Actor


@dataclass(frozen=True)
class DeclareBookletLostRequest:
    """Booklet `booklet_number` (the one the person holds) was lost, stolen or damaged on
    `lost_on`: its unspent cheques are cancelled and a replacement booklet carries as many.
    Naming the booklet makes a second declaration of it (another tab, a retry with another
    key) a refusal rather than a second replacement. A reason from a fixed list only: free
    text is personal data and stays out of the workflow's history."""

    actor: Actor
    booklet_number: int
    lost_on: date
    reason: LossReason


# ---- live state (Query result and Update answers) ----


@dataclass
class ChequeState:
    serial: str
    number: int
    status: ChequeStatus
    session_id: str | None = None
    redeemed_on: date | None = None
    mediation_structure_id: int | None = None


@dataclass
class OrientationState:
    orientation_id: str
    mediation_structure_id: int
    status: OrientationStatus
    since: datetime
    reminded: bool = False
    answered_at: datetime | None = None
    decline_reason: DeclineReason | None = None


@dataclass
class AssessmentState:
    kind: AssessmentKind
    tool: AssessmentTool
    autonomy: AutonomyLevel
    needs: list[Theme]
    at: datetime


@dataclass
class SessionState:
    session_id: str
    mediation_structure_id: int
    day: date
    duration_minutes: int
    kind: SessionKind
    place: SessionPlace
    themes: list[Theme]
    equipment: list[Equipment]
    autonomy_observed: AutonomyLevel | None
    serials: list[str]
    logged_at: datetime


@dataclass
class LostBooklet:
    """A booklet declared lost (or stolen, damaged) and replaced."""

    booklet_number: int
    lost_on: date  # the day the person lost it (Europe/Paris), as declared
    reason: LossReason
    declared_at: datetime
    cheques_cancelled: int
    replaced_by: int  # the replacement's booklet number


@dataclass
class JourneyStatus:
    journey_id: str
    programme_code: int
    epci_id: int
    reception_structure_id: int
    referrer: Actor
    stage: Stage
    outcome: Outcome | None = None
    stage_dates: dict[Stage, datetime] = field(default_factory=dict)
    last_activity_at: datetime | None = None
    stalled: bool = False
    stalled_since: datetime | None = None
    stalled_reason: str | None = None
    reminded_for_activity_at: datetime | None = None  # reminder sent since last activity
    entry_assessment: AssessmentState | None = None
    exit_assessment: AssessmentState | None = None
    millesime: int | None = None
    booklet_number: int | None = None
    valid_until: datetime | None = None
    cheques: list[ChequeState] = field(default_factory=list)
    orientation: OrientationState | None = None
    mediation_structure_id: int | None = None  # who trains the person now
    sessions: list[SessionState] = field(default_factory=list)
    expiry_warnings_sent: list[int] = field(default_factory=list)
    closed_at: datetime | None = None
    booklet_locked_at: datetime | None = None  # too many wrong security codes
    # When the booklet the person holds now was handed over (the first, or a replacement).
    booklet_issued_at: datetime | None = None
    lost_booklets: list[LostBooklet] = field(default_factory=list)  # replaced, in order
    seq: int = 0  # number of recorded events

    @property
    def cheques_left(self) -> int:
        return sum(1 for c in self.cheques if c.status == ChequeStatus.ISSUED)


@dataclass(frozen=True)
class SessionReceipt:
    session_id: str
    verdicts: list[ChequeVerdict]
    status: JourneyStatus


@dataclass(frozen=True)
class ChequeRefusalDetails:
    """Carried in the ApplicationError a refused session raises (type 'ChequesRefused')."""

    verdicts: list[ChequeVerdict]


# ---- activity inputs ----


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    recipient: Recipient
    key: str  # idempotency key (domain.notices.notice_key)
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JourneyEvent:
    """One recorded change: the transition log entry, the state after it, what to notify.

    The record activity applies it in one transaction, keyed by (journey_id, seq), so a
    retried activity changes nothing twice.
    """

    journey_id: str
    seq: int
    at: datetime
    actor: Actor
    action: Action
    from_stage: Stage | None
    to_stage: Stage
    status: JourneyStatus
    # A fixed wording (a stall, an outcome, a decline's label); typed text only in events
    # recorded before free texts.
    reason: str | None = None
    detail: dict[str, str] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    text_id: str | None = None  # the free text typed with the request (records.free_texts)


@dataclass(frozen=True)
class BookletAllocation:
    """A booklet number for the journey's `sequence`-th booklet (1: the first; then one per
    replacement of a lost booklet, `replaces` naming the lost one)."""

    journey_id: str
    programme_code: int
    millesime: int
    sequence: int = 1
    replaces: int | None = None


@dataclass(frozen=True)
class AnonymiseRequest:
    journey_id: str
    at: datetime


ACTIVITY_RECORD_EVENT = "record_journey_event"
# Several events of one workflow step, in seq order, recorded in one transaction.
ACTIVITY_RECORD_EVENTS = "record_journey_events"
ACTIVITY_ALLOCATE_BOOKLET = "allocate_booklet_number"
ACTIVITY_ANONYMISE = "anonymise_beneficiary"
