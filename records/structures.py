"""Administrators' changes to reference data: APTIC qualification of mediation structures.

Writers only flush; the caller commits.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from records.models import MediationStructure


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
) -> None:
    """The structure is APTIC-qualified from `qualified_from` to `qualified_until` included
    (None: open-ended). Cheques taken on a day outside are refused from now on."""
    if qualified_until is not None and qualified_until < qualified_from:
        raise StructureError(
            "qualified_until", "La fin de la qualification ne peut pas précéder son début."
        )
    structure.aptic_qualified_from = qualified_from
    structure.aptic_qualified_until = qualified_until
    session.add(structure)
    session.flush()
