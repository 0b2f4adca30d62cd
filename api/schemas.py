"""Request bodies of the JSON API, with French validation messages.

Answers reuse the domain's dataclasses (JourneyStatus, SessionReceipt) where they fit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
from domain.stages import DeclineReason, Stage
from records.models import Channel

ShortText = Annotated[str, Field(min_length=1, max_length=100)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PersonIn(Strict):
    first_name: ShortText
    last_name: ShortText
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    phone: str | None = Field(default=None, max_length=30, pattern=r"^[0-9 +().-]*$")
    email: str | None = Field(default=None, max_length=200)
    postal_address: str | None = Field(default=None, max_length=300)
    commune: str | None = Field(default=None, max_length=100)
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
    text: str = Field(min_length=1, max_length=2000, description="The wording shown to the person")

    @field_validator("given")
    @classmethod
    def _must_be_given(cls, value: bool) -> bool:
        if not value:
            raise ValueError("Le consentement de la personne est obligatoire pour l'orienter.")
        return value


class ReferralIn(Strict):
    reception_structure_id: int
    person: PersonIn
    consent: ConsentIn


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
    millesime: int | None = Field(
        default=None, ge=2000, le=2100, description="Default: the programme's current millésime"
    )


class OrientIn(Strict):
    mediation_structure_id: int


class ReorientIn(Strict):
    mediation_structure_id: int
    reason: Reason


class AnswerIn(Strict):
    mediation_structure_id: int
    accept: bool
    decline_reason: DeclineReason | None = None
    comment: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _reason_when_declined(self) -> AnswerIn:
        if not self.accept and self.decline_reason is None:
            raise ValueError("Indiquez le motif du refus de l'orientation.")
        return self


class SessionIn(Strict):
    session_id: UUID | None = Field(
        default=None, description="The form's UUID; default: the Idempotency-Key header"
    )
    mediation_structure_id: int
    day: date
    duration_minutes: int = Field(ge=1, le=MAX_SESSION_MINUTES)
    kind: SessionKind = SessionKind.INDIVIDUAL
    place: SessionPlace = SessionPlace.ON_SITE
    themes: list[Theme] = Field(default_factory=list, max_length=len(Theme))
    equipment: list[Equipment] = Field(default_factory=list, max_length=len(Equipment))
    autonomy_observed: AutonomyLevel | None = None
    serials: list[Annotated[str, Field(max_length=40)]] = Field(min_length=1, max_length=20)


class WithdrawIn(Strict):
    reason: Reason


class NudgeIn(Strict):
    message: str | None = Field(default=None, max_length=500)


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


class ChequeLookup(BaseModel):
    serial: str
    display: str
    status: str
    status_label: str
    programme_code: int
    millesime: int
    booklet_number: int
    number: int
    journey_id: str
    journey_stage: str
    valid_until_day: date
    redeemed_on: date | None
    mediation_structure_id: int | None
    session_id: str | None


class StructureOut(BaseModel):
    id: int
    kind: str
    name: str
    epci_id: int
    commune: str | None
    aptic_qualified_from: date | None = None
    aptic_qualified_until: date | None = None
    themes: list[str] = []
    capacity: int | None = None
