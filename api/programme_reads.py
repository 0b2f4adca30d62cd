"""Reads every service starts from, within this instance's programme: the programme itself
(503 while the database holds none), its policy, its period and the millésimes a booklet
may take today, one of its journeys (404 otherwise, as for a journey that does not exist)
and one of its mediation structures (422: a wrong id in a request)."""

from __future__ import annotations

from sqlmodel import Session

from api.errors import ApiError, not_found
from domain import refusals as r
from domain.millesimes import MillesimeChoice, ProgrammePeriod, millesimes_offered
from domain.policy import JourneyPolicy
from domain.validity import paris_today
from records import models, policy, queries


def programme(session: Session, code: int) -> models.Programme:
    found = queries.get_programme(session, code)
    if found is None:
        raise ApiError(
            503, "no_programme", "Aucun programme n'est configuré (base non initialisée)."
        )
    return found


def policy_for(session: Session, programme: models.Programme) -> JourneyPolicy:
    """The policy a journey referred now starts with (records.policy): it travels in the
    workflow's input, so a later change reaches new journeys only."""
    return policy.load(session, programme)


def period(programme: models.Programme) -> ProgrammePeriod:
    return ProgrammePeriod(programme.starts_on, programme.ends_on)


def require_running(programme: models.Programme) -> None:
    """409 outside the programme's period (Europe/Paris today): no referral, no booklet."""
    today = paris_today()
    if today < programme.starts_on:
        raise ApiError(
            409,
            "programme_not_started",
            r.msg_programme_not_started(programme.name, programme.starts_on),
        )
    if programme.ends_on is not None and today > programme.ends_on:
        raise ApiError(
            409, "programme_ended", r.msg_programme_ended(programme.name, programme.ends_on)
        )


def millesimes_today(programme: models.Programme) -> MillesimeChoice:
    """The millésimes a new booklet may take today, the default first."""
    return millesimes_offered(
        paris_today(),
        period(programme),
        programme.grace_months,
        JourneyPolicy().stop_issuing_days_before_expiry,
    )


def booklet_millesime(programme: models.Programme, requested: int | None) -> int:
    """The millésime of a booklet asked for today (`requested`, or the default): 409 when
    the programme is not running, or that millésime is not offered today."""
    require_running(programme)
    choice = millesimes_today(programme)
    millesime = requested if requested is not None else choice.default
    if millesime is None or millesime not in choice.offered:
        raise ApiError(
            409,
            "millesime_not_offered",
            r.msg_millesime_not_offered(millesime or paris_today().year, choice.offered),
        )
    return millesime


def journey(session: Session, code: int, journey_id: str) -> models.Journey:
    row = queries.get_journey(session, journey_id)
    if row is None or row.programme_code != code:
        raise not_found()
    return row


def mediation_structure(
    session: Session, code: int, structure_id: int
) -> models.MediationStructure:
    structure = queries.get_mediation_structure(session, structure_id)
    if structure is None or structure.programme_id != programme(session, code).id:
        raise ApiError(
            422, "unknown_structure", "Cette structure de médiation n'existe pas dans le programme."
        )
    return structure
