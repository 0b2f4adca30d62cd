"""Administrators' changes to reference data: APTIC qualification of mediation structures.

Writers only flush; the caller commits.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session

from domain import clock
from records.models import MediationQualification, MediationStructure


class StructureError(ValueError):
    """A refused change; the message is French and names the field (`field`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def set_aptic_qualification(
    session: Session,
    structure: MediationStructure,
    *,
    qualified_from: date,
    qualified_until: date | None,
    account_id: int | None = None,
    source: str = "page",
    at: datetime | None = None,
) -> None:
    """The structure is APTIC-qualified from `qualified_from` to `qualified_until` included
    (None: open-ended). Cheques taken on a day outside are refused from now on. The period
    is appended to the structure's history (`mediation_qualification`): who, when, whence."""
    if qualified_until is not None and qualified_until < qualified_from:
        raise StructureError(
            "qualified_until", "La fin de la qualification ne peut pas précéder son début."
        )
    structure.aptic_qualified_from = qualified_from
    structure.aptic_qualified_until = qualified_until
    session.add(structure)
    session.flush()
    assert structure.id is not None
    session.add(
        MediationQualification(
            mediation_structure_id=structure.id,
            qualified_from=qualified_from,
            qualified_until=qualified_until,
            recorded_at=at or clock.now(),
            account_id=account_id,
            source=source,
        )
    )
    session.flush()
