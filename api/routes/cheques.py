"""JSON API: cheque lookup by serial, and the programme's structures."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import Session

from api import access
from api import schemas as s
from api.auth import CurrentUser
from api.deps import State
from api.errors import ApiError
from domain.serials import SerialError, parse_serial
from domain.stages import ChequeStatus
from domain.validity import last_valid_day
from records import models, queries

router = APIRouter(prefix="/api/v1", tags=["cheques and structures"])


@router.get(
    "/cheques/{serial}",
    responses={
        401: {"description": "Non authentifié"},
        404: {"description": "Aucun chèque (ou hors de votre périmètre)"},
        422: {"description": "Numéro mal formé"},
    },
)
async def lookup_cheque(serial: str, state: State, user: CurrentUser) -> s.ChequeLookup:
    """Find a cheque and its journey by serial (spaces and dashes allowed). A mediator may
    look up any cheque of the programme; others, the cheques of journeys they see."""
    try:
        parsed = parse_serial(serial)
    except SerialError as err:
        raise ApiError(422, err.code, err.message) from err
    code = state.settings.programme_code

    def load(
        db: Session,
    ) -> tuple[models.Cheque | None, models.Journey | None, models.Programme | None]:
        cheque = queries.find_cheque(db, parsed.digits)
        journey = queries.get_journey(db, cheque.journey_id) if cheque else None
        programme = queries.get_programme(db, code)
        return cheque, journey, programme

    cheque, journey, programme = await state.db.run(load)
    if (
        cheque is None
        or journey is None
        or cheque.programme_code != code
        or not access.can_see_cheque(user, cheque, journey)
    ):
        raise ApiError(
            404, "unknown_serial", f"Aucun chèque du programme ne porte le numéro {parsed.digits}."
        )
    grace = programme.grace_months if programme else 1
    return s.ChequeLookup(
        serial=cheque.serial,
        display=parsed.display,
        status=cheque.status,
        status_label=ChequeStatus(cheque.status).label,
        programme_code=cheque.programme_code,
        millesime=cheque.millesime,
        booklet_number=cheque.booklet_number,
        number=cheque.number,
        journey_id=cheque.journey_id,
        journey_stage=journey.stage,
        valid_until_day=last_valid_day(cheque.millesime, grace),
        redeemed_on=cheque.redeemed_on,
        mediation_structure_id=cheque.mediation_structure_id,
        session_id=cheque.session_id,
    )


@router.get("/structures")
async def list_structures(
    state: State, user: CurrentUser, kind: str | None = None, epci_id: int | None = None
) -> list[s.StructureOut]:
    """Reception structures (kind=reception) and APTIC mediation structures (kind=mediation):
    reference data, for every signed-in user."""
    if kind not in (None, "reception", "mediation"):
        raise ApiError(422, "invalid_input", "Le type doit être « reception » ou « mediation ».")
    code = state.settings.programme_code

    def load(db: Session) -> list[s.StructureOut]:
        out: list[s.StructureOut] = []
        if kind in (None, "reception"):
            out += [
                s.StructureOut(
                    id=r.id, kind="reception", name=r.name, epci_id=r.epci_id, commune=r.commune
                )
                for r in queries.list_reception_structures(db, code, epci_id=epci_id)
            ]
        if kind in (None, "mediation"):
            out += [
                s.StructureOut(
                    id=m.id,
                    kind="mediation",
                    name=m.name,
                    epci_id=m.epci_id,
                    commune=m.commune,
                    aptic_qualified_from=m.aptic_qualified_from,
                    aptic_qualified_until=m.aptic_qualified_until,
                    themes=list(m.themes or []),
                    capacity=m.capacity,
                )
                for m in queries.list_mediation_structures(db, code, epci_id=epci_id)
            ]
        return out

    return await state.db.run(load)
