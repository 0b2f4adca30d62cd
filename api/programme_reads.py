"""Reads every service starts from, within this instance's programme: the programme itself
(503 while the database holds none), one of its journeys (404 otherwise, as for a journey
that does not exist) and one of its mediation structures (422: a wrong id in a request)."""

from __future__ import annotations

from sqlmodel import Session

from api.errors import ApiError, not_found
from records import models, queries


def programme(session: Session, code: int) -> models.Programme:
    found = queries.get_programme(session, code)
    if found is None:
        raise ApiError(
            503, "no_programme", "Aucun programme n'est configuré (base non initialisée)."
        )
    return found


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
