"""A programme's policy as stored: `programme_policy` (calendar) and the programme's
cheques per booklet, cheque value and grace. `load` builds the domain.policy.JourneyPolicy a
new referral starts its workflow with; `save` writes checked values (flushed, not
committed: the caller's unit of work holds the audit entry too).

Cheque value and grace are read from the programme by the ledger, statements, exports and
pages for cheques already issued: `frozen_fields` says they can no longer change once the
programme has issued a cheque (records.ledger/statements would otherwise value past cheques
at the new amount).
"""

from __future__ import annotations

from sqlmodel import Session, select

from domain.policy import JourneyPolicy, as_values, from_values
from records.models import Cheque, Programme, ProgrammePolicy

# The fields kept on `programme`, not on `programme_policy`.
ON_PROGRAMME = ("grace_months", "cheques_per_booklet", "cheque_value_cents")
# Fixed once the programme has issued a cheque.
FROZEN_ONCE_ISSUED = ("grace_months", "cheque_value_cents")


def _calendar_fields() -> list[str]:
    return [name for name in ProgrammePolicy.model_fields if name != "programme_id"]


def load(session: Session, programme: Programme) -> JourneyPolicy:
    """The programme's policy (its calendar row, or the defaults without one)."""
    values = as_values(JourneyPolicy())
    row = session.get(ProgrammePolicy, programme.id)
    if row is not None:
        values.update({name: getattr(row, name) for name in _calendar_fields()})
    values.update({name: getattr(programme, name) for name in ON_PROGRAMME})
    return from_values(values)


def default_row(programme_id: int) -> ProgrammePolicy:
    """Today's defaults for a new programme."""
    values = as_values(JourneyPolicy())
    return ProgrammePolicy(
        programme_id=programme_id, **{name: values[name] for name in _calendar_fields()}
    )


def has_issued_cheques(session: Session, programme_code: int) -> bool:
    return (
        session.exec(select(Cheque.serial).where(Cheque.programme_code == programme_code)).first()
        is not None
    )


def frozen_fields(session: Session, programme: Programme) -> tuple[str, ...]:
    """The values that can no longer change (see the module docstring)."""
    return FROZEN_ONCE_ISSUED if has_issued_cheques(session, programme.code) else ()


def save(session: Session, programme: Programme, values: dict[str, int]) -> None:
    """Write `values` (checked by domain.policy.policy_problems) as the programme's policy."""
    assert programme.id is not None
    row = session.get(ProgrammePolicy, programme.id)
    if row is None:
        row = default_row(programme.id)
    for name in _calendar_fields():
        setattr(row, name, values[name])
    for name in ON_PROGRAMME:
        setattr(programme, name, values[name])
    session.add(row)
    session.add(programme)
    session.flush()
