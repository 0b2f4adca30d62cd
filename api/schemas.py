"""Request bodies of the JSON API, with French validation messages.

Answers reuse the domain's dataclasses (JourneyStatus, SessionReceipt) where they fit.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.constraints import LINE, TEXT, BookletNumber, Comment, Id, Millesime, Reason, ShortText
from domain.needs import (
    MAX_SESSION_MINUTES,
    AssessmentKind,
    AssessmentTool,
    AutonomyLevel,
    Equipment,
    SessionKind,
    SessionPlace,
    Theme,
)
from domain.stages import DeclineReason, LossReason, Stage
from records.models import Channel


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PersonIn(Strict):
    first_name: ShortText
    last_name: ShortText
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    phone: str | None = Field(default=None, max_length=30, pattern=r"^[0-9 +().-]*$")
    email: str | None = Field(default=None, max_length=200, pattern=LINE)
    postal_address: str | None = Field(default=None, max_length=300, pattern=TEXT)
    commune: str | None = Field(default=None, max_length=100, pattern=LINE)
    preferred_channel: Channel = Channel.POST

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value and ("@" not in value or value.startswith("@") or value.endswith("@")):
            raise ValueError("Adresse e-mail invalide.")
        return value or None

    @model_validator(mode="after")
    def _channel_reachable(self) -> PersonIn:
        if self.preferred_channel == Channel.EMAIL and not self.email:
            raise ValueError("Le canal préféré est l'e-mail : indiquez une adresse e-mail.")
        if self.preferred_channel in (Channel.SMS, Channel.PHONE) and not self.phone:
            raise ValueError("Le canal préféré est le téléphone : indiquez un numéro.")
        return self


class ConsentIn(Strict):
    given: bool
    version: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The consent wording's version read to the person (GET "
        "/api/v1/consent-versions); must be the one in force (else 409 "
        "consent_version_outdated). Absent: the version in force is pinned",
    )
    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        pattern=TEXT,
        description="The wording shown to the person, recorded as said; default: the "
        "wording of the version in force",
    )

    @field_validator("given")
    @classmethod
    def _must_be_given(cls, value: bool) -> bool:
        if not value:
            raise ValueError("Le consentement de la personne est obligatoire pour l'orienter.")
        return value


class ReferralIn(Strict):
    reception_structure_id: Id
    person: PersonIn
    consent: ConsentIn
    confirm_possible_duplicate: bool = Field(
        default=False,
        description="A person who may already have a journey in the programme (same names "
        "and birth year, same e-mail or same phone) is refused with 409 possible_duplicate; "
        "send true once checked that this is a new referral",
    )


class SecondBookletOut(BaseModel):
    """A coordinator's leave for a second booklet of a millésime for this journey."""

    journey_id: str
    allowed_by: int
    allowed_by_name: str | None
    allowed_at: datetime


class AssessmentIn(Strict):
    kind: AssessmentKind = AssessmentKind.ENTRY
    tool: AssessmentTool
    autonomy: AutonomyLevel
    needs: list[Theme] = Field(default_factory=list, max_length=len(Theme))

    @field_validator("needs")
    @classmethod
    def _unique(cls, value: list[Theme]) -> list[Theme]:
        return list(dict.fromkeys(value))


class BookletIn(Strict):
    millesime: Millesime | None = Field(
        default=None,
        description="Default: the millésime of the day (Europe/Paris); next year's is offered "
        "too from early November",
    )


class StockRangeIn(Strict):
    reception_structure_id: Id
    millesime: Millesime
    first_number: BookletNumber
    last_number: BookletNumber


class StockRangeOut(BaseModel):
    id: int
    reception_structure_id: int
    millesime: int
    first_number: int
    last_number: int
    allocated_at: datetime


class StockLineOut(BaseModel):
    reception_structure_id: int
    name: str
    epci_id: int
    received: int
    in_stock: int
    handed_out: int
    started: int
    finished: int


class StockOut(BaseModel):
    millesime: int
    structures: list[StockLineOut]
    ranges: list[StockRangeOut]


class OrientIn(Strict):
    mediation_structure_id: Id


class ReorientIn(Strict):
    mediation_structure_id: Id
    reason: Reason


class AnswerIn(Strict):
    mediation_structure_id: Id
    accept: bool
    decline_reason: DeclineReason | None = None
    comment: Comment | None = None

    @model_validator(mode="after")
    def _reason_when_declined(self) -> AnswerIn:
        if not self.accept and self.decline_reason is None:
            raise ValueError("Indiquez le motif du refus de l'orientation.")
        return self


SERIAL_PATTERN = r"^[0-9 .\-]{1,40}$"
CODE_PATTERN = r"^[0-9A-Za-z .\-]{0,20}$"


class ChequeIn(Strict):
    """One cheque as printed on the booklet slip: its serial and its security code."""

    serial: str = Field(
        min_length=1,
        max_length=40,
        pattern=SERIAL_PATTERN,
        description="16 digits, spaces, dots and dashes allowed (012-2026-000123-04-7)",
        examples=["012-2026-000123-04-7"],
    )
    code: str = Field(
        max_length=20,
        pattern=CODE_PATTERN,
        description="The security code printed beside the serial (8 characters, e.g. A7KQ-2MPX)",
        examples=["A7KQ-2MPX"],
    )


class SessionIn(Strict):
    session_id: UUID | None = Field(
        default=None, description="The form's UUID; default: the Idempotency-Key header"
    )
    mediation_structure_id: Id
    day: date
    duration_minutes: int = Field(ge=1, le=MAX_SESSION_MINUTES)
    kind: SessionKind = SessionKind.INDIVIDUAL
    place: SessionPlace = SessionPlace.ON_SITE
    themes: list[Theme] = Field(default_factory=list, max_length=len(Theme))
    equipment: list[Equipment] = Field(default_factory=list, max_length=len(Equipment))
    autonomy_observed: AutonomyLevel | None = None
    cheques: list[ChequeIn] = Field(
        min_length=1,
        max_length=20,
        description="The cheques taken for the session: each its serial and its security code",
    )


class BookletLostIn(Strict):
    booklet_number: int = Field(
        ge=1,
        le=999_999,
        description="The booklet the person holds (a booklet already replaced is refused, 409)",
    )
    lost_on: date = Field(description="The day it was lost, stolen or damaged (Europe/Paris)")
    reason: LossReason


class WithdrawIn(Strict):
    reason: Reason


class NudgeIn(Strict):
    message: Comment | None = None


class Page(BaseModel):
    total: int
    limit: int
    offset: int


class JourneySummary(BaseModel):
    """A row of the journey list, from the read model."""

    id: str
    stage: Stage
    stage_label: str
    outcome: str | None
    epci_id: int
    reception_structure_id: int
    mediation_structure_id: int | None
    stalled: bool
    stalled_since: datetime | None
    stalled_reason: str | None
    referred_at: datetime | None
    last_activity_at: datetime | None
    cheques_total: int
    cheques_redeemed: int


class JourneyList(BaseModel):
    items: list[JourneySummary]
    page: Page


class TimelineEntry(BaseModel):
    seq: int
    at: datetime
    action: str
    label: str
    actor_role: str
    actor_ref: str
    from_stage: str | None
    to_stage: str
    reason: str | None


class ChequeDetails(BaseModel):
    """What a cheque's journey tells: only to whoever may see the journey, or who proved they
    hold the cheque (its security code)."""

    status: str
    status_label: str
    millesime: int
    booklet_number: int
    number: int
    journey_id: str
    journey_stage: str
    redeemed_on: date | None
    mediation_structure_id: int | None
    session_id: str | None


class ChequeLookup(BaseModel):
    """A cheque's verdict; its details only for those who may see them."""

    serial: str
    display: str
    verdict: str = Field(
        description="usable, spent, expired, cancelled, locked, not_yet_valid or unknown"
    )
    verdict_label: str
    valid_until_day: date | None
    details: ChequeDetails | None = None


class ChequeVerifyIn(ChequeIn):
    """A cheque to check with its code (the person is there with their slip)."""


class ChequeVerification(ChequeLookup):
    """A lookup with the cheque's code: whether the code is right (a wrong one is counted,
    and too many lock the booklet), and with it the cheque's details."""

    code_ok: bool
    code_message: str | None = None


class StructureKind(StrEnum):
    RECEPTION = "reception"  # structure d'accueil (social workers)
    MEDIATION = "mediation"  # structure de médiation numérique (APTIC)


class StructureOut(BaseModel):
    id: int
    kind: StructureKind
    name: str
    epci_id: int
    commune: str | None
    aptic_qualified_from: date | None = None
    aptic_qualified_until: date | None = None
    themes: list[str] = []
    capacity: int | None = None
    active: bool = Field(
        default=True, description="False: deactivated, kept for history, offered for nothing"
    )


class OverviewFiltersOut(BaseModel):
    epci_id: int | None
    reception_structure_id: int | None
    mediation_structure_id: int | None
    millesime: int | None
    from_month: str | None = Field(description="YYYY-MM, month of referral (Europe/Paris)")
    to_month: str | None


class EpciOverviewOut(BaseModel):
    epci_id: int
    name: str
    journeys: int
    open: int
    stalled: int
    by_stage: dict[str, int]


class OverviewOut(BaseModel):
    scope: str
    filters: OverviewFiltersOut
    journeys: int
    by_stage: dict[str, int]
    stalled: int
    booklets: int
    target_booklets: int | None
    cheque_value_cents: int
    cheques_issued: int
    cheques_redeemed: int
    cheques_expired: int
    cheques_outstanding: int
    median_days_to_first_session: float | None
    journeys_with_session: int
    epci: list[EpciOverviewOut]
    cheques_expiring_within_30_days: int
    first_expiry_day: date | None
