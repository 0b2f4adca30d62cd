"""JSON API: cheque lookup by serial, and the programme's structures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlmodel import Session

from api import schemas as s
from api.auth import CurrentUser
from api.cheque_service import ChequeService, Lookup
from api.constraints import IdQuery
from api.deps import State
from api.errors import ApiError, error_responses
from api.schemas import SERIAL_PATTERN
from domain.security_codes import ChequeLine
from domain.serials import SerialError
from domain.stages import ChequeStatus
from records import queries

router = APIRouter(prefix="/api/v1", tags=["cheques and structures"])


@router.get(
    "/cheques/{serial}",
    responses={
        401: {"description": "Non authentifié"},
        422: {"description": "Numéro mal formé"},
    },
)
async def lookup_cheque(
    serial: Annotated[str, Path(max_length=40, pattern=SERIAL_PATTERN)],
    state: State,
    user: CurrentUser,
) -> s.ChequeLookup:
    """A cheque's verdict by serial (spaces and dashes allowed): usable, spent, expired,
    cancelled, locked, not yet valid, or unknown. Its details (journey, booklet, session)
    only for whoever may see its journey: a serial alone proves nothing (serials are
    sequential); see `POST /cheques/verify` with the security code."""
    try:
        found = await ChequeService(state, user.programme_code).lookup(user, serial)
    except SerialError as err:
        raise ApiError(422, err.code, err.message) from err
    return _lookup_answer(found)


@router.post(
    "/cheques/verify",
    responses={
        401: {"description": "Non authentifié"},
        422: {"description": "Numéro ou code mal formé"},
    },
)
async def verify_cheque(
    body: s.ChequeVerifyIn, state: State, user: CurrentUser
) -> s.ChequeVerification:
    """Check a cheque with its security code, the person being there with their slip. The
    right code gives the cheque's details (its journey, to log a session there: the person
    may choose any qualified place). A wrong code is counted: too many on one booklet lock
    it and the coordinators are told."""
    service = ChequeService(state, user.programme_code)
    try:
        found = await service.verify(user, ChequeLine(serial=body.serial, code=body.code))
    except SerialError as err:
        raise ApiError(422, err.code, err.message) from err
    verdict = found.code_verdict
    return s.ChequeVerification(
        **_lookup_answer(found).model_dump(),
        code_ok=verdict is not None and verdict.accepted,
        code_message=verdict.message if verdict is not None else None,
    )


def _lookup_answer(found: Lookup) -> s.ChequeLookup:
    cheque, journey = found.cheque, found.journey
    details = None
    if found.revealed and cheque is not None and journey is not None:
        details = s.ChequeDetails(
            status=cheque.status,
            status_label=ChequeStatus(cheque.status).label,
            millesime=cheque.millesime,
            booklet_number=cheque.booklet_number,
            number=cheque.number,
            journey_id=cheque.journey_id,
            journey_stage=journey.stage,
            redeemed_on=cheque.redeemed_on,
            mediation_structure_id=cheque.mediation_structure_id,
            session_id=cheque.session_id,
        )
    return s.ChequeLookup(
        serial=found.serial,
        display=found.display,
        verdict=found.verdict.value,
        verdict_label=found.verdict.label,
        valid_until_day=found.valid_until_day,
        details=details,
    )


@router.get("/structures", responses=error_responses(401, 422))
async def list_structures(
    state: State, user: CurrentUser, kind: s.StructureKind | None = None, epci_id: IdQuery = None
) -> list[s.StructureOut]:
    """Reception structures (kind=reception) and APTIC mediation structures (kind=mediation):
    reference data, for every signed-in user."""
    code = user.programme_code

    def load(db: Session) -> list[s.StructureOut]:
        out: list[s.StructureOut] = []
        if kind in (None, s.StructureKind.RECEPTION):
            out += [
                s.StructureOut(
                    id=r.id,
                    kind=s.StructureKind.RECEPTION,
                    name=r.name,
                    epci_id=r.epci_id,
                    commune=r.commune,
                    active=r.active,
                )
                for r in queries.list_reception_structures(db, code, epci_id=epci_id)
            ]
        if kind in (None, s.StructureKind.MEDIATION):
            out += [
                s.StructureOut(
                    id=m.id,
                    kind=s.StructureKind.MEDIATION,
                    name=m.name,
                    epci_id=m.epci_id,
                    commune=m.commune,
                    aptic_qualified_from=m.aptic_qualified_from,
                    aptic_qualified_until=m.aptic_qualified_until,
                    themes=list(m.themes or []),
                    capacity=m.capacity,
                    active=m.active,
                )
                for m in queries.list_mediation_structures(db, code, epci_id=epci_id)
            ]
        return out

    return await state.db.run(load)
