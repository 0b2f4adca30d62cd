"""The read model: reference data of a programme and the projection of every journey.

The journey workflow is the authority over a journey; the journey tables here are what
the record activity projects from it, for lists, dashboards and reports. They carry no
foreign key to reference data on purpose: a projection must never refuse a workflow's
event because a structure row is missing or was renamed.

Enumerations are stored as their string values (the `StrEnum`s of `domain`), money in
integer cents, instants as aware UTC datetimes, short lists as JSON.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, MetaData, Text, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from domain import identity
from domain.labels import Labelled, labels
from records.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(SQLModel):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class FunderKind(Labelled):
    DEPARTEMENT = "DEPARTEMENT"
    EPCI = "EPCI"
    ETAT = "ETAT"


labels(
    FunderKind,
    {
        FunderKind.DEPARTEMENT: "Département",
        FunderKind.EPCI: "Intercommunalité",
        FunderKind.ETAT: "État",
    },
)


class Channel(Labelled):
    """How the person prefers to be reached (letters always go to the referrer too)."""

    EMAIL = "EMAIL"
    SMS = "SMS"
    POST = "POST"
    PHONE = "PHONE"


labels(
    Channel,
    {
        Channel.EMAIL: "Courriel",
        Channel.SMS: "SMS",
        Channel.POST: "Courrier",
        Channel.PHONE: "Téléphone",
    },
)


class OutboxStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


# ---- reference data ----


class Programme(Base, table=True):
    __tablename__ = "programme"

    id: int | None = Field(default=None, primary_key=True)
    code: int = Field(unique=True)  # département number for a départemental programme
    name: str = Field(max_length=200)
    territory: str = Field(max_length=200)
    issuer_name: str = Field(max_length=200)  # a setting: APTIC went into liquidation in 2024
    cheque_value_cents: int
    cheques_per_booklet: int
    grace_months: int
    budget_total_cents: int
    starts_on: date  # first day of referrals and booklets (Europe/Paris)
    ends_on: date | None = None  # last day; None: not decided yet
    target_booklets: int | None = None  # booklets the programme means to hand out


class Epci(Base, table=True):
    __tablename__ = "epci"
    __table_args__ = (UniqueConstraint("programme_id", "siren"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id", index=True)
    siren: str = Field(max_length=9)
    name: str = Field(max_length=200)


class Funder(Base, table=True):
    __tablename__ = "funder"

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id", index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)  # FunderKind
    epci_id: int | None = Field(default=None, foreign_key="epci.id")
    share_bp: int  # share of the budget in basis points (1/100 %)


class BudgetLine(Base, table=True):
    __tablename__ = "budget_line"

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id", index=True)
    funder_id: int = Field(foreign_key="funder.id", index=True)
    label: str = Field(max_length=200)
    amount_cents: int


class ReceptionStructure(Base, table=True):
    """A first-level structure (structure d'accueil) whose social workers refer people."""

    __tablename__ = "reception_structure"

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id", index=True)
    epci_id: int = Field(foreign_key="epci.id", index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=40)  # CCAS, France Services, MDS, Mairie...
    commune: str = Field(max_length=120)
    email: str | None = Field(default=None, max_length=254)
    # The directory (migration 0018): address, contact, and whether it still refers people.
    siret: str | None = Field(default=None, max_length=14)
    address: str | None = Field(default=None, max_length=300)
    postal_code: str | None = Field(default=None, max_length=5)
    insee_code: str | None = Field(default=None, max_length=5)
    phone: str | None = Field(default=None, max_length=40)
    opening_hours: str | None = Field(default=None, max_length=500)  # OSM opening_hours
    active: bool = True  # inactive: kept for history, offered nowhere


class MediationStructure(Base, table=True):
    """An APTIC-qualified structure whose mediators train beneficiaries and take cheques."""

    __tablename__ = "mediation_structure"
    __table_args__ = (UniqueConstraint("programme_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id", index=True)
    epci_id: int = Field(foreign_key="epci.id", index=True)
    name: str = Field(max_length=200)
    commune: str = Field(max_length=120)
    email: str | None = Field(default=None, max_length=254)
    aptic_qualified_from: date
    aptic_qualified_until: date | None = None  # last qualified day; None: open-ended
    themes: list[str] = Field(default_factory=list, sa_type=JSON)  # domain.needs.Theme values
    capacity: int  # most trainees open at once
    # The directory (migration 0018). `external_id`: the `id` of the national lieux de
    # médiation numérique schema, the key of imports (domain.directory).
    external_id: str | None = Field(default=None, max_length=80)
    siret: str | None = Field(default=None, max_length=14)
    address: str | None = Field(default=None, max_length=300)
    postal_code: str | None = Field(default=None, max_length=5)
    insee_code: str | None = Field(default=None, max_length=5)
    phone: str | None = Field(default=None, max_length=40)
    opening_hours: str | None = Field(default=None, max_length=500)  # OSM opening_hours
    active: bool = True  # inactive: kept for history, offered for no orientation

    def is_qualified_on(self, day: date) -> bool:
        if day < self.aptic_qualified_from:
            return False
        return self.aptic_qualified_until is None or day <= self.aptic_qualified_until


class MediationStructureEpci(Base, table=True):
    """The EPCI a mediation structure serves (its own and its neighbours)."""

    __tablename__ = "mediation_structure_epci"

    mediation_structure_id: int = Field(foreign_key="mediation_structure.id", primary_key=True)
    epci_id: int = Field(foreign_key="epci.id", primary_key=True)


# ---- people ----


class Beneficiary(Base, table=True):
    """The person behind a journey. Personal data lives here only, never in Temporal."""

    __tablename__ = "beneficiary"

    id: int | None = Field(default=None, primary_key=True)
    journey_id: str = Field(max_length=36, unique=True)
    idempotency_key: str = Field(max_length=64, unique=True)
    # Identity and contact: erased (None) by anonymisation.
    first_name: str | None = Field(default=None, max_length=120)
    last_name: str | None = Field(default=None, max_length=120)
    birth_year: int | None = None  # rounded down to the decade by anonymisation
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    postal_address: str | None = Field(default=None, max_length=500)
    commune: str | None = Field(default=None, max_length=120)  # kept for statistics
    preferred_channel: str = Field(max_length=8)  # Channel
    consent_given_at: datetime = Field(sa_type=UTCDateTime)
    consent_text: str  # the wording shown to the person
    consent_recorded_by: str = Field(max_length=120)  # account reference of the worker
    # The consent wording's version in force when it was given (`ConsentVersion`); None
    # for referrals recorded before versions whose text is not a known version's wording.
    consent_version: int | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    anonymised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The identity folded for the duplicate check (domain.identity, records.duplicates):
    # kept from the fields above on every write (`_identity_keys`), erased with them.
    name_key: str | None = Field(default=None, max_length=250)
    email_key: str | None = Field(default=None, max_length=254, index=True)
    phone_key: str | None = Field(default=None, max_length=40, index=True)


Index(
    "ix_beneficiary_name_key_birth_year",
    Beneficiary.name_key,  # type: ignore[arg-type]
    Beneficiary.birth_year,  # type: ignore[arg-type]
)


def _identity_keys(_mapper: Any, _connection: Any, person: Beneficiary) -> None:
    """Derive the duplicate check's keys from what was typed, whoever writes the row (a
    referral, a correction, anonymisation erasing the names)."""
    person.name_key = identity.name_key(person.first_name, person.last_name)
    person.email_key = identity.email_key(person.email)
    person.phone_key = identity.phone_key(person.phone)


event.listen(Beneficiary, "before_insert", _identity_keys)
event.listen(Beneficiary, "before_update", _identity_keys)


class SecondBookletAllowance(Base, table=True):
    """A coordinator's leave for a journey to receive a booklet although its person (as far as
    records.duplicates can tell) already holds one of the same millésime in another journey."""

    __tablename__ = "second_booklet_allowance"

    journey_id: str = Field(primary_key=True, max_length=36)
    allowed_by: int  # account id of the coordinator
    allowed_at: datetime = Field(sa_type=UTCDateTime)


# ---- journey projection ----


class Journey(Base, table=True):
    __tablename__ = "journey"

    id: str = Field(primary_key=True, max_length=36)  # journey_id
    workflow_id: str = Field(max_length=80, unique=True)
    programme_code: int
    epci_id: int = Field(index=True)
    reception_structure_id: int = Field(index=True)
    referrer_role: str = Field(max_length=20)
    referrer_ref: str = Field(max_length=120)
    stage: str = Field(max_length=20, index=True)  # domain.stages.Stage
    outcome: str | None = Field(default=None, max_length=20)  # domain.stages.Outcome
    referred_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    referred_month: int | None = None  # YYYYMM of referred_at in Europe/Paris: overview filters
    assessed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    booklet_issued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    oriented_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    training_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    anonymised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_activity_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    mediation_structure_id: int | None = Field(default=None, index=True)  # who trains now
    orientation_status: str | None = Field(default=None, max_length=20)
    orientation_structure_id: int | None = Field(default=None, index=True)
    # No index of its own: (programme, stalled, ...) ones below (migration 0023).
    stalled: bool = Field(default=False)
    stalled_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    stalled_reason: str | None = Field(default=None, max_length=500)
    millesime: int | None = None
    booklet_number: int | None = None
    valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cheques_total: int = 0
    cheques_redeemed: int = 0
    sessions_count: int = 0
    entry_autonomy: str | None = Field(default=None, max_length=20)
    exit_autonomy: str | None = Field(default=None, max_length=20)
    # Paris days from referral to the first training session (programme overview's median).
    days_to_first_session: int | None = None
    # Locked after too many wrong security codes (the workflow holds the lock).
    booklet_locked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_seq: int = 0
    updated_at: datetime = Field(sa_type=UTCDateTime)


# The lists page: filter by programme (+ stage...), stalled first, most recent activity first.
Index(
    "ix_journey_programme_code_stalled_last_activity_at",
    Journey.programme_code,  # type: ignore[arg-type]
    Journey.stalled,  # type: ignore[arg-type]
    Journey.last_activity_at,  # type: ignore[arg-type]
)
# The coordinators' overview (records/coordination.py): one index-only pass per scope.
Index(
    "ix_journey_overview",
    Journey.programme_code,  # type: ignore[arg-type]
    Journey.epci_id,  # type: ignore[arg-type]
    Journey.stage,  # type: ignore[arg-type]
    Journey.stalled,  # type: ignore[arg-type]
    Journey.outcome,  # type: ignore[arg-type]
    Journey.cheques_total,  # type: ignore[arg-type]
    Journey.cheques_redeemed,  # type: ignore[arg-type]
)
# The stalled list, longest stalled first; the median delay to a first session, per scope.
Index(
    "ix_journey_programme_code_stalled_stalled_since",
    Journey.programme_code,  # type: ignore[arg-type]
    Journey.stalled,  # type: ignore[arg-type]
    Journey.stalled_since,  # type: ignore[arg-type]
)
Index(
    "ix_journey_programme_code_days_to_first_session",
    Journey.programme_code,  # type: ignore[arg-type]
    Journey.days_to_first_session,  # type: ignore[arg-type]
)
Index(
    "ix_journey_programme_code_epci_id_days_to_first_session",
    Journey.programme_code,  # type: ignore[arg-type]
    Journey.epci_id,  # type: ignore[arg-type]
    Journey.days_to_first_session,  # type: ignore[arg-type]
)


class Cheque(Base, table=True):
    __tablename__ = "cheque"

    serial: str = Field(primary_key=True, max_length=16)  # canonical 16 digits
    journey_id: str = Field(foreign_key="journey.id", index=True, max_length=36)
    programme_code: int
    millesime: int
    booklet_number: int
    number: int
    status: str = Field(max_length=12, index=True)  # domain.stages.ChequeStatus
    session_id: str | None = Field(default=None, max_length=36)
    redeemed_on: date | None = None
    mediation_structure_id: int | None = Field(default=None, index=True)
    valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    # The security code printed beside the serial, sealed (AES-GCM, records.cheque_codes):
    # a database reader cannot spend the cheque. Null only between migration 0007 and
    # `ensure_codes`.
    security_code: str | None = Field(default=None, max_length=120)


class BookletAllocation(Base, table=True):
    """Booklet numbers, unique per programme: one per booklet a journey received, in order
    (`sequence` 1 for the first, then one per replacement of a booklet declared lost)."""

    __tablename__ = "booklet_allocation"
    __table_args__ = (
        UniqueConstraint("programme_code", "booklet_number"),
        UniqueConstraint("journey_id", "sequence"),
    )

    id: int | None = Field(default=None, primary_key=True)
    journey_id: str = Field(max_length=36)
    sequence: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    programme_code: int
    millesime: int
    booklet_number: int
    # A replacement: the booklet number it replaces.
    replaces_booklet_number: int | None = None
    # Declared lost (stolen, damaged): when it was declared, the day it was lost, why
    # (domain.stages.LossReason). Its unspent cheques are CANCELLED.
    lost_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lost_on: date | None = None
    lost_reason: str | None = Field(default=None, max_length=12)
    # Booklets issued before security codes existed: their slip must be printed again
    # (with the codes) and handed to the person; cleared when the slip is shown.
    slip_to_reprint_since: datetime | None = Field(default=None, sa_type=UTCDateTime)


class BookletStockRange(Base, table=True):
    """Booklets of a millésime, numbered `first_number`..`last_number`, handed by the
    coordination to a reception structure, which gives them out (records.booklet_stock).
    Ranges of a programme never overlap: a booklet number is unique in the programme."""

    __tablename__ = "booklet_stock_range"

    id: int | None = Field(default=None, primary_key=True)
    programme_code: int = Field(index=True)
    millesime: int
    reception_structure_id: int = Field(foreign_key="reception_structure.id", index=True)
    first_number: int
    last_number: int
    allocated_at: datetime = Field(sa_type=UTCDateTime)
    allocated_by: int | None = None  # account id of the coordinator


class ChequeCodeFailure(Base, table=True):
    """A wrong security code typed for a cheque of a journey: counted until a successful
    session or a coordinator's unlock clears them; too many lock the booklet."""

    __tablename__ = "cheque_code_failure"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    journey_id: str = Field(max_length=36)
    serial: str = Field(max_length=16)
    # Keyed fingerprint of the wrong code typed (CodeVault.attempt_id): the same wrong code
    # checked again (each scan re-checks the whole list) counts once, never the code itself.
    attempt: str = Field(max_length=32)
    mediation_structure_id: int | None = None
    account_id: int | None = None
    cleared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


Index(
    "ix_cheque_code_failure_journey_id_cleared_at",
    ChequeCodeFailure.journey_id,  # type: ignore[arg-type]
    ChequeCodeFailure.cleared_at,  # type: ignore[arg-type]
)


class TrainingSession(Base, table=True):
    __tablename__ = "training_session"

    session_id: str = Field(primary_key=True, max_length=36)
    journey_id: str = Field(foreign_key="journey.id", index=True, max_length=36)
    mediation_structure_id: int = Field(index=True)
    day: date
    duration_minutes: int
    kind: str = Field(max_length=12)  # SessionKind
    place: str = Field(max_length=12)  # SessionPlace
    themes: list[str] = Field(default_factory=list, sa_type=JSON)
    equipment: list[str] = Field(default_factory=list, sa_type=JSON)
    autonomy_observed: str | None = Field(default=None, max_length=20)
    serials: list[str] = Field(default_factory=list, sa_type=JSON)
    logged_at: datetime = Field(sa_type=UTCDateTime)


class Assessment(Base, table=True):
    __tablename__ = "assessment"
    __table_args__ = (UniqueConstraint("journey_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    journey_id: str = Field(foreign_key="journey.id", max_length=36)
    kind: str = Field(max_length=8)  # AssessmentKind
    tool: str = Field(max_length=20)  # AssessmentTool
    autonomy: str = Field(max_length=20)  # AutonomyLevel
    needs: list[str] = Field(default_factory=list, sa_type=JSON)  # Theme values
    at: datetime = Field(sa_type=UTCDateTime)


class Orientation(Base, table=True):
    __tablename__ = "orientation"

    orientation_id: str = Field(primary_key=True, max_length=64)
    journey_id: str = Field(foreign_key="journey.id", index=True, max_length=36)
    mediation_structure_id: int = Field(index=True)
    status: str = Field(max_length=12, index=True)  # OrientationStatus
    since: datetime = Field(sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decline_reason: str | None = Field(default=None, max_length=24)  # DeclineReason
    reminded: bool = False


class TransitionLog(Base, table=True):
    """Who did what, when and why: one row per recorded journey event."""

    __tablename__ = "transition_log"
    __table_args__ = (UniqueConstraint("journey_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    journey_id: str = Field(foreign_key="journey.id", max_length=36)
    seq: int
    at: datetime = Field(sa_type=UTCDateTime)
    actor_role: str = Field(max_length=20)
    actor_ref: str = Field(max_length=120)
    action: str = Field(max_length=24)  # domain.stages.Action
    from_stage: str | None = Field(default=None, max_length=20)
    to_stage: str = Field(max_length=20)
    reason: str | None = None  # a fixed wording; typed text only in rows before free texts
    detail: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    free_text_id: str | None = Field(default=None, max_length=36)  # FreeText typed with it


class NotificationOutbox(Base, table=True):
    """A notification to send. Rows are written with the event that causes them."""

    __tablename__ = "notification_outbox"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=200, unique=True)
    journey_id: str | None = Field(default=None, max_length=36, index=True)
    kind: str = Field(max_length=32)  # domain.notices.NoticeKind
    recipient: str = Field(max_length=32)  # domain.notices.Recipient
    detail: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="PENDING", max_length=8, index=True)  # OutboxStatus
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# ---- people who use passnum ----


class Account(Base, table=True):
    """A professional's account. Its scope follows its role: a social worker belongs to a
    reception structure, a mediator to a mediation structure, a coordinator to an EPCI (or,
    with no EPCI, the whole programme); an administrator manages structures and accounts."""

    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)  # stored lower-cased
    full_name: str = Field(max_length=200)
    role: str = Field(max_length=16, index=True)  # domain.stages.Role
    programme_code: int = Field(index=True)
    reception_structure_id: int | None = Field(default=None, index=True)
    mediation_structure_id: int | None = Field(default=None, index=True)
    epci_id: int | None = Field(default=None, index=True)
    password_hash: str | None = Field(default=None, max_length=256)  # None: cannot log in
    is_active: bool = True
    # Notification preferences: muted categories, reminders folded into the daily digest.
    notification_settings: dict[str, object] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The OpenID Provider's subject, set at the first OpenID Connect sign-in (linked by
    # verified e-mail); later sign-ins find the account by it.
    oidc_subject: str | None = Field(default=None, max_length=255, unique=True)


class WebSession(Base, table=True):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a
    leaked table opens no session. Logout or deactivation deletes the rows."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    address: str | None = Field(default=None, max_length=64)
    # An OpenID Connect sign-in's ID token: the id_token_hint of the provider's logout.
    oidc_id_token: str | None = Field(default=None, sa_type=Text)
    # The programme chosen in the header (migration 0020); None: the account's own.
    programme_code: int | None = None


class ApiToken(Base, table=True):
    """A personal API token an administrator issued to an account (`Authorization: Bearer`).
    Stored as its SHA-256; shown once at issue; revoked, never deleted (audit)."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    label: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)  # first characters, to recognise it in a list
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: int | None = Field(default=None)  # account id of the administrator
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginAttempt(Base, table=True):
    """Password logins, failed OpenID Connect sign-ins and password-reset requests (`kind`,
    records.login_throttle), counted per account e-mail and per client address so that every
    API replica throttles alike. Rows older than their kind's window are purged."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(
        default="password", max_length=16, sa_column_kwargs={"server_default": "password"}
    )
    at: datetime = Field(sa_type=UTCDateTime)
    email: str = Field(max_length=254)  # as typed, lower-cased: unknown e-mails count too
    address: str = Field(max_length=64)
    succeeded: bool


Index(
    "ix_login_attempt_kind_email_at",
    LoginAttempt.kind,  # type: ignore[arg-type]
    LoginAttempt.email,  # type: ignore[arg-type]
    LoginAttempt.at,  # type: ignore[arg-type]
)
Index(
    "ix_login_attempt_kind_address_at",
    LoginAttempt.kind,  # type: ignore[arg-type]
    LoginAttempt.address,  # type: ignore[arg-type]
    LoginAttempt.at,  # type: ignore[arg-type]
)


# ---- mail: one delivery per (notice, address), and the embedded sink's mailbox ----


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"  # to send now
    QUEUED = "QUEUED"  # waits for its recipient's daily digest
    SENT = "SENT"  # accepted by the SMTP server
    FAILED = "FAILED"  # refused for good (unknown mailbox...): never retried
    SKIPPED = "SKIPPED"  # not sent on purpose (preference, nothing left to say)


class MailDelivery(Base, table=True):
    """One message to one address for one notice (or one digest). The unique
    (idempotency_key, address) pair is what makes a retried activity or a restarted worker
    send a recorded message never again; `message_id` derives from the same pair."""

    __tablename__ = "mail_delivery"
    __table_args__ = (UniqueConstraint("idempotency_key", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=200)  # the notice's key, or the digest's
    address: str = Field(max_length=254)
    outbox_id: int | None = Field(default=None, index=True)  # None: a digest
    journey_id: str | None = Field(default=None, max_length=36, index=True)
    kind: str = Field(max_length=32)  # domain.notices.NoticeKind, or DIGEST
    audience: str = Field(max_length=32)  # the role the message is written for
    account_id: int | None = Field(default=None)
    for_beneficiary: bool = False  # a beneficiary's message sent to their referrer
    category: str = Field(max_length=16)  # notifications.categories.Category
    status: str = Field(default="PENDING", max_length=8, index=True)  # DeliveryStatus
    message_id: str = Field(max_length=200)
    subject: str | None = Field(default=None, max_length=300)
    digest_key: str | None = Field(default=None, max_length=200, index=True)
    attempts: int = 0
    last_error: str | None = None
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MailboxMessage(Base, table=True):
    """A mail the embedded SMTP sink received (`passnum up`): shown to administrators."""

    __tablename__ = "mailbox_message"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)
    mail_from: str = Field(max_length=254)
    recipients: list[str] = Field(default_factory=list, sa_type=JSON)
    subject: str = Field(max_length=300)
    message_id: str | None = Field(default=None, max_length=200, index=True)
    raw: str  # the whole RFC 5322 message


# ---- the coordinators' overview, kept by the projection (records/overview_counts.py) ----


class OverviewCount(Base, table=True):
    """Journeys per (programme, EPCI, reception structure, mediation structure, millésime,
    month of referral, stage, stalled, outcome) and the sums of their cheque counters: the
    GROUP BY of the overview and its filters, updated with each journey event in its
    transaction, so the overview reads the rows of its filters whatever the number of
    journeys (bounded by structures × millésimes × months × stages). 0 stands for "none"
    (no mediation structure yet, no booklet yet)."""

    __tablename__ = "overview_count"

    programme_code: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    epci_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    reception_structure_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    mediation_structure_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    millesime: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    referred_month: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    stage: str = Field(primary_key=True, max_length=20)
    stalled: bool = Field(primary_key=True)
    outcome: str = Field(primary_key=True, max_length=20)  # "" while the journey is open
    journeys: int = 0
    cheques_total: int = 0
    cheques_redeemed: int = 0


class OverviewFirstSession(Base, table=True):
    """Journeys per (programme, EPCI, structures, millésime, month of referral, days from
    referral to the first session): the histogram the overview takes its median from, kept
    like `OverviewCount`."""

    __tablename__ = "overview_first_session"

    programme_code: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    epci_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    reception_structure_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    mediation_structure_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    millesime: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    referred_month: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    days: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    journeys: int = 0


# The overview filtered on one structure over the whole programme reads that structure's rows.
for _table in (OverviewCount, OverviewFirstSession):
    for _column in ("reception_structure_id", "mediation_structure_id"):
        Index(
            f"ix_{_table.__tablename__}_programme_code_{_column}",
            _table.programme_code,  # type: ignore[arg-type]
            getattr(_table, _column),
        )


class OverviewMonthly(Base, table=True):
    """`OverviewCount` rolled up to (programme, EPCI, millésime, month of referral): what
    the overview reads when months are filtered but no structure (rows bounded by months)."""

    __tablename__ = "overview_monthly"

    programme_code: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    epci_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    millesime: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    referred_month: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    stage: str = Field(primary_key=True, max_length=20)
    stalled: bool = Field(primary_key=True)
    outcome: str = Field(primary_key=True, max_length=20)
    journeys: int = 0
    cheques_total: int = 0
    cheques_redeemed: int = 0


class OverviewMonthlyFirstSession(Base, table=True):
    """`OverviewFirstSession` rolled up like `OverviewMonthly`."""

    __tablename__ = "overview_monthly_first_session"

    programme_code: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    epci_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    millesime: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    referred_month: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    days: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    journeys: int = 0


class OverviewTotal(Base, table=True):
    """`OverviewCount` rolled up to (programme, EPCI, millésime, stage, stalled, outcome):
    what the overview reads when no structure or month is filtered, a few hundred rows
    whatever the number of journeys. Kept by the same writes."""

    __tablename__ = "overview_total"

    programme_code: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    epci_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    millesime: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    stage: str = Field(primary_key=True, max_length=20)
    stalled: bool = Field(primary_key=True)
    outcome: str = Field(primary_key=True, max_length=20)
    journeys: int = 0
    cheques_total: int = 0
    cheques_redeemed: int = 0


class OverviewTotalFirstSession(Base, table=True):
    """`OverviewFirstSession` rolled up like `OverviewTotal`."""

    __tablename__ = "overview_total_first_session"

    programme_code: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    epci_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    millesime: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    days: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    journeys: int = 0


# ---- idempotency of changes (records/idempotency.py) ----


class IdempotencyClaim(Base, table=True):
    """A change's idempotency key (an API `Idempotency-Key`, a page form's UUID) and the
    fingerprint of the request first sent with it, per scope (journey and Update name, or
    referral): the same key sent again with another request is refused, not answered with
    the first outcome. The fingerprint is an HMAC (api/idempotency.py): no request content
    can be read back from it."""

    __tablename__ = "idempotency_claim"

    scope: str = Field(primary_key=True, max_length=100)
    key: str = Field(primary_key=True, max_length=100)
    fingerprint: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)


# ---- reimbursement statements (contre-paiement, records/statements.py) ----


class Statement(Base, table=True):
    """One mediation structure's reimbursement for one month: built as a DRAFT by the
    monthly Schedule, validated by a coordinator (ISSUED), then paid (PAID), when its
    cheques become REIMBURSED. One per (structure, month); numbered per programme."""

    __tablename__ = "statement"
    __table_args__ = (
        UniqueConstraint("mediation_structure_id", "month"),
        UniqueConstraint("programme_code", "number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20)  # domain.statements.statement_number
    programme_code: int = Field(index=True)
    mediation_structure_id: int = Field(foreign_key="mediation_structure.id")
    month: date = Field(index=True)  # its first day
    status: str = Field(max_length=8, index=True)  # domain.statements.StatementStatus
    issuer_name: str = Field(max_length=200)  # the programme's issuer when last built
    cheque_count: int = 0
    total_cents: int = 0
    built_at: datetime = Field(sa_type=UTCDateTime)  # first built
    updated_at: datetime = Field(sa_type=UTCDateTime)  # last built or changed
    validated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    validated_by: int | None = None  # account id of the coordinator
    paid_on: date | None = None  # the payment's date, as recorded
    payment_reference: str | None = Field(default=None, max_length=100)
    paid_recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paid_recorded_by: int | None = None  # account id


class StatementLine(Base, table=True):
    """A cheque reimbursed by a statement. `serial` is unique: a cheque is in exactly one
    statement, whatever builds run, retried or at once."""

    __tablename__ = "statement_line"

    id: int | None = Field(default=None, primary_key=True)
    statement_id: int = Field(foreign_key="statement.id", index=True)
    serial: str = Field(foreign_key="cheque.serial", max_length=16, unique=True)
    session_day: date  # the cheque's redeemed_on: the session's day
    amount_cents: int
    added_at: datetime = Field(sa_type=UTCDateTime)


# The monthly build: REDEEMED cheques of a programme not yet in a statement, by day.
Index(
    "ix_cheque_programme_code_status_redeemed_on",
    Cheque.programme_code,  # type: ignore[arg-type]
    Cheque.status,  # type: ignore[arg-type]
    Cheque.redeemed_on,  # type: ignore[arg-type]
)
# The overview's cheques about to expire (records.coordination.expiring_cheques): a
# programme's unspent cheques by last valid day, whatever other programmes hold (0023).
Index(
    "ix_cheque_programme_code_status_valid_until",
    Cheque.programme_code,  # type: ignore[arg-type]
    Cheque.status,  # type: ignore[arg-type]
    Cheque.valid_until,  # type: ignore[arg-type]
)


# ---- the funder ledger and the end of a millésime (records/ledger.py, domain/ledger.py) ----


class FundingRuleLine(Base, table=True):
    """One line of a programme's funding rule (domain.ledger.FundingRule): the share of each
    cheque a funder pays. With an EPCI, the line applies only to cheques of journeys of
    that EPCI; without, the general lines share what is left in proportion to their
    shares. Defaults derive from the budget lines (`records.ledger.ensure_rule`)."""

    __tablename__ = "funding_rule_line"

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id", index=True)
    funder_id: int = Field(foreign_key="funder.id", unique=True)
    share_bp: int  # basis points (1/100 %) of each cheque
    epci_id: int | None = Field(default=None, foreign_key="epci.id")


class LedgerEntry(Base, table=True):
    """A funder line's part of one cheque's event (domain.ledger.EntryKind): written by the
    projection in the transaction that changes the cheque's row. Amounts are positive; the
    kind gives the direction. (serial, kind, funder) is unique: a replayed or retried event
    never counts twice. Like the journey projection, no foreign key to reference data."""

    __tablename__ = "ledger_entry"
    __table_args__ = (UniqueConstraint("serial", "kind", "funder_id"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_code: int
    funder_id: int
    serial: str = Field(max_length=16)
    kind: str = Field(max_length=12)  # domain.ledger.EntryKind
    amount_cents: int
    at: datetime = Field(sa_type=UTCDateTime)
    month: int  # yyyymm of `at` in Europe/Paris
    millesime: int
    epci_id: int  # the EPCI of the cheque's journey


# The entries list, newest first (month, then id), per funder, per EPCI or all; the
# closure's sums per millésime.
Index(
    "ix_ledger_entry_programme_code_funder_id_month_id",
    LedgerEntry.programme_code,  # type: ignore[arg-type]
    LedgerEntry.funder_id,  # type: ignore[arg-type]
    LedgerEntry.month,  # type: ignore[arg-type]
    LedgerEntry.id,  # type: ignore[arg-type]
)
Index(
    "ix_ledger_entry_programme_code_epci_id_month_id",
    LedgerEntry.programme_code,  # type: ignore[arg-type]
    LedgerEntry.epci_id,  # type: ignore[arg-type]
    LedgerEntry.month,  # type: ignore[arg-type]
    LedgerEntry.id,  # type: ignore[arg-type]
)
Index(
    "ix_ledger_entry_programme_code_month_id",
    LedgerEntry.programme_code,  # type: ignore[arg-type]
    LedgerEntry.month,  # type: ignore[arg-type]
    LedgerEntry.id,  # type: ignore[arg-type]
)
Index(
    "ix_ledger_entry_programme_code_millesime_kind",
    LedgerEntry.programme_code,  # type: ignore[arg-type]
    LedgerEntry.millesime,  # type: ignore[arg-type]
    LedgerEntry.kind,  # type: ignore[arg-type]
)


class LedgerMonth(Base, table=True):
    """The ledger's entries summed per (programme, funder, EPCI, kind, Paris month), kept
    with each entry in its transaction (like `OverviewCount`): balances and the pace read
    a few thousand rows whatever the number of cheques."""

    __tablename__ = "ledger_month"

    programme_code: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    funder_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    epci_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(primary_key=True, max_length=12)
    month: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    amount_cents: int = 0
    entries: int = 0


class MillesimeClosure(Base, table=True):
    """The end of a millésime: once its validity (grace included) ended, the closure
    checks that every unspent cheque of it expired and records what returns to each
    funder, with its report. PENDING while some unspent cheques are not expired (checked
    again every day), then CLOSED for good. One per programme and millésime."""

    __tablename__ = "millesime_closure"
    __table_args__ = (UniqueConstraint("programme_code", "millesime"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_code: int
    millesime: int
    status: str = Field(max_length=12)  # domain.ledger.ClosureStatus
    first_checked_at: datetime = Field(sa_type=UTCDateTime)
    checked_at: datetime = Field(sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    returned_cents: int = 0
    # {funder id: cents returned}, as text keys (JSON)
    returned: dict[str, int] = Field(default_factory=dict, sa_type=JSON)
    unexpired: int = 0
    report: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


# ---- free text typed by professionals (records/free_texts.py) ----


class FreeText(Base, table=True):
    """A text a professional typed with a change to a journey (a re-orientation's or a
    withdrawal's reason, a comment on an orientation's answer, a nudge's message). Written
    by the API before the change is sent; the workflow and its history carry only `id`, the
    transition log row names it (`TransitionLog.free_text_id`). Erased (text None) when the
    journey is anonymised."""

    __tablename__ = "free_text"

    id: str = Field(primary_key=True, max_length=36)
    journey_id: str = Field(foreign_key="journey.id", max_length=36, index=True)
    kind: str = Field(max_length=40)  # "<update>.<field>", e.g. "withdraw.reason"
    text: str | None = None
    author_role: str = Field(max_length=20)
    author_ref: str = Field(max_length=120)
    written_at: datetime = Field(sa_type=UTCDateTime)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# ---- the person's rights and the administrators' audit log (domain/rights.py) ----


class ConsentVersion(Base, table=True):
    """A published wording of the consent read to the person at referral. The highest
    version is in force; each referral pins the version it was given on
    (`Beneficiary.consent_version`). Versions are never changed, only superseded."""

    __tablename__ = "consent_version"

    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    wording: str
    valid_from: datetime = Field(sa_type=UTCDateTime)
    published_by: int | None = None  # account id of the administrator; None: passnum


class PersonRectification(Base, table=True):
    """A correction of a person's identity or contact details (droit de rectification):
    who, when, which fields (domain.rights.RectifiableField values) and why. The old values
    are not kept: that is the point of correcting them."""

    __tablename__ = "person_rectification"

    id: int | None = Field(default=None, primary_key=True)
    journey_id: str = Field(max_length=36, index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    account_id: int
    actor_role: str = Field(max_length=20)  # domain.stages.Role
    fields: list[str] = Field(default_factory=list, sa_type=JSON)
    reason: str = Field(max_length=24)  # domain.rights.RectificationReason


class AdminAudit(Base, table=True):
    """One administrator's action (domain.rights.AuditAction), written in the same unit of
    work as the action. Append-only: database triggers (migration 0015) refuse any UPDATE
    or DELETE. `details` never holds a secret (no password, no token)."""

    __tablename__ = "admin_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    programme_code: int = Field(index=True)
    account_id: int | None = None  # None: the command line (`passnum create-admin`)
    action: str = Field(max_length=40)  # domain.rights.AuditAction
    target: str = Field(max_length=120)  # e.g. "account:12", "token:3", "consent:2"
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


# ---- programme policy (issue 11: policy per programme) ----


class ProgrammePolicy(Base, table=True):
    """A programme's calendar (domain.policy.JourneyPolicy): stall reminder and deadline
    per open stage, orientation reminder and expiry, retention before anonymisation. The
    cheques per booklet, cheque value and grace stay on `programme`. A new journey takes
    the policy in force at its referral (it travels in the workflow's input): a running
    journey keeps the one it started with. No row: domain defaults."""

    __tablename__ = "programme_policy"

    programme_id: int = Field(foreign_key="programme.id", primary_key=True)
    referred_reminder_days: int
    referred_stalled_days: int
    assessed_reminder_days: int
    assessed_stalled_days: int
    booklet_issued_reminder_days: int
    booklet_issued_stalled_days: int
    in_training_reminder_days: int
    in_training_stalled_days: int
    orientation_reminder_days: int
    orientation_expiry_days: int
    retention_days: int


class JourneyPolicySnapshot(Base, table=True):
    """The policy a journey was referred with (domain.policy.as_values), written with the
    referral: what its workflow holds in its input, for the pages (e.g. how many cheques
    its booklet will have) after the programme's policy changed."""

    __tablename__ = "journey_policy"

    journey_id: str = Field(primary_key=True, max_length=36)
    values: dict[str, int] = Field(default_factory=dict, sa_type=JSON)


# ---- structures directory (migration 0018) ----


class MediationQualification(Base, table=True):
    """One APTIC qualification period set on a mediation structure, kept as history: the
    structure's columns hold the period in force, this table every period ever set, by whom
    (None: the command line or an import) and when."""

    __tablename__ = "mediation_qualification"

    id: int | None = Field(default=None, primary_key=True)
    mediation_structure_id: int = Field(foreign_key="mediation_structure.id", index=True)
    qualified_from: date
    qualified_until: date | None = None
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    account_id: int | None = None
    source: str = Field(max_length=12)  # "page", "api", "import"


# ---- one-time links mailed to professionals: invitations and password resets ----


class AccountLink(Base, table=True):
    """A one-time link mailed to a professional (records.account_links): an invitation to
    choose a first password, or a password reset. Only the SHA-256 of its token is stored;
    it expires, and serves once (`used_at`)."""

    __tablename__ = "account_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    purpose: str = Field(max_length=16)  # records.account_links.LinkPurpose
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: int | None = None  # the inviting administrator; None: asked by the person


# ---- many programmes: an account's access to programmes other than its own ----


class ProgrammeMembership(Base, table=True):
    """An account's role in a programme other than its own (`Account.programme_code`, whose
    role and scope stay on the account row). Structures and EPCI belong to one programme,
    so the scope is per programme too. The signed-in person picks the current programme
    (`WebSession.programme_code`); nothing of another programme is ever shown."""

    __tablename__ = "programme_membership"

    account_id: int = Field(foreign_key="account.id", primary_key=True)
    programme_code: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    role: str = Field(max_length=16)  # domain.stages.Role
    reception_structure_id: int | None = None
    mediation_structure_id: int | None = None
    epci_id: int | None = None
    granted_at: datetime = Field(sa_type=UTCDateTime)
    granted_by: int | None = None  # the administrator's account id


Index(
    "ix_programme_membership_programme_code",
    ProgrammeMembership.programme_code,  # type: ignore[arg-type]
)
